-- DROP EXTENSION leaves the shared state of its streams behind, and stream
-- ids start over after CREATE EXTENSION: a new stream must not inherit the
-- state of the old stream with its id (here: a rotated current segment).
\set VERBOSITY terse
CREATE DATABASE kinesis_reinstall;
\c kinesis_reinstall
SET client_min_messages = warning;
CREATE EXTENSION kinesis;
SELECT kinesis.create_stream('ri', 1);
SELECT count(*) FROM kinesis.put_record('ri', 'old', 'k');
SET kinesis.debug_clock_offset = '13h';
SELECT action, count(*) FROM kinesis.run_maintenance() GROUP BY 1;
RESET kinesis.debug_clock_offset;
SELECT count(*) FROM kinesis.put_record('ri', 'old, in segment 1', 'k');
-- the application calls keep their plans for the session: they must find
-- the new tables after the extension is created again
SELECT kinesis.create_application('app', 'ri');
SELECT count(*) FROM kinesis.acquire_leases('app', 'w');
SELECT kinesis.checkpoint('app', shard_id, max(sequence_number), max(lease_token))
  FROM kinesis.consume('app', 'w') GROUP BY shard_id;
DROP EXTENSION kinesis CASCADE;

CREATE EXTENSION kinesis;
SELECT kinesis.create_stream('ri', 1);
SELECT stream_id FROM kinesis.streams;
SELECT shard_id FROM kinesis.put_record('ri', 'new', 'k');
SELECT convert_from(data, 'UTF8') FROM kinesis.read_records('ri', '0');
SELECT segment, count(*) FROM kinesis_data.stream_1 GROUP BY 1;
SELECT kinesis.create_application('app', 'ri');
SELECT count(*) FROM kinesis.acquire_leases('app', 'w');
SELECT shard_id, convert_from(data, 'UTF8') FROM kinesis.consume('app', 'w');
SELECT kinesis.checkpoint('app', shard_id, max(sequence_number), max(lease_token))
  FROM kinesis.consume('app', 'w') GROUP BY shard_id;
SELECT count(*) AS left FROM kinesis.consume('app', 'w');
\c kinesis_regress
DROP DATABASE kinesis_reinstall;
