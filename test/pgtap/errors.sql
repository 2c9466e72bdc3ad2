-- The SQLSTATEs of API.md's Errors table, per function family, each
-- refusal followed by a check that it wrote nothing: the streams, shards and
-- tags as the API reports them, the tables in kinesis_data and the number
-- of records in every stream table are exactly as before.
--
-- Records are counted in the stream tables themselves (kinesis.stream_tables):
-- read_records and get_records never return records of a transaction that is
-- still writing the shard, and this whole file is one transaction.
--
-- KN005 (throughput) is raised in test/sql/throttling.sql, with exact
-- per-entry results.  KN007 (expired next token) has no raiser: no function
-- takes a pagination token; only its presence in kinesis.error_codes is
-- checked.
BEGIN;
SELECT plan(270);
SET LOCAL client_min_messages = warning;

------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------

-- records in a stream's table, read directly
CREATE FUNCTION pg_temp.records(stream text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t regclass := (SELECT table_name FROM kinesis.stream_tables WHERE stream_name = stream);
    n bigint;
BEGIN
    IF t IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', t) INTO n;
    RETURN n;
END $$;

-- everything a refused call must leave alone
CREATE FUNCTION pg_temp.state() RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'streams', (SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY d.stream_name), '[]')
                      FROM kinesis.list_streams() l,
                           kinesis.describe_stream_summary(l.stream_name) d),
        'shards', (SELECT coalesce(jsonb_agg(jsonb_build_object('stream', l.stream_name) || to_jsonb(s)
                                             ORDER BY l.stream_name, s.shard_id), '[]')
                     FROM kinesis.list_streams() l, kinesis.list_shards(l.stream_name) s),
        'tags', (SELECT coalesce(jsonb_agg(jsonb_build_object('stream', l.stream_name) || to_jsonb(t)
                                           ORDER BY l.stream_name, t.key), '[]')
                   FROM kinesis.list_streams() l, kinesis.list_tags_for_stream(l.stream_name) t),
        'tables', (SELECT count(*) FROM pg_class WHERE relnamespace = 'kinesis_data'::regnamespace),
        'records', (SELECT coalesce(jsonb_object_agg(l.stream_name, pg_temp.records(l.stream_name)), '{}')
                      FROM kinesis.list_streams() l))
$$;

CREATE TEMP TABLE baseline (s jsonb);
INSERT INTO baseline VALUES (NULL);

-- take the state that the next refusals must preserve
CREATE FUNCTION pg_temp.rebase() RETURNS void LANGUAGE sql AS $$
    UPDATE baseline SET s = pg_temp.state();
$$;

-- two tests: sql raises SQLSTATE code (run as role when given), and the
-- state is still the baseline afterwards
CREATE FUNCTION pg_temp.refused(sql text, code text, description text, role text DEFAULT NULL)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    IF role IS NOT NULL THEN
        EXECUTE format('SET LOCAL ROLE %I', role);
    END IF;
    result := throws_ok(sql, code::char(5), NULL, description || ': ' || code);
    IF role IS NOT NULL THEN
        RESET ROLE;
    END IF;
    RETURN NEXT result;
    RETURN NEXT is(pg_temp.state(), (SELECT s FROM baseline), description || ': nothing written');
END $$;

------------------------------------------------------------------------
-- Setup: a stream with two shards, a tag and one record in each shard
------------------------------------------------------------------------

SELECT lives_ok($$SELECT kinesis.create_stream('tap_err', 2, retention_period_hours => 48,
                                               tags => '{"team": "tap"}')$$,
    'create stream tap_err');
SELECT sequence_number AS seq0
  FROM kinesis.put_record('tap_err', 'zero', 'k0', 0) \gset
SELECT sequence_number AS seq1
  FROM kinesis.put_record('tap_err', 'one', 'k1', 340282366920938463463374607431768211455) \gset
SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'TRIM_HORIZON') AS it \gset
-- the same iterator with one character changed
SELECT overlay(:'it' PLACING (CASE WHEN substr(:'it', 30, 1) = 'A' THEN 'B' ELSE 'A' END) FROM 30 FOR 1)
       AS bad_it \gset
SELECT is(pg_temp.records('tap_err'), 2::bigint, 'tap_err holds 2 records');
SELECT pg_temp.rebase();

------------------------------------------------------------------------
-- The catalogue: KN005 and KN007 exist
------------------------------------------------------------------------

SELECT is((SELECT exception_name FROM kinesis.error_codes WHERE sqlstate = 'KN005'),
    'ProvisionedThroughputExceededException', 'KN005 is ProvisionedThroughputExceededException');
SELECT is((SELECT exception_name FROM kinesis.error_codes WHERE sqlstate = 'KN007'),
    'ExpiredNextTokenException', 'KN007 is ExpiredNextTokenException');

------------------------------------------------------------------------
-- KN001 ResourceNotFoundException
------------------------------------------------------------------------

SELECT pg_temp.refused($$SELECT kinesis.delete_stream('tap_err_nosuch')$$, 'KN001',
    'delete_stream of a missing stream');
SELECT pg_temp.refused($$SELECT * FROM kinesis.describe_stream_summary('tap_err_nosuch')$$, 'KN001',
    'describe_stream_summary of a missing stream');
SELECT pg_temp.refused($$SELECT * FROM kinesis.list_shards('tap_err_nosuch')$$, 'KN001',
    'list_shards of a missing stream');
SELECT pg_temp.refused($$SELECT * FROM kinesis.list_tags_for_stream('tap_err_nosuch')$$, 'KN001',
    'list_tags_for_stream of a missing stream');
SELECT pg_temp.refused($$SELECT kinesis.increase_stream_retention_period('tap_err_nosuch', 72)$$, 'KN001',
    'increase_stream_retention_period of a missing stream');
SELECT pg_temp.refused($$SELECT kinesis.decrease_stream_retention_period('tap_err_nosuch', 24)$$, 'KN001',
    'decrease_stream_retention_period of a missing stream');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err_nosuch', '{"a": "b"}')$$, 'KN001',
    'add_tags_to_stream of a missing stream');
SELECT pg_temp.refused($$SELECT kinesis.remove_tags_from_stream('tap_err_nosuch', ARRAY['team'])$$, 'KN001',
    'remove_tags_from_stream of a missing stream');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err_nosuch', 'x', 'k')$$, 'KN001',
    'put_record to a missing stream');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err_nosuch', ARRAY['x']::bytea[], ARRAY['k'])$$, 'KN001',
    'put_records to a missing stream');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err_nosuch', 'shardId-000000000000', 'TRIM_HORIZON')$$, 'KN001',
    'get_shard_iterator of a missing stream');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000002', 'TRIM_HORIZON')$$, 'KN001',
    'get_shard_iterator of a missing shard');
SELECT pg_temp.refused($$SELECT * FROM kinesis.read_records('tap_err_nosuch', 'shardId-000000000000')$$, 'KN001',
    'read_records of a missing stream');
SELECT pg_temp.refused($$SELECT * FROM kinesis.read_records('tap_err', 'shardId-000000000002')$$, 'KN001',
    'read_records of a missing shard');

-- get_records with the iterator of a deleted, then re-created stream
SELECT lives_ok($$SELECT kinesis.create_stream('tap_err_gone', 1)$$, 'create stream tap_err_gone');
SELECT kinesis.get_shard_iterator('tap_err_gone', 'shardId-000000000000', 'TRIM_HORIZON') AS gone_it \gset
SELECT lives_ok($$SELECT kinesis.delete_stream('tap_err_gone')$$, 'delete stream tap_err_gone');
SELECT pg_temp.rebase();
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L)', :'gone_it'), 'KN001',
    'get_records with the iterator of a deleted stream');
SELECT lives_ok($$SELECT kinesis.create_stream('tap_err_gone', 1)$$, 'create stream tap_err_gone again');
SELECT pg_temp.rebase();
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L)', :'gone_it'), 'KN001',
    'get_records with the iterator of a re-created stream');
SELECT lives_ok($$SELECT kinesis.delete_stream('tap_err_gone')$$, 'delete stream tap_err_gone again');
SELECT pg_temp.rebase();

------------------------------------------------------------------------
-- KN002 ResourceInUseException
------------------------------------------------------------------------

SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err', 3)$$, 'KN002',
    'create_stream with a name in use');
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err', stream_mode => 'ON_DEMAND')$$, 'KN002',
    'create_stream ON_DEMAND with a name in use');

-- retention changes need an ACTIVE stream; no API call leaves a stream in
-- another state yet, so the catalog row is switched for the test
UPDATE kinesis.streams SET stream_status = 'UPDATING' WHERE stream_name = 'tap_err';
SELECT pg_temp.rebase();
SELECT pg_temp.refused($$SELECT kinesis.increase_stream_retention_period('tap_err', 72)$$, 'KN002',
    'increase_stream_retention_period of a stream that is not ACTIVE');
SELECT pg_temp.refused($$SELECT kinesis.decrease_stream_retention_period('tap_err', 24)$$, 'KN002',
    'decrease_stream_retention_period of a stream that is not ACTIVE');
UPDATE kinesis.streams SET stream_status = 'ACTIVE' WHERE stream_name = 'tap_err';
SELECT pg_temp.rebase();

------------------------------------------------------------------------
-- KN003 InvalidArgumentException
------------------------------------------------------------------------

-- create_stream
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_new', 1, retention_period_hours => 23)$$, 'KN003',
    'create_stream with a retention period under 24 hours');
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_new', 1, tags => '{"aws:x": "y"}')$$, 'KN003',
    'create_stream with a reserved tag key');

-- list_shards
SELECT pg_temp.refused($$SELECT * FROM kinesis.list_shards('tap_err', 'AFTER_SHARD_ID')$$, 'KN003',
    'list_shards AFTER_SHARD_ID without a shard id');
SELECT pg_temp.refused($$SELECT * FROM kinesis.list_shards('tap_err', 'AT_TIMESTAMP', NULL, now() + interval '1 day')$$, 'KN003',
    'list_shards with a timestamp in the future');

-- retention
SELECT pg_temp.refused($$SELECT kinesis.increase_stream_retention_period('tap_err', 24)$$, 'KN003',
    'increase_stream_retention_period below the current period');
SELECT pg_temp.refused($$SELECT kinesis.decrease_stream_retention_period('tap_err', 72)$$, 'KN003',
    'decrease_stream_retention_period above the current period');
SELECT pg_temp.refused($$SELECT kinesis.increase_stream_retention_period('tap_err', 8761)$$, 'KN003',
    'increase_stream_retention_period beyond 8760 hours');
SELECT pg_temp.refused($$SELECT kinesis.decrease_stream_retention_period('tap_err', 23)$$, 'KN003',
    'decrease_stream_retention_period under 24 hours');

-- tags
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', '{"aws:secret": "x"}')$$, 'KN003',
    'add_tags_to_stream with a reserved tag key');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', '{"ok": "fine", "bad<char>": "x"}')$$, 'KN003',
    'add_tags_to_stream with invalid characters');

-- put_record and put_records
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', 'x', 'k', 340282366920938463463374607431768211456)$$, 'KN003',
    'put_record with an explicit hash key of 2^128');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', 'x', 'k', NULL, 12345)$$, 'KN003',
    'put_record with an invalid sequence_number_for_ordering');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', ARRAY['x', 'y']::bytea[], ARRAY['k', 'k'],
                                                           ARRAY[0, 340282366920938463463374607431768211456])$$, 'KN003',
    'put_records with one explicit hash key out of range');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err',
                           ARRAY(SELECT decode(repeat('ab', 1000000), 'hex') FROM generate_series(1, 6)),
                           array_fill('k'::text, ARRAY[6]))$$, 'KN003',
    'put_records of more than 5 MiB');

-- get_shard_iterator
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'AT_SEQUENCE_NUMBER')$$, 'KN003',
    'get_shard_iterator AT_SEQUENCE_NUMBER without a sequence number');
SELECT pg_temp.refused(format('SELECT kinesis.get_shard_iterator(%L, %L, %L, %s)',
                              'tap_err', 'shardId-000000000000', 'TRIM_HORIZON', :seq0), 'KN003',
    'get_shard_iterator TRIM_HORIZON with a sequence number');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'AT_TIMESTAMP')$$, 'KN003',
    'get_shard_iterator AT_TIMESTAMP without a timestamp');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'LATEST', NULL, now())$$, 'KN003',
    'get_shard_iterator LATEST with a timestamp');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'AT_TIMESTAMP', NULL, now() + interval '1 hour')$$, 'KN003',
    'get_shard_iterator AT_TIMESTAMP in the future');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'AT_SEQUENCE_NUMBER', 12345)$$, 'KN003',
    'get_shard_iterator with a malformed sequence number');
SELECT pg_temp.refused(format('SELECT kinesis.get_shard_iterator(%L, %L, %L, %s)',
                              'tap_err', 'shardId-000000000000', 'AFTER_SEQUENCE_NUMBER', :seq1), 'KN003',
    'get_shard_iterator with a sequence number of another shard');

-- get_records
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L)', :'bad_it'), 'KN003',
    'get_records with a tampered iterator');
SELECT pg_temp.refused($$SELECT * FROM kinesis.get_records('not an iterator')$$, 'KN003',
    'get_records with a made-up iterator');

-- read_records
SELECT pg_temp.refused($$SELECT * FROM kinesis.read_records('tap_err', 'shardId-000000000000', 12345)$$, 'KN003',
    'read_records after a malformed sequence number');
SELECT pg_temp.refused(format('SELECT * FROM kinesis.read_records(%L, %L, %s)',
                              'tap_err', 'shardId-000000000000', :seq1), 'KN003',
    'read_records after a sequence number of another shard');

------------------------------------------------------------------------
-- KN004 LimitExceededException (the data plane's case is at the end)
------------------------------------------------------------------------

SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_new', 100000)$$, 'KN004',
    'create_stream beyond the shard limit');
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_new', 1, tags =>
                           (SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 51) i))$$, 'KN004',
    'create_stream with 51 tags');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err',
                           (SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 50) i))$$, 'KN004',
    'add_tags_to_stream beyond 50 tags');

------------------------------------------------------------------------
-- KN006 ExpiredIteratorException: iterators live 5 minutes
------------------------------------------------------------------------

SET LOCAL kinesis.debug_clock_offset = 299;
SELECT lives_ok(format('SELECT * FROM kinesis.get_records(%L)', :'it'),
    'get_records accepts an iterator 299 seconds old');
SET LOCAL kinesis.debug_clock_offset = 301;
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L)', :'it'), 'KN006',
    'get_records with an iterator 301 seconds old');
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L, 1)', :'it'), 'KN006',
    'get_records with an iterator 301 seconds old and a limit');
SET LOCAL kinesis.debug_clock_offset = 0;
SELECT lives_ok(format('SELECT * FROM kinesis.get_records(%L)', :'it'),
    'the iterator is accepted again on the real clock');

------------------------------------------------------------------------
-- KN008 ValidationException
------------------------------------------------------------------------

-- create_stream
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap err', 1)$$, 'KN008',
    'create_stream with a space in the name');
SELECT pg_temp.refused($$SELECT kinesis.create_stream('', 1)$$, 'KN008',
    'create_stream with an empty name');
SELECT pg_temp.refused($$SELECT kinesis.create_stream(repeat('t', 129), 1)$$, 'KN008',
    'create_stream with a name of 129 characters');
SELECT pg_temp.refused($$SELECT kinesis.create_stream(NULL, 1)$$, 'KN008',
    'create_stream with a NULL name');
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_new')$$, 'KN008',
    'create_stream PROVISIONED without shard_count');
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_new', 0)$$, 'KN008',
    'create_stream with 0 shards');
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_new', 1, 'SOMETIMES')$$, 'KN008',
    'create_stream with an unknown stream mode');
SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_new', 1, tags => '{"n": 1}')$$, 'KN008',
    'create_stream with a tag value that is not a string');

-- delete_stream
SELECT pg_temp.refused($$SELECT kinesis.delete_stream('tap err')$$, 'KN008',
    'delete_stream with an invalid name');
SELECT pg_temp.refused($$SELECT kinesis.delete_stream(NULL)$$, 'KN008',
    'delete_stream with a NULL name');
SELECT pg_temp.refused($$SELECT kinesis.delete_stream('tap_err', NULL)$$, 'KN008',
    'delete_stream with a NULL enforce_consumer_deletion');

-- describe and list
SELECT pg_temp.refused($$SELECT * FROM kinesis.describe_stream_summary('tap err')$$, 'KN008',
    'describe_stream_summary with an invalid name');
SELECT pg_temp.refused($$SELECT * FROM kinesis.describe_stream_summary(NULL)$$, 'KN008',
    'describe_stream_summary with a NULL name');
SELECT pg_temp.refused($$SELECT * FROM kinesis.list_shards('tap_err', 'SOMEWHERE')$$, 'KN008',
    'list_shards with an unknown filter type');
SELECT pg_temp.refused($$SELECT * FROM kinesis.list_tags_for_stream(repeat('t', 129))$$, 'KN008',
    'list_tags_for_stream with an invalid name');

-- retention
SELECT pg_temp.refused($$SELECT kinesis.increase_stream_retention_period('tap_err', NULL)$$, 'KN008',
    'increase_stream_retention_period with NULL hours');
SELECT pg_temp.refused($$SELECT kinesis.decrease_stream_retention_period('tap err', 24)$$, 'KN008',
    'decrease_stream_retention_period with an invalid name');

-- tags
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', '{}')$$, 'KN008',
    'add_tags_to_stream with no tags');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', '["a"]')$$, 'KN008',
    'add_tags_to_stream with a JSON array');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', '{"ok": "fine", "n": 1}')$$, 'KN008',
    'add_tags_to_stream with a tag value that is not a string');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', jsonb_build_object('k', repeat('v', 257)))$$, 'KN008',
    'add_tags_to_stream with a value of 257 characters');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', NULL)$$, 'KN008',
    'add_tags_to_stream with NULL tags');
SELECT pg_temp.refused($$SELECT kinesis.remove_tags_from_stream('tap_err', ARRAY[]::text[])$$, 'KN008',
    'remove_tags_from_stream with no keys');
SELECT pg_temp.refused($$SELECT kinesis.remove_tags_from_stream('tap_err', ARRAY['team', NULL])$$, 'KN008',
    'remove_tags_from_stream with a NULL key');

-- put_record
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', 'x', '')$$, 'KN008',
    'put_record with an empty partition key');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', 'x', repeat('k', 257))$$, 'KN008',
    'put_record with a partition key of 257 characters');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', NULL, 'k')$$, 'KN008',
    'put_record with NULL data');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', 'x', NULL)$$, 'KN008',
    'put_record with a NULL partition key');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record(NULL, 'x', 'k')$$, 'KN008',
    'put_record with a NULL stream name');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', decode(repeat('ab', 1048576), 'hex'), 'k')$$, 'KN008',
    'put_record of more than 1 MiB');

-- put_records: a validation error in any entry fails the whole call
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', ARRAY['x', 'y', 'z']::bytea[], ARRAY['a', '', 'c'])$$, 'KN008',
    'put_records with one empty partition key');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', ARRAY['x', NULL]::bytea[], ARRAY['a', 'b'])$$, 'KN008',
    'put_records with one NULL data');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', ARRAY['x', 'y']::bytea[], ARRAY['a'])$$, 'KN008',
    'put_records with arrays of different lengths');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', ARRAY[]::bytea[], ARRAY[]::text[])$$, 'KN008',
    'put_records with no records');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', array_fill('x'::bytea, ARRAY[501]),
                                                           array_fill('k'::text, ARRAY[501]))$$, 'KN008',
    'put_records with 501 records');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', ARRAY['x', 'y']::bytea[], ARRAY['a', 'b'],
                                                           ARRAY[0, 1, 2])$$, 'KN008',
    'put_records with too many explicit hash keys');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', ARRAY['x', 'y']::bytea[], ARRAY['a', 'b'],
                                                           ARRAY[0, 1.5])$$, 'KN008',
    'put_records with a fractional explicit hash key');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err',
                           ARRAY['x'::bytea, decode(repeat('ab', 1048576), 'hex')], ARRAY['a', 'b'])$$, 'KN008',
    'put_records with one record of more than 1 MiB');

-- get_shard_iterator
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'SOMEWHERE')$$, 'KN008',
    'get_shard_iterator with an unknown iterator type');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', NULL, 'TRIM_HORIZON')$$, 'KN008',
    'get_shard_iterator with a NULL shard id');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', NULL)$$, 'KN008',
    'get_shard_iterator with a NULL iterator type');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap err', 'shardId-000000000000', 'TRIM_HORIZON')$$, 'KN008',
    'get_shard_iterator with an invalid stream name');

-- get_records
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L, 0)', :'it'), 'KN008',
    'get_records with limit 0');
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L, 10001)', :'it'), 'KN008',
    'get_records with limit 10001');
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L, NULL)', :'it'), 'KN008',
    'get_records with a NULL limit');
SELECT pg_temp.refused($$SELECT * FROM kinesis.get_records(NULL)$$, 'KN008',
    'get_records with a NULL iterator');
SELECT pg_temp.refused($$SELECT * FROM kinesis.get_records(repeat('A', 513))$$, 'KN008',
    'get_records with an iterator of 513 characters');

-- read_records
SELECT pg_temp.refused($$SELECT * FROM kinesis.read_records('tap_err', 'shardId-000000000000', NULL, 0)$$, 'KN008',
    'read_records with limit 0');
SELECT pg_temp.refused($$SELECT * FROM kinesis.read_records('tap_err', 'shardId-000000000000', NULL, 10001)$$, 'KN008',
    'read_records with limit 10001');
SELECT pg_temp.refused($$SELECT * FROM kinesis.read_records('tap_err', NULL)$$, 'KN008',
    'read_records with a NULL shard id');
SELECT pg_temp.refused($$SELECT * FROM kinesis.read_records('tap err', 'shardId-000000000000')$$, 'KN008',
    'read_records with an invalid stream name');

-- estimate_shards
SELECT pg_temp.refused($$SELECT * FROM kinesis.estimate_shards(NULL, 1, 1)$$, 'KN008',
    'estimate_shards with a NULL argument');
SELECT pg_temp.refused($$SELECT * FROM kinesis.estimate_shards(1, 1, -1)$$, 'KN008',
    'estimate_shards with a negative argument');

------------------------------------------------------------------------
-- 42501 insufficient privilege
------------------------------------------------------------------------

CREATE ROLE kinesis_tap_nobody;

SELECT pg_temp.refused($$SELECT kinesis.create_stream('tap_err_mine', 1)$$, '42501',
    'create_stream without CREATE on kinesis_data', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT kinesis.delete_stream('tap_err')$$, '42501',
    'delete_stream of a stream owned by another role', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT kinesis.increase_stream_retention_period('tap_err', 72)$$, '42501',
    'increase_stream_retention_period of a stream owned by another role', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT kinesis.decrease_stream_retention_period('tap_err', 24)$$, '42501',
    'decrease_stream_retention_period of a stream owned by another role', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', '{"a": "b"}')$$, '42501',
    'add_tags_to_stream of a stream owned by another role', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT kinesis.remove_tags_from_stream('tap_err', ARRAY['team'])$$, '42501',
    'remove_tags_from_stream of a stream owned by another role', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', 'x', 'k')$$, '42501',
    'put_record without INSERT', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_records('tap_err', ARRAY['x']::bytea[], ARRAY['k'])$$, '42501',
    'put_records without INSERT', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'TRIM_HORIZON')$$, '42501',
    'get_shard_iterator without SELECT', 'kinesis_tap_nobody');
SELECT pg_temp.refused(format('SELECT * FROM kinesis.get_records(%L)', :'it'), '42501',
    'get_records without SELECT', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT * FROM kinesis.read_records('tap_err', 'shardId-000000000000')$$, '42501',
    'read_records without SELECT', 'kinesis_tap_nobody');

-- SELECT on the stream's table allows reading, not writing
SELECT lives_ok(format('GRANT SELECT ON %s TO kinesis_tap_nobody',
                       (SELECT table_name FROM kinesis.stream_tables WHERE stream_name = 'tap_err')),
    'grant SELECT on the table of tap_err');
SET LOCAL ROLE kinesis_tap_nobody;
SELECT lives_ok($$SELECT kinesis.get_shard_iterator('tap_err', 'shardId-000000000000', 'TRIM_HORIZON')$$,
    'get_shard_iterator with SELECT');
SELECT lives_ok(format('SELECT * FROM kinesis.get_records(%L)', :'it'),
    'get_records with SELECT');
SELECT lives_ok($$SELECT * FROM kinesis.read_records('tap_err', 'shardId-000000000001')$$,
    'read_records with SELECT');
RESET ROLE;
SELECT pg_temp.refused($$SELECT * FROM kinesis.put_record('tap_err', 'x', 'k')$$, '42501',
    'put_record with SELECT only', 'kinesis_tap_nobody');

-- INSERT allows writing, not managing the stream
SELECT lives_ok(format('GRANT INSERT ON %s TO kinesis_tap_nobody',
                       (SELECT table_name FROM kinesis.stream_tables WHERE stream_name = 'tap_err')),
    'grant INSERT on the table of tap_err');
SET LOCAL ROLE kinesis_tap_nobody;
SELECT lives_ok($$SELECT * FROM kinesis.put_record('tap_err', 'x', 'k')$$,
    'put_record with INSERT');
SELECT lives_ok($$SELECT * FROM kinesis.put_records('tap_err', ARRAY['x', 'y']::bytea[], ARRAY['k', 'l'])$$,
    'put_records with INSERT');
RESET ROLE;
SELECT is(pg_temp.records('tap_err'), 5::bigint, 'the granted role wrote 3 records');
SELECT pg_temp.rebase();
SELECT pg_temp.refused($$SELECT kinesis.delete_stream('tap_err')$$, '42501',
    'delete_stream with INSERT and SELECT', 'kinesis_tap_nobody');
SELECT pg_temp.refused($$SELECT kinesis.add_tags_to_stream('tap_err', '{"a": "b"}')$$, '42501',
    'add_tags_to_stream with INSERT and SELECT', 'kinesis_tap_nobody');

-- CREATE on kinesis_data allows creating streams, which the role then owns
GRANT CREATE ON SCHEMA kinesis_data TO kinesis_tap_nobody;
SET LOCAL ROLE kinesis_tap_nobody;
SELECT lives_ok($$SELECT kinesis.create_stream('tap_err_mine', 1)$$,
    'create_stream with CREATE on kinesis_data');
RESET ROLE;
SELECT is((SELECT pg_get_userbyid(c.relowner)::text FROM kinesis.stream_tables t JOIN pg_class c ON c.oid = t.table_name
            WHERE t.stream_name = 'tap_err_mine'),
    'kinesis_tap_nobody', 'the table of the new stream belongs to its creator');
SET LOCAL ROLE kinesis_tap_nobody;
SELECT lives_ok($$SELECT kinesis.add_tags_to_stream('tap_err_mine', '{"a": "b"}')$$,
    'the creator tags its stream');
SELECT lives_ok($$SELECT kinesis.increase_stream_retention_period('tap_err_mine', 72)$$,
    'the creator changes the retention of its stream');
SELECT lives_ok($$SELECT * FROM kinesis.put_record('tap_err_mine', 'x', 'k')$$,
    'the creator writes to its stream');
RESET ROLE;
SELECT pg_temp.rebase();

------------------------------------------------------------------------
-- KN004 in the data plane: one transaction writes at most
-- kinesis.max_shards_per_transaction distinct shards (1024 by default).
-- Creating the stream of 1025 shards takes several seconds.
------------------------------------------------------------------------

-- distinct shards with records in a stream's table: all of them were
-- written by this transaction
CREATE FUNCTION pg_temp.shards_written(stream text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE format('SELECT count(DISTINCT tableoid) FROM %s',
                   (SELECT table_name FROM kinesis.stream_tables WHERE stream_name = stream)) INTO n;
    RETURN n;
END $$;

-- write one record into each shard of a stream in shard order until the
-- transaction may write no more shards; the number of shards written
CREATE FUNCTION pg_temp.fill(stream text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    k numeric;
    n int := 0;
BEGIN
    FOR k IN SELECT starting_hash_key FROM kinesis.list_shards(stream) ORDER BY shard_id LOOP
        BEGIN
            PERFORM * FROM kinesis.put_record(stream, 'x', 'k', k);
        EXCEPTION WHEN SQLSTATE 'KN004' THEN
            RETURN n;
        END;
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;

SELECT current_setting('kinesis.max_shards_per_transaction')::int AS xact_shards,
       (SELECT sum(pg_temp.shards_written(stream_name)) FROM kinesis.list_streams()) AS written_before \gset
SELECT lives_ok(format('SELECT kinesis.create_stream(%L, %s)', 'tap_err_wide', :xact_shards + 1),
    'create stream tap_err_wide with one shard more than a transaction can write');
SELECT pg_temp.fill('tap_err_wide') AS wide_written \gset
SELECT ok(:wide_written + :written_before <= :xact_shards,
    'put_record refuses before the transaction writes more than kinesis.max_shards_per_transaction shards');
SELECT ok(:wide_written >= :xact_shards - 16,
    'put_record refuses only near kinesis.max_shards_per_transaction shards');
SELECT is(pg_temp.records('tap_err_wide'), :wide_written::bigint,
    'one record in each shard written');
SELECT starting_hash_key AS wide_next
  FROM kinesis.list_shards('tap_err_wide') ORDER BY shard_id OFFSET :wide_written LIMIT 1 \gset
SELECT pg_temp.rebase();
SELECT pg_temp.refused(format('SELECT * FROM kinesis.put_record(%L, %L, %L, %s)',
                              'tap_err_wide', 'x', 'k', :wide_next), 'KN004',
    'put_record to one shard too many in one transaction');
SELECT pg_temp.refused(format('SELECT * FROM kinesis.put_records(%L, ARRAY[%L, %L]::bytea[], ARRAY[%L, %L], ARRAY[0, %s])',
                              'tap_err_wide', 'x', 'y', 'k', 'k', :wide_next), 'KN004',
    'put_records to one shard too many in one transaction');
SELECT lives_ok($$SELECT * FROM kinesis.put_record('tap_err_wide', 'x', 'k', 0)$$,
    'the shards already written still take records');

------------------------------------------------------------------------
-- Cleanup
------------------------------------------------------------------------

SET LOCAL ROLE kinesis_tap_nobody;
SELECT lives_ok($$SELECT kinesis.delete_stream('tap_err_mine')$$,
    'the creator deletes its stream');
RESET ROLE;
SELECT lives_ok($$SELECT kinesis.delete_stream('tap_err_wide')$$, 'delete stream tap_err_wide');
SELECT lives_ok($$SELECT kinesis.delete_stream('tap_err')$$, 'delete stream tap_err');
SELECT is_empty($$SELECT stream_name FROM kinesis.list_streams() WHERE stream_name LIKE 'tap\_err%'$$,
    'no stream of this file is left');

SELECT * FROM finish();
ROLLBACK;
