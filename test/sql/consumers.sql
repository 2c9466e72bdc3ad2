-- Registered consumers (enhanced fan-out): register, describe, list,
-- deregister; 20 per stream; delete_stream refuses a stream with consumers
-- unless enforce_consumer_deletion.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT kinesis.create_stream('cs', 1);

SELECT consumer_name, consumer_status,
       consumer_arn = kinesis.stream_arn('cs') || '/consumer/app-1:' || extract(epoch FROM date_trunc('second', consumer_creation_timestamp))::bigint AS arn_ok,
       consumer_creation_timestamp = now() AS created_now
  FROM kinesis.register_stream_consumer('cs', 'app-1');
SELECT consumer_name FROM kinesis.register_stream_consumer('cs', 'App.2_b');
SELECT consumer_name, consumer_status FROM kinesis.describe_stream_consumer('cs', 'app-1');
SELECT consumer_name, consumer_status FROM kinesis.list_stream_consumers('cs');
SELECT consumer_count FROM kinesis.describe_stream_summary('cs');

-- errors
SELECT sqlerr($$SELECT kinesis.register_stream_consumer('cs', 'app-1')$$);
SELECT sqlerr($$SELECT kinesis.register_stream_consumer('cs', 'bad name')$$);
SELECT sqlerr($$SELECT kinesis.register_stream_consumer('cs', '')$$);
SELECT sqlerr($$SELECT kinesis.register_stream_consumer('cs', repeat('c', 129))$$);
SELECT sqlerr($$SELECT kinesis.register_stream_consumer('cs', NULL)$$);
SELECT sqlerr($$SELECT kinesis.register_stream_consumer('nosuch', 'app')$$);
SELECT sqlerr($$SELECT kinesis.describe_stream_consumer('cs', 'nobody')$$);
SELECT sqlerr($$SELECT kinesis.deregister_stream_consumer('cs', 'nobody')$$);
SELECT sqlerr($$SELECT * FROM kinesis.list_stream_consumers('nosuch')$$);

-- at most 20 per stream; the 21st changes nothing
SELECT count(*) FROM generate_series(3, 20) i, LATERAL kinesis.register_stream_consumer('cs', 'c' || i);
SELECT sqlerr($$SELECT kinesis.register_stream_consumer('cs', 'one-too-many')$$);
SELECT count(*) FROM kinesis.list_stream_consumers('cs');

-- readers register; others cannot, but can see them
CREATE ROLE cs_reader;
CREATE ROLE cs_other;
DO $$ BEGIN
  EXECUTE format('GRANT SELECT ON %s TO cs_reader',
                 (SELECT table_name FROM kinesis.stream_tables WHERE stream_name = 'cs'));
END $$;
SELECT kinesis.deregister_stream_consumer('cs', 'c20');
SET ROLE cs_reader;
SELECT consumer_name FROM kinesis.register_stream_consumer('cs', 'reader-app');
SET ROLE cs_other;
SELECT sqlerr($$SELECT kinesis.register_stream_consumer('cs', 'other-app')$$);
SELECT sqlerr($$SELECT kinesis.deregister_stream_consumer('cs', 'reader-app')$$);
SELECT consumer_status FROM kinesis.describe_stream_consumer('cs', 'reader-app');
RESET ROLE;

-- delete_stream needs enforce_consumer_deletion while consumers exist
SELECT sqlerr($$SELECT kinesis.delete_stream('cs')$$);
SELECT count(*) FROM kinesis.list_streams() WHERE stream_name = 'cs';
SELECT kinesis.deregister_stream_consumer('cs', 'app-1');
SELECT count(*) FROM kinesis.list_stream_consumers('cs');
SELECT kinesis.delete_stream('cs', enforce_consumer_deletion => true);
SELECT count(*) FROM kinesis.consumers;

-- and without consumers it needs nothing
SELECT kinesis.create_stream('cs', 1);
SELECT kinesis.register_stream_consumer('cs', 'app') IS NOT NULL;
SELECT kinesis.deregister_stream_consumer('cs', 'app');
SELECT kinesis.delete_stream('cs');
DROP ROLE cs_reader;
DROP ROLE cs_other;
