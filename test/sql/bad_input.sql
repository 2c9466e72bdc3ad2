-- Bad input to the write path gets the documented SQLSTATE and a
-- PostgreSQL-style message, and writes nothing: every refused call below
-- leaves the stream empty, including put_records calls whose other entries
-- were valid.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT kinesis.create_stream('bad', 2);

-- NULLs
SELECT sqlerr($$SELECT * FROM kinesis.put_record(NULL, 'x', 'k')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', NULL, 'k')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', 'x', NULL)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records(NULL, ARRAY['x']::bytea[], ARRAY['k'])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', NULL, ARRAY['k'])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x']::bytea[], NULL)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x', NULL]::bytea[], ARRAY['k', 'k'])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x', 'y']::bytea[], ARRAY['k', NULL])$$);

-- names: empty, too long, bad pattern, unknown
SELECT sqlerr($$SELECT * FROM kinesis.put_record('', 'x', 'k')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record(repeat('b', 129), 'x', 'k')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad/name', 'x', 'k')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad;drop table x', 'x', 'k')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('BAD', 'x', 'k')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('nosuch', ARRAY['x']::bytea[], ARRAY['k'])$$);

-- partition keys: empty, over 256 characters (counted in characters)
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', 'x', '')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', 'x', repeat('k', 257))$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x', 'y']::bytea[], ARRAY['k', ''])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x', 'y']::bytea[], ARRAY['k', repeat('é', 257)])$$);

-- entry counts and array shapes
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY[]::bytea[], ARRAY[]::text[])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad',
    ARRAY(SELECT 'x'::bytea FROM generate_series(1, 501)), ARRAY(SELECT 'k' FROM generate_series(1, 501)))$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x', 'y']::bytea[], ARRAY['k'])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x']::bytea[], ARRAY['k', 'l'])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x', 'y']::bytea[], ARRAY['k', 'l'], ARRAY[1]::numeric[])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY[['x', 'y']]::bytea[], ARRAY[['k', 'l']])$$);

-- sizes: a record over 1 MiB (data plus key), a request over 5 MiB
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', decode(repeat('00', 1048576), 'hex'), 'k')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x'::bytea, decode(repeat('00', 1048575), 'hex')], ARRAY['k', 'kk'])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad',
    ARRAY(SELECT decode(repeat('00', 1000000), 'hex') FROM generate_series(1, 6)), ARRAY(SELECT 'k' FROM generate_series(1, 6)))$$);

-- hash keys and ordering numbers
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', 'x', 'k', 340282366920938463463374607431768211456)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', 'x', 'k', -1)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('bad', ARRAY['x', 'y']::bytea[], ARRAY['k', 'k'], ARRAY[0, 340282366920938463463374607431768211456])$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', 'x', 'k', NULL, 1)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('bad', 'x', 'k', NULL, 99999999999999999999999999999999999999999999999999999999999)$$);

-- none of it wrote anything
SELECT (SELECT count(*) FROM kinesis.read_records('bad', 'shardId-000000000000'))
     + (SELECT count(*) FROM kinesis.read_records('bad', 'shardId-000000000001')) AS records;
SELECT table_name AS t FROM kinesis.stream_tables WHERE stream_name = 'bad' \gset
SELECT count(*) AS rows_in_table FROM :t;

-- the boundaries themselves are accepted: 500 entries, a 5 MiB request,
-- a record of exactly 1 MiB with its key
SELECT count(*) FROM kinesis.put_records('bad',
    ARRAY(SELECT 'x'::bytea FROM generate_series(1, 500)), ARRAY(SELECT 'k' || i FROM generate_series(1, 500) i));
SELECT count(*) FROM kinesis.put_records('bad',
    ARRAY(SELECT decode(repeat('00', 1048575), 'hex') FROM generate_series(1, 5)), ARRAY(SELECT 'k' FROM generate_series(1, 5)));
SELECT count(*) FROM kinesis.put_record('bad', decode(repeat('00', 1048575), 'hex'), 'k');

SELECT kinesis.delete_stream('bad');
