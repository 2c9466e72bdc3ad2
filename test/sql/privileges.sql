-- Privileges: a stream's table belongs to the role that created the stream;
-- writing needs INSERT on it, reading needs SELECT, changing or deleting the
-- stream needs ownership, creating streams needs CREATE on kinesis_data.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE ROLE k_owner;
CREATE ROLE k_writer;
CREATE ROLE k_reader;
CREATE ROLE k_nobody;

-- creating streams needs CREATE on schema kinesis_data
SET ROLE k_owner;
SELECT sqlerr($$SELECT kinesis.create_stream('priv', 1)$$);
RESET ROLE;
SELECT count(*) AS streams FROM kinesis.streams;
GRANT CREATE ON SCHEMA kinesis_data TO k_owner;
SET ROLE k_owner;
SELECT kinesis.create_stream('priv', 1);
SELECT 1 FROM kinesis.put_record('priv', 'by owner', 'o');
RESET ROLE;
SELECT tableowner FROM pg_tables WHERE schemaname = 'kinesis_data' ORDER BY tablename;

-- without grants other roles can list but neither write nor read
SET ROLE k_nobody;
SELECT stream_name FROM kinesis.list_streams();
SELECT count(*) FROM kinesis.list_shards('priv');
SELECT sqlerr($$SELECT * FROM kinesis.put_record('priv', 'x', 'n')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('priv', ARRAY['x']::bytea[], ARRAY['n'])$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('priv', '0', 'TRIM_HORIZON')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.read_records('priv', '0')$$);
SELECT sqlerr($$SELECT kinesis.delete_stream('priv')$$);
SELECT sqlerr($$SELECT kinesis.increase_stream_retention_period('priv', 48)$$);
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('priv', '{"a": "b"}')$$);
SELECT sqlerr($$SELECT kinesis.remove_tags_from_stream('priv', ARRAY['a'])$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.iterator_secret$$);
SELECT sqlerr($$INSERT INTO kinesis.streams (stream_name, stream_status, stream_mode, retention_period_hours, created_at, next_shard_index) VALUES ('x', 'ACTIVE', 'PROVISIONED', 24, now(), 0)$$);
RESET ROLE;
SELECT count(*) AS records FROM kinesis.read_records('priv', '0');
SELECT retention_period_hours FROM kinesis.describe_stream_summary('priv');

-- the owner grants INSERT to the writer and SELECT to the reader
SET ROLE k_owner;
DO $$
DECLARE
    t regclass := (SELECT table_name FROM kinesis.stream_tables WHERE stream_name = 'priv');
BEGIN
    EXECUTE format('GRANT INSERT ON %s TO k_writer', t);
    EXECUTE format('GRANT SELECT ON %s TO k_reader', t);
END $$;
RESET ROLE;

SET ROLE k_writer;
SELECT shard_id FROM kinesis.put_record('priv', 'by writer', 'w');
SELECT count(*) FROM kinesis.put_records('priv', ARRAY['1', '2']::bytea[], ARRAY['w', 'w']);
SELECT sqlerr($$SELECT count(*) FROM kinesis.read_records('priv', '0')$$);
RESET ROLE;

SET ROLE k_reader;
SELECT partition_key, convert_from(data, 'UTF8') FROM kinesis.read_records('priv', '0');
SELECT cardinality(records) FROM kinesis.get_records(kinesis.get_shard_iterator('priv', '0', 'TRIM_HORIZON'));
SELECT sqlerr($$SELECT * FROM kinesis.put_record('priv', 'x', 'r')$$);
RESET ROLE;

-- statements that run as the extension owner ignore the caller's
-- search_path: a function planted to shadow a built-in is never called
CREATE SCHEMA k_evil AUTHORIZATION k_owner;
SET ROLE k_owner;
CREATE FUNCTION k_evil.eq(bigint, bigint) RETURNS boolean
    LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hijacked as %', current_user; END $$;
CREATE OPERATOR k_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = k_evil.eq);
SET search_path = k_evil, pg_catalog, public;
SELECT kinesis.add_tags_to_stream('priv', '{"safe": "yes"}');
SELECT kinesis.remove_tags_from_stream('priv', ARRAY['safe']);
RESET search_path;
RESET ROLE;
DROP SCHEMA k_evil CASCADE;

-- only the owner (or a superuser) changes and deletes the stream
SET ROLE k_owner;
SELECT kinesis.increase_stream_retention_period('priv', 48);
SELECT kinesis.add_tags_to_stream('priv', '{"a": "b"}');
SELECT kinesis.delete_stream('priv');
RESET ROLE;

REVOKE CREATE ON SCHEMA kinesis_data FROM k_owner;
DROP ROLE k_owner, k_writer, k_reader, k_nobody;
SELECT count(*) AS streams FROM kinesis.streams;
