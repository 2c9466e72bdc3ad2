-- The data plane: put_record, put_records, get_shard_iterator, get_records,
-- read_records.  Sequence numbers differ from run to run, so the tests
-- compare them instead of printing them.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT kinesis.create_stream('pg', 2);

-- put_record returns the shard and a 56-digit sequence number
CREATE TEMP TABLE puts AS
SELECT 1 AS n, * FROM kinesis.put_record('pg', 'first', 'a');
SELECT shard_id, length(sequence_number::text) FROM puts;

-- put_records: one row per entry in request order; per shard, sequence
-- numbers grow in request order
INSERT INTO puts
SELECT 1 + ordinality, shard_id, sequence_number
  FROM kinesis.put_records('pg',
        ARRAY(SELECT ('r' || i)::bytea FROM generate_series(1, 20) i),
        ARRAY(SELECT 'k' || (i % 5) FROM generate_series(1, 20) i))
 WHERE error_code IS NULL AND error_message IS NULL;
SELECT count(*), count(DISTINCT sequence_number) FROM puts;
SELECT shard_id, bool_and(increasing) AS increasing_in_request_order
  FROM (SELECT shard_id, sequence_number > lag(sequence_number, 1, 0) OVER (PARTITION BY shard_id ORDER BY n) AS increasing
          FROM puts) s
 GROUP BY shard_id ORDER BY shard_id;

-- sequence numbers are unique across the stream: the shard index is part of them
SELECT count(DISTINCT sequence_number) = count(*) FROM puts;

-- read_records returns a shard's records in sequence order
SELECT partition_key, convert_from(data, 'UTF8') AS data
  FROM kinesis.read_records('pg', 'shardId-000000000000');
SELECT count(*) FROM kinesis.read_records('pg', 'shardId-000000000001');
SELECT bool_and(r.sequence_number = p.sequence_number) AS same_numbers_as_put, count(*)
  FROM kinesis.read_records('pg', 'shardId-000000000001') WITH ORDINALITY r
  JOIN (SELECT sequence_number, row_number() OVER (ORDER BY sequence_number) AS o
          FROM puts WHERE shard_id = 'shardId-000000000001') p ON p.o = r.ordinality;

-- sequence numbers follow the AWS layout (47 hex digits): 2 | shard creation
-- second (9) | low nibble of the shard index | counter (16) | 00 | arrival
-- second (9) | shard index (8) | 2, where the counter is the table's key
SELECT table_name AS t FROM kinesis.stream_tables WHERE stream_name = 'pg' \gset
SELECT count(*) AS records,
       bool_and(r.sequence_number =
             2 * 16::numeric ^ 46
           + extract(epoch FROM h.created_at)::numeric * 16::numeric ^ 37
           + 1 * 16::numeric ^ 36
           + s.sequence_counter * 16::numeric ^ 20
           + floor(extract(epoch FROM s.approximate_arrival_timestamp))::numeric * 16::numeric ^ 9
           + 1 * 16 + 2) AS aws_layout,
       bool_and(r.sequence_number::text = r.sequence_number::text::numeric::text
                AND numeric_send(r.sequence_number) = numeric_send(r.sequence_number::text::numeric)
                AND hash_numeric(r.sequence_number) = hash_numeric(r.sequence_number::text::numeric)) AS canonical
  FROM (SELECT *, row_number() OVER (ORDER BY sequence_number) AS o
          FROM kinesis.read_records('pg', 'shardId-000000000001')) r
  JOIN (SELECT *, row_number() OVER (ORDER BY sequence_counter) AS o
          FROM :t WHERE shard_index = 1) s USING (o)
  JOIN kinesis.shards h ON h.stream_id = (SELECT stream_id FROM kinesis.streams WHERE stream_name = 'pg')
                       AND h.shard_index = 1;

-- the same for many records over several seconds, read both ways (readers
-- build consecutive numbers incrementally within a second)
SELECT kinesis.create_stream('layout', 1);
SELECT count(*) FROM kinesis.put_records('layout', array_fill('x'::bytea, ARRAY[500]),
                                         ARRAY(SELECT 'k' || i FROM generate_series(1, 500) i));
SELECT pg_sleep(1.05);
SELECT count(*) FROM generate_series(1, 3) b,
       LATERAL kinesis.put_records('layout', array_fill('y'::bytea, ARRAY[400]),
                                   ARRAY(SELECT 'k' || b || '-' || i FROM generate_series(1, 400) i));
SELECT table_name AS lt FROM kinesis.stream_tables WHERE stream_name = 'layout' \gset
CREATE TEMP TABLE expected_numbers AS
SELECT row_number() OVER (ORDER BY s.sequence_counter) AS o,
       2 * 16::numeric ^ 46 + extract(epoch FROM h.created_at)::numeric * 16::numeric ^ 37
     + s.sequence_counter * 16::numeric ^ 20
     + floor(extract(epoch FROM s.approximate_arrival_timestamp))::numeric * 16::numeric ^ 9 + 2 AS n
  FROM :lt s, kinesis.shards h
 WHERE h.stream_id = (SELECT stream_id FROM kinesis.streams WHERE stream_name = 'layout');
SELECT count(*) AS records, count(DISTINCT floor(extract(epoch FROM r.approximate_arrival_timestamp))) > 1 AS several_seconds,
       bool_and(r.sequence_number = e.n) AS read_records_layout
  FROM (SELECT *, row_number() OVER (ORDER BY sequence_number) AS o
          FROM kinesis.read_records('layout', 'shardId-000000000000')) r
  JOIN expected_numbers e USING (o);
SELECT count(*) AS records, bool_and(r.sequence_number = e.n) AS get_records_layout
  FROM (SELECT r.*, row_number() OVER (ORDER BY r.sequence_number) AS o
          FROM kinesis.get_records(kinesis.get_shard_iterator('layout', '0', 'TRIM_HORIZON')) g,
               unnest(g.records) r) r
  JOIN expected_numbers e USING (o);
SELECT kinesis.delete_stream('layout');

-- after_sequence_number and limit
SELECT sequence_number AS third FROM kinesis.read_records('pg', 'shardId-000000000001') OFFSET 2 LIMIT 1 \gset
SELECT count(*) FROM kinesis.read_records('pg', 'shardId-000000000001', :third);
SELECT count(*) FROM kinesis.read_records('pg', 'shardId-000000000001', :third, 3);
SELECT bool_and(sequence_number > :third) FROM kinesis.read_records('pg', 'shardId-000000000001', :third);

-- arrival timestamps are set by the server
SELECT bool_and(approximate_arrival_timestamp BETWEEN now() - interval '1 minute' AND clock_timestamp())
  FROM kinesis.read_records('pg', 'shardId-000000000001');

-- get_records with TRIM_HORIZON reads the same records; the next iterator
-- continues after them, and is not NULL on an open shard
SELECT kinesis.get_shard_iterator('pg', 'shardId-000000000001', 'TRIM_HORIZON') AS it \gset
SELECT cardinality(records), next_shard_iterator IS NOT NULL AS has_next,
       millis_behind_latest, child_shards
  FROM kinesis.get_records(:'it');
SELECT (unnest(g.records)).partition_key FROM kinesis.get_records(:'it', 3) g;
SELECT next_shard_iterator AS it2, millis_behind_latest >= 0 AS behind
  FROM kinesis.get_records(:'it', 3) \gset
SELECT :'behind';
SELECT count(*) FROM (SELECT unnest(records) FROM kinesis.get_records(:'it2')) r;
-- iterators may be reused within their lifetime
SELECT cardinality(records) FROM kinesis.get_records(:'it');

-- the iterator after a full read sees only new records
SELECT next_shard_iterator AS tip FROM kinesis.get_records(:'it') \gset
SELECT cardinality(records) FROM kinesis.get_records(:'tip');
SELECT 1 FROM kinesis.put_record('pg', 'later', 'x', 340282366920938463463374607431768211455);
SELECT (unnest(records)).partition_key FROM kinesis.get_records(:'tip');

-- AT_SEQUENCE_NUMBER includes the record, AFTER_SEQUENCE_NUMBER excludes it
SELECT count(*) FROM kinesis.read_records('pg', 'shardId-000000000001');
SELECT cardinality(records) FROM kinesis.get_records(
    kinesis.get_shard_iterator('pg', 'shardId-000000000001', 'AT_SEQUENCE_NUMBER', :third));
SELECT cardinality(records) FROM kinesis.get_records(
    kinesis.get_shard_iterator('pg', 'shardId-000000000001', 'AFTER_SEQUENCE_NUMBER', :third));
SELECT (records[1]).sequence_number = :third FROM kinesis.get_records(
    kinesis.get_shard_iterator('pg', 'shardId-000000000001', 'AT_SEQUENCE_NUMBER', :third));

-- the shard's starting sequence number is before every record
SELECT starting_sequence_number AS start1 FROM kinesis.list_shards('pg') WHERE shard_id = 'shardId-000000000001' \gset
SELECT cardinality(records) FROM kinesis.get_records(
    kinesis.get_shard_iterator('pg', 'shardId-000000000001', 'AT_SEQUENCE_NUMBER', :start1));

-- LATEST: only records put afterwards
SELECT kinesis.get_shard_iterator('pg', '1', 'LATEST') AS latest \gset
SELECT cardinality(records) FROM kinesis.get_records(:'latest');
SELECT 1 FROM kinesis.put_record('pg', 'newest', 'y', 340282366920938463463374607431768211455);
SELECT (unnest(records)).partition_key FROM kinesis.get_records(:'latest');

-- AT_TIMESTAMP: records that arrived at or after the timestamp
SELECT clock_timestamp() AS ts \gset
SELECT pg_sleep(0.01);
SELECT 1 FROM kinesis.put_record('pg', 'stamped', 'z', 340282366920938463463374607431768211455);
SELECT (unnest(records)).partition_key
  FROM kinesis.get_records(kinesis.get_shard_iterator('pg', 'shardId-000000000001', 'AT_TIMESTAMP', NULL, :'ts'));
SELECT cardinality(records)
  FROM kinesis.get_records(kinesis.get_shard_iterator('pg', 'shardId-000000000001', 'AT_TIMESTAMP', NULL, now() - interval '1 hour'));

-- sequence_number_for_ordering: the new number exceeds the given one
SELECT sequence_number AS s1 FROM kinesis.put_record('pg', 'o1', 'ord') \gset
SELECT sequence_number > :s1 FROM kinesis.put_record('pg', 'o2', 'ord', NULL, :s1);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('pg', 'o3', 'ord', NULL, 12345)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('pg', 'o3', 'ord', NULL, -1)$$);

-- data is opaque: empty and binary data round-trip; the maximum record size
-- counts data plus partition key bytes (1 MiB by default)
SELECT 1 FROM kinesis.put_record('pg', '', 'empty', 0);
SELECT 1 FROM kinesis.put_record('pg', '\x00ff00'::bytea, 'binary', 0);
SELECT 1 FROM kinesis.put_record('pg', decode(repeat('ab', 1048576 - 3), 'hex'), 'big', 0);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('pg', decode(repeat('ab', 1048576 - 2), 'hex'), 'big')$$);
SELECT partition_key, length(data), md5(data) = md5(decode(repeat('ab', 1048576 - 3), 'hex')) AS intact
  FROM kinesis.read_records('pg', 'shardId-000000000000')
 WHERE partition_key IN ('empty', 'binary', 'big') ORDER BY sequence_number;

-- toasted data from a table round-trips
CREATE TEMP TABLE payloads AS SELECT i, decode(repeat(md5(i::text), 200), 'hex') AS p FROM generate_series(1, 3) i;
SELECT count(*) FROM payloads, LATERAL kinesis.put_record('pg', p, 'toast' || i, 0);
SELECT bool_and(r.data = p.p) AS intact, count(*)
  FROM kinesis.read_records('pg', 'shardId-000000000000') r
  JOIN payloads p ON r.partition_key = 'toast' || p.i;

-- get_records returns at most 10 MiB: 12 records of 1 MiB come in two calls
SELECT count(*) FROM generate_series(1, 12) i,
       LATERAL kinesis.put_record('pg', decode(repeat('cd', 1048000), 'hex'), 'mb' || i, 42);
SELECT kinesis.get_shard_iterator('pg', 'shardId-000000000000', 'AT_SEQUENCE_NUMBER',
       (SELECT min(sequence_number) FROM kinesis.read_records('pg', 'shardId-000000000000') WHERE partition_key LIKE 'mb%')) AS mb \gset
SELECT cardinality(records) AS first_call, millis_behind_latest >= 0 AS behind
  FROM kinesis.get_records(:'mb');
SELECT cardinality(records) AS second_call
  FROM kinesis.get_records((kinesis.get_records(:'mb')).next_shard_iterator);

-- the select-list unnest streams the records of get_records
SELECT count(*) FROM (SELECT (unnest(g.records)).* FROM kinesis.get_records(
    kinesis.get_shard_iterator('pg', 'shardId-000000000001', 'TRIM_HORIZON')) g) r;

-- shard ids are lenient like Kinesis: shardId-1, 1 and anything-00001 name shard 1
SELECT count(*) FROM kinesis.read_records('pg', 'shardId-1');
SELECT count(*) FROM kinesis.read_records('pg', 'x-00001');
SELECT sqlerr($$SELECT count(*) FROM kinesis.read_records('pg', 'shardId-000000000002')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.read_records('pg', 'shardId-2147483648')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.read_records('pg', 'shardId-ABC')$$);

SELECT kinesis.delete_stream('pg');
