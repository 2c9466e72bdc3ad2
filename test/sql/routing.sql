-- Hash-key routing: MD5 of the partition key's UTF-8 bytes, or an explicit
-- hash key; initial ranges floor(2^128/N) with the remainder on the last
-- shard (spec/kinesis-api.md 2.2 and 2.3).
\set VERBOSITY terse
SET client_min_messages = warning;

-- the hash key of a partition key, computed in SQL from md5()
CREATE FUNCTION pg_temp.hash_key(k text) RETURNS numeric LANGUAGE sql AS $$
    SELECT sum(('x' || substr(md5(convert_to(k, 'UTF8')), i * 8 + 1, 8))::bit(32)::bigint
               * 4294967296::numeric ^ (3 - i))
      FROM generate_series(0, 3) i
$$;

-- spec/kinesis-api.md 2.2: ranges for N = 1..5
SELECT kinesis.create_stream('r' || n, n) FROM generate_series(1, 5) n;
SELECT s.stream_name, l.shard_id, l.starting_hash_key, l.ending_hash_key
  FROM kinesis.list_streams() s, kinesis.list_shards(s.stream_name) l
 WHERE s.stream_name LIKE 'r_'
 ORDER BY 1, 2;

-- spec/kinesis-api.md 2.3: worked examples, shard index with 2, 3 and 4 shards
SELECT k AS partition_key, trim_scale(pg_temp.hash_key(k)) AS hash_key,
       (SELECT shard_id FROM kinesis.put_record('r2', 'x', k)) AS two,
       (SELECT shard_id FROM kinesis.put_record('r3', 'x', k)) AS three,
       (SELECT shard_id FROM kinesis.put_record('r4', 'x', k)) AS four
  FROM unnest(ARRAY['a', 'partitionKey-1', 'user-42', 'b', 'e', 'f', 'ü']) AS k;

-- the AWS-verified kinesalite case: a, b, e, f into 3 shards -> 0, 1, 2, 1
SELECT ordinality, shard_id
  FROM kinesis.put_records('r3', ARRAY['1', '2', '3', '4']::bytea[], ARRAY['a', 'b', 'e', 'f']);

-- boundary checks with 3 shards: 2h-1 -> shard 1, 2h -> shard 2, 2^128-1 -> shard 2
SELECT h, (SELECT shard_id FROM kinesis.put_record('r3', 'x', 'k', h)) AS shard_id
  FROM (VALUES (0::numeric),
               (113427455640312821154458202477256070484),
               (113427455640312821154458202477256070485),
               (2 * 113427455640312821154458202477256070485 - 1),
               (2 * 113427455640312821154458202477256070485),
               (340282366920938463463374607431768211455)) v(h);

-- the explicit hash key wins over the partition key, which is still stored
SELECT shard_id FROM kinesis.put_record('r2', 'x', 'a', 340282366920938463463374607431768211455);
SELECT partition_key FROM kinesis.read_records('r2', 'shardId-000000000001') ORDER BY sequence_number DESC LIMIT 1;

-- explicit hash keys per entry in put_records (NULL entries hash the key)
SELECT ordinality, shard_id
  FROM kinesis.put_records('r4', ARRAY['1', '2', '3']::bytea[], ARRAY['a', 'a', 'a'],
                           ARRAY[NULL, 85070591730234615865843651857942052864, 340282366920938463463374607431768211455]);

-- out of range or malformed explicit hash keys
SELECT sqlerr($$SELECT * FROM kinesis.put_record('r2', 'x', 'a', 340282366920938463463374607431768211456)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('r2', 'x', 'a', 999999999999999999999999999999999999999)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('r2', 'x', 'a', 1000000000000000000000000000000000000000)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('r2', 'x', 'a', -1)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('r2', 'x', 'a', 1.5)$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('r2', 'x', 'a', 'NaN')$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_records('r2', ARRAY['1', '2']::bytea[], ARRAY['a', 'b'], ARRAY[1, 340282366920938463463374607431768211456])$$);

-- MD5 routing agrees with PostgreSQL's md5() for keys of every length
-- (1 to 256 characters, multi-byte included, across MD5 block boundaries)
SELECT kinesis.create_stream('r7', 7);
CREATE TEMP TABLE keys AS
SELECT i, CASE WHEN i % 3 = 0 THEN repeat('é', i % 200 + 1)
               ELSE substr(repeat(md5(i::text), 9), 1, i % 256 + 1) END AS k
  FROM generate_series(1, 600) i;
CREATE TEMP TABLE placed AS
SELECT k.i, k.k, p.shard_id
  FROM keys k, LATERAL kinesis.put_record('r7', 'x', k.k) p;
SELECT count(*) AS keys,
       count(*) FILTER (WHERE p.shard_id = (
           SELECT l.shard_id FROM kinesis.list_shards('r7') l
            WHERE pg_temp.hash_key(p.k) BETWEEN l.starting_hash_key AND l.ending_hash_key)) AS routed_as_md5
  FROM placed p;
SELECT count(DISTINCT shard_id) AS shards_used FROM placed;

-- a partition key of 256 characters is accepted, 257 is not
SELECT shard_id IS NOT NULL FROM kinesis.put_record('r7', 'x', repeat('ü', 256));
SELECT sqlerr($$SELECT * FROM kinesis.put_record('r7', 'x', repeat('ü', 257))$$);
SELECT sqlerr($$SELECT * FROM kinesis.put_record('r7', 'x', '')$$);

SELECT kinesis.delete_stream(stream_name) FROM kinesis.list_streams();
