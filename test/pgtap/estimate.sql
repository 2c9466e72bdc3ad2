-- kinesis.estimate_shards (API.md, Capacity planning): 1 shard = 1 MB/s
-- (1024 KB) and 1,000 records/s in, 2 MB/s (2048 KB) out; at least 1 shard.
-- Results are compared numerically, so the scale of a numeric does not matter.
BEGIN;
SELECT plan(20);

-- the two examples of API.md
SELECT results_eq(
    'SELECT * FROM kinesis.estimate_shards(1024, 2, 1)',
    $$VALUES (2048::numeric, 2::numeric, 2048::numeric, 1::numeric, 2, 2::numeric, 4::numeric)$$,
    '(1024 KB, 2/s, 1 consumer) gives 2048, 2, 2048, 1, 2 shards, 2 and 4 MB/s');
SELECT results_eq(
    'SELECT * FROM kinesis.estimate_shards(1024, 6, 7)',
    $$VALUES (6144::numeric, 6::numeric, 43008::numeric, 21::numeric, 21, 21::numeric, 42::numeric)$$,
    '(1024 KB, 6/s, 7 consumers) gives 6144, 6, 43008, 21, 21 shards, 21 and 42 MB/s');

-- one row per call
SELECT is((SELECT count(*) FROM kinesis.estimate_shards(1024, 6, 7)), 1::bigint,
    'estimate_shards returns exactly one row');

-- the records/s bound: 1,000 records/s per shard
SELECT results_eq(
    'SELECT * FROM kinesis.estimate_shards(1, 2500, 1)',
    $$VALUES (2500::numeric, 2.44140625::numeric, 2500::numeric, 1.220703125::numeric, 3, 3::numeric, 6::numeric)$$,
    '1 KB at 2500/s needs 3 shards (records/s bound over 2.44 MB/s)');
SELECT is((SELECT number_of_shards FROM kinesis.estimate_shards(0.1, 1000, 1)), 1,
    '1000 records/s fit in 1 shard');
SELECT is((SELECT number_of_shards FROM kinesis.estimate_shards(0.1, 1001, 1)), 2,
    '1001 records/s need 2 shards');
SELECT is((SELECT number_of_shards FROM kinesis.estimate_shards(0, 5000, 3)), 5,
    'empty records at 5000/s still need 5 shards');

-- fractional inputs; the largest of the three bounds wins
SELECT results_eq(
    'SELECT * FROM kinesis.estimate_shards(0.5, 3000, 3)',
    $$VALUES (1500::numeric, 1.46484375::numeric, 4500::numeric, 2.197265625::numeric, 3, 3::numeric, 6::numeric)$$,
    '0.5 KB at 3000/s with 3 consumers: 3 shards');

-- write bandwidth: exactly 1 MB/s fits one shard, a little more needs two
SELECT is((SELECT number_of_shards FROM kinesis.estimate_shards(1024, 1, 0)), 1,
    '1024 KB/s in needs 1 shard');
SELECT is((SELECT number_of_shards FROM kinesis.estimate_shards(1025, 1, 0)), 2,
    '1025 KB/s in needs 2 shards');

-- read bandwidth: 2 MB/s out per shard
SELECT is((SELECT number_of_shards FROM kinesis.estimate_shards(512, 1, 8)), 2,
    '512 KB/s read by 8 consumers (4 MB/s out) needs 2 shards');

-- the minimum is one shard
SELECT results_eq(
    'SELECT * FROM kinesis.estimate_shards(0, 0, 0)',
    $$VALUES (0::numeric, 0::numeric, 0::numeric, 0::numeric, 1, 1::numeric, 2::numeric)$$,
    'no load at all still gives 1 shard, 1 and 2 MB/s');
SELECT is((SELECT number_of_shards FROM kinesis.estimate_shards(0, 100, 5)), 1,
    '0 KB records at 100/s: 1 shard');

-- large workloads do not overflow
SELECT results_eq(
    'SELECT * FROM kinesis.estimate_shards(1024, 1000000, 10)',
    $$VALUES (1024000000::numeric, 1000000::numeric, 10240000000::numeric, 5000000::numeric,
              5000000, 5000000::numeric, 10000000::numeric)$$,
    '1 GB/s read by 10 consumers: 5,000,000 shards');

-- NULL or negative arguments: ValidationException
SELECT throws_ok('SELECT * FROM kinesis.estimate_shards(NULL, 2, 1)', 'KN008', NULL,
    'NULL average_data_size_kb raises KN008');
SELECT throws_ok('SELECT * FROM kinesis.estimate_shards(1024, NULL, 1)', 'KN008', NULL,
    'NULL records_per_second raises KN008');
SELECT throws_ok('SELECT * FROM kinesis.estimate_shards(1024, 2, NULL)', 'KN008', NULL,
    'NULL number_of_consumers raises KN008');
SELECT throws_ok('SELECT * FROM kinesis.estimate_shards(-1, 2, 1)', 'KN008', NULL,
    'negative average_data_size_kb raises KN008');
SELECT throws_ok('SELECT * FROM kinesis.estimate_shards(1024, -0.5, 1)', 'KN008', NULL,
    'negative records_per_second raises KN008');
SELECT throws_ok('SELECT * FROM kinesis.estimate_shards(1024, 2, -1)', 'KN008', NULL,
    'negative number_of_consumers raises KN008');

SELECT * FROM finish();
ROLLBACK;
