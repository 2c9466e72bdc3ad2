-- Provisioned throughput: per shard, writes 1 MiB and 1000 records per
-- second, reads 2 MiB and 5 get_records calls per second, as token buckets
-- that hold one second of their rate.  The test cluster turns the limits
-- off; this test turns them on.  kinesis.debug_clock_offset moved back
-- stops the refill, moved forward fills the buckets, so every count below
-- is exact.
\set VERBOSITY terse
SET client_min_messages = warning;
SET kinesis.enforce_limits = on;
SELECT kinesis.create_stream('th', 2);
-- shard 0 takes hash key 0, shard 1 the largest hash key
\set lo 0
\set hi 340282366920938463463374607431768211455

-- the first write attaches both shards with full buckets; then stop the clock
SELECT count(*) FROM kinesis.put_records('th', ARRAY['a', 'b']::bytea[], ARRAY['x', 'y'],
                                         ARRAY[:lo, :hi]::numeric[]);
SET kinesis.debug_clock_offset = '-1h';

-- 500 records of 3000 bytes plus a 1-byte key into shard 0: the 1 MiB bucket
-- (less the 2 bytes above) holds 349 of them; the rest fail one by one
CREATE TEMP TABLE big AS
SELECT * FROM kinesis.put_records('th',
         array_fill(convert_to(repeat('d', 3000), 'UTF8'), ARRAY[500]),
         array_fill('k'::text, ARRAY[500]), array_fill(0::numeric, ARRAY[500]));
SELECT error_code IS NULL AS ok, count(*), min(ordinality), max(ordinality),
       count(shard_id) AS with_shard, count(sequence_number) AS with_number
  FROM big GROUP BY 1 ORDER BY 1;
SELECT DISTINCT error_code, error_message
  FROM big WHERE error_code IS NOT NULL;
SELECT count(*) AS stored FROM kinesis.read_records('th', '0') WHERE partition_key = 'k';

-- put_record fails as a whole with KN005; a record small enough still fits
SELECT sqlerr($$SELECT kinesis.put_record('th', convert_to(repeat('d', 3000), 'UTF8'), 'k', 0)$$);
SELECT shard_id FROM kinesis.put_record('th', 'tiny', 'k', 0);

-- the record bucket: shard 1 has taken 1 record; 500 + 499 more fit
SELECT count(*) FILTER (WHERE error_code IS NULL) AS ok FROM kinesis.put_records('th',
         array_fill('r'::bytea, ARRAY[500]), array_fill('k'::text, ARRAY[500]), array_fill(:hi::numeric, ARRAY[500]));
SELECT ordinality, error_code FROM kinesis.put_records('th',
         array_fill('r'::bytea, ARRAY[500]), array_fill('k'::text, ARRAY[500]), array_fill(:hi::numeric, ARRAY[500]))
 WHERE ordinality >= 499;

-- only the entries of the shard over its rate fail
SELECT ordinality, shard_id, error_code
  FROM kinesis.put_records('th', ARRAY['1', '2', '3', '4']::bytea[], ARRAY['k', 'k', 'k', 'k'],
                           ARRAY[:lo, :hi, :lo, :hi]::numeric[]);

-- the clock moving on fills the buckets: 349 again
SET kinesis.debug_clock_offset = '1h';
SELECT count(*) FILTER (WHERE error_code IS NULL) AS ok FROM kinesis.put_records('th',
         array_fill(convert_to(repeat('d', 3000), 'UTF8'), ARRAY[500]),
         array_fill('k'::text, ARRAY[500]), array_fill(0::numeric, ARRAY[500]));
SET kinesis.debug_clock_offset = 0;

-- reads: five get_records calls a second per shard
SELECT kinesis.get_shard_iterator('th', '1', 'LATEST') AS it \gset
SELECT count(*) FROM generate_series(1, 5) i, LATERAL kinesis.get_records(:'it', i);
SELECT sqlerr($$SELECT kinesis.get_records('$$ || :'it' || $$', 1)$$);
-- read_records, the SQL scan, is not metered
SELECT count(*) FROM kinesis.read_records('th', '1');

-- and 2 MiB a second: a call may return more, then the shard owes it
SET kinesis.debug_clock_offset = '2h';
SELECT count(*) FILTER (WHERE error_code IS NULL) AS ok FROM kinesis.put_records('th',
         array_fill(convert_to(repeat('d', 3000), 'UTF8'), ARRAY[500]),
         array_fill('k'::text, ARRAY[500]), array_fill(0::numeric, ARRAY[500]));
SELECT cardinality(records) AS records, (SELECT sum(length(data)) FROM unnest(records)) > 2 * 1024 * 1024 AS over_2mib
  FROM kinesis.get_records(kinesis.get_shard_iterator('th', '0', 'TRIM_HORIZON'));
SELECT sqlerr($$SELECT kinesis.get_records(kinesis.get_shard_iterator('th', '0', 'TRIM_HORIZON'), 1)$$);

-- kinesis.enforce_limits off lifts the limits
SET kinesis.enforce_limits = off;
SELECT count(*) FROM generate_series(1, 5) i, LATERAL kinesis.get_records(kinesis.get_shard_iterator('th', '0', 'LATEST'), i);
SELECT shard_id FROM kinesis.put_record('th', convert_to(repeat('d', 3000), 'UTF8'), 'k', 0);
SET kinesis.enforce_limits = on;

-- ordinary users cannot change it
CREATE ROLE throttle_user;
SET ROLE throttle_user;
SELECT sqlerr($$SET kinesis.enforce_limits = off$$);
RESET ROLE;
DROP ROLE throttle_user;

-- on-demand streams are not throttled per shard
SELECT kinesis.create_stream('th_od', stream_mode => 'ON_DEMAND');
SELECT count(*) FILTER (WHERE error_code IS NULL) AS ok
  FROM generate_series(1, 3) i, LATERAL kinesis.put_records('th_od',
         array_fill(convert_to(repeat('d', 3000), 'UTF8'), ARRAY[500]),
         array_fill('k'::text, ARRAY[500]), array_fill(0::numeric, ARRAY[500]));

RESET kinesis.debug_clock_offset;
SELECT kinesis.delete_stream('th');
SELECT kinesis.delete_stream('th_od');
