-- Shard iterators: opaque, at most 512 characters, tamper-evident, valid
-- for 5 minutes, and useless once their stream is deleted or re-created.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT kinesis.create_stream('it', 2);
SELECT kinesis.create_stream(repeat('n', 128), 1);
SELECT count(*) FROM kinesis.put_records('it', ARRAY['1', '2', '3']::bytea[], ARRAY['a', 'a', 'a']);

SELECT kinesis.get_shard_iterator('it', 'shardId-000000000000', 'TRIM_HORIZON') AS it \gset
SELECT length(:'it') <= 512 AS short_enough, :'it' ~ '^[A-Za-z0-9+/=]+$' AS base64;
SELECT length(kinesis.get_shard_iterator(repeat('n', 128), 'shardId-000000000000', 'TRIM_HORIZON')) <= 512
    AS longest_name_fits;

-- every single-character change is detected
SELECT count(*) AS variants,
       count(*) FILTER (WHERE sqlerr(format('SELECT kinesis.get_records(%L)',
           overlay(:'it' placing (CASE WHEN substr(:'it', i, 1) = 'A' THEN 'B' ELSE 'A' END) from i for 1)))
           LIKE 'KN003: invalid shard iterator') AS rejected
  FROM generate_series(1, length(:'it') - 2) i;

-- garbage
SELECT sqlerr($$SELECT kinesis.get_records('not an iterator')$$);
SELECT sqlerr($$SELECT kinesis.get_records('AAAA')$$);
SELECT sqlerr($$SELECT kinesis.get_records('')$$);
SELECT sqlerr($$SELECT kinesis.get_records(repeat('A', 513))$$);
SELECT sqlerr($$SELECT kinesis.get_records(NULL)$$);

-- a forged iterator for another stream position is rejected: the MAC key is
-- not readable by ordinary roles
CREATE ROLE kinesis_it_user;
SET ROLE kinesis_it_user;
SELECT sqlerr($$SELECT * FROM kinesis.iterator_secret$$);
RESET ROLE;
DROP ROLE kinesis_it_user;

-- expiry after 300,000 ms, tested by moving the clock that decides expiry
SET kinesis.debug_clock_offset = '299s';
SELECT cardinality(records) FROM kinesis.get_records(:'it');
SET kinesis.debug_clock_offset = '301s';
SELECT sqlerr(format('SELECT kinesis.get_records(%L)', :'it'));
RESET kinesis.debug_clock_offset;
-- the next iterator of a call gets a fresh lifetime
SELECT next_shard_iterator AS it2 FROM kinesis.get_records(:'it') \gset
SET kinesis.debug_clock_offset = '200s';
SELECT next_shard_iterator AS it3 FROM kinesis.get_records(:'it2') \gset
SET kinesis.debug_clock_offset = '450s';
SELECT cardinality(records) FROM kinesis.get_records(:'it3');
SELECT sqlerr(format('SELECT kinesis.get_records(%L)', :'it2'));
RESET kinesis.debug_clock_offset;
-- ordinary roles cannot move the clock
CREATE ROLE kinesis_clock_user;
SET ROLE kinesis_clock_user;
SELECT sqlerr($$SET kinesis.debug_clock_offset = '1h'$$);
RESET ROLE;
DROP ROLE kinesis_clock_user;

-- deleted stream, re-created stream of the same name
SELECT kinesis.get_shard_iterator('it', 'shardId-000000000001', 'LATEST') AS old \gset
SELECT kinesis.delete_stream('it');
SELECT sqlerr(format('SELECT kinesis.get_records(%L)', :'old'));
SELECT kinesis.create_stream('it', 2);
SELECT sqlerr(format('SELECT kinesis.get_records(%L)', :'old'));

-- limits
SELECT sqlerr(format('SELECT kinesis.get_records(%L, 0)', :'it'));
SELECT sqlerr(format('SELECT kinesis.get_records(%L, 10001)', kinesis.get_shard_iterator('it', '0', 'LATEST')));
SELECT sqlerr(format('SELECT kinesis.get_records(%L, NULL)', kinesis.get_shard_iterator('it', '0', 'LATEST')));
SELECT cardinality(records) FROM kinesis.get_records(kinesis.get_shard_iterator('it', '0', 'LATEST'), 10000);

-- iterator type and argument mixes
SELECT sequence_number AS s0 FROM kinesis.put_record('it', 'x', 'k', 0) \gset
SELECT sequence_number AS s1 FROM kinesis.put_record('it', 'x', 'k', 340282366920938463463374607431768211455) \gset
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'AT_SEQUENCE_NUMBER')$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'AFTER_SEQUENCE_NUMBER')$$);
SELECT sqlerr(format('SELECT kinesis.get_shard_iterator(%L, %L, %L, %s)', 'it', '0', 'TRIM_HORIZON', :s0));
SELECT sqlerr(format('SELECT kinesis.get_shard_iterator(%L, %L, %L, %s)', 'it', '0', 'LATEST', :s0));
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'AT_TIMESTAMP')$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'LATEST', NULL, now())$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'AT_TIMESTAMP', NULL, now() + interval '1 minute')$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'SOMEWHERE')$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', NULL)$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', NULL, 'LATEST')$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '7', 'LATEST')$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('nosuch', '0', 'LATEST')$$);
-- sequence numbers of another shard, of a deleted stream, or malformed
SELECT sqlerr(format('SELECT kinesis.get_shard_iterator(%L, %L, %L, %s)', 'it', '0', 'AT_SEQUENCE_NUMBER', :s1));
SELECT sqlerr(format('SELECT kinesis.get_shard_iterator(%L, %L, %L, %s)', 'it', '1', 'AFTER_SEQUENCE_NUMBER', :s0));
SELECT sqlerr(format('SELECT * FROM kinesis.read_records(%L, %L, %s)', 'it', '1', :s0));
-- well-formed numbers of the right shard that it never handed out (the
-- counter, at 2^80, pushed 2^40 microseconds ahead) would position past
-- every future record
SELECT sqlerr(format('SELECT kinesis.get_shard_iterator(%L, %L, %L, %s)', 'it', '0', 'AT_SEQUENCE_NUMBER', :s0 + trunc(2::numeric ^ 120)));
SELECT sqlerr(format('SELECT * FROM kinesis.read_records(%L, %L, %s)', 'it', '0', :s0 + trunc(2::numeric ^ 120)));
SELECT sqlerr(format('SELECT * FROM kinesis.put_record(%L, %L, %L, 0, %s)', 'it', 'x', 'k', :s0 + trunc(2::numeric ^ 120)));
SELECT sqlerr(format('SELECT * FROM kinesis.put_record(%L, %L, %L, NULL, %s)', 'it', 'x', 'k', :s1 + trunc(2::numeric ^ 120)));
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'AT_SEQUENCE_NUMBER', 49600871682957036442365024926191073437251060580128653314)$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'AT_SEQUENCE_NUMBER', 21269319989900637946712965403778482371)$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'AT_SEQUENCE_NUMBER', -5)$$);
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('it', '0', 'AT_SEQUENCE_NUMBER', 1.5)$$);
SELECT sequence_number AS gone FROM kinesis.list_shards('it') l, LATERAL (SELECT l.starting_sequence_number AS sequence_number) s
 WHERE l.shard_id = 'shardId-000000000000' \gset
SELECT kinesis.delete_stream('it');
-- (shard creation times have a resolution of one second)
SELECT pg_sleep(1.1);
SELECT kinesis.create_stream('it', 2);
SELECT sqlerr(format('SELECT kinesis.get_shard_iterator(%L, %L, %L, %s)', 'it', '0', 'AT_SEQUENCE_NUMBER', :gone));

SELECT kinesis.delete_stream(stream_name) FROM kinesis.list_streams();
