-- A short tour of kinesis, run by `make demo`.
\pset footer off
\set ECHO queries
\echo
\echo '== Create a stream with 4 shards'
SELECT kinesis.create_stream('clicks', 4);
SELECT shard_id, starting_hash_key, ending_hash_key FROM kinesis.list_shards('clicks');

\echo
\echo '== Write 300 records for 30 users in one put_records call and one put_record'
CREATE TEMP TABLE written AS
SELECT * FROM kinesis.put_records('clicks',
    ARRAY(SELECT convert_to(format('{"user": %s, "page": "/p/%s"}', i % 30, i), 'UTF8')
            FROM generate_series(1, 300) i),
    ARRAY(SELECT 'user-' || (i % 30) FROM generate_series(1, 300) i));
SELECT * FROM kinesis.put_record('clicks', '{"user": 42, "page": "/"}', 'user-42');

\echo
\echo '== How the records spread over the shards (MD5 of the partition key)'
SELECT shard_id, count(*) AS records, min(sequence_number) AS first_sequence_number
  FROM written GROUP BY shard_id ORDER BY shard_id;

\echo
\echo '== Read every shard back in sequence order (read_records)'
SELECT l.shard_id, count(r.*) AS records,
       count(DISTINCT r.partition_key) AS partition_keys
  FROM kinesis.list_shards('clicks') l
  LEFT JOIN LATERAL kinesis.read_records('clicks', l.shard_id) r ON true
 GROUP BY l.shard_id ORDER BY l.shard_id;

\echo
\echo '== The Kinesis way: a shard iterator and get_records (first 3 records of shard 1)'
SELECT kinesis.get_shard_iterator('clicks', 'shardId-000000000001', 'TRIM_HORIZON') AS it \gset
SELECT r.sequence_number, r.partition_key, convert_from(r.data, 'UTF8') AS data
  FROM kinesis.get_records(:'it', 3) g, unnest(g.records) r;
SELECT cardinality(records) AS next_call_records, millis_behind_latest,
       next_shard_iterator IS NOT NULL AS more_to_come
  FROM kinesis.get_records((kinesis.get_records(:'it', 3)).next_shard_iterator);

\echo
\echo '== The outbox pattern: an order and its event commit together, or not at all'
CREATE TEMP TABLE orders (id int PRIMARY KEY, item text);
BEGIN;
INSERT INTO orders VALUES (1, 'book');
SELECT shard_id FROM kinesis.put_record('clicks', '{"order": 1}', 'order-1');
ROLLBACK;
BEGIN;
INSERT INTO orders VALUES (2, 'lamp');
SELECT shard_id FROM kinesis.put_record('clicks', '{"order": 2}', 'order-2');
COMMIT;
SELECT (SELECT count(*) FROM orders) AS orders,
       (SELECT count(*) FROM kinesis.list_shards('clicks') l,
               kinesis.read_records('clicks', l.shard_id) r
         WHERE r.partition_key LIKE 'order-%') AS order_events;

\echo
\echo '== Capacity planning: shards for (1024 KB, 2/s, 1 consumer) and (1024 KB, 6/s, 7 consumers)'
SELECT * FROM kinesis.estimate_shards(1024, 2, 1);
SELECT * FROM kinesis.estimate_shards(1024, 6, 7);

\echo
\echo '== The stream'
SELECT stream_name, stream_status, stream_mode, retention_period_hours, open_shard_count
  FROM kinesis.describe_stream_summary('clicks');

\echo
\echo '== Resharding: split shard 0 in the middle; readers of the parent get its children at its end'
SELECT kinesis.split_shard('clicks', 'shardId-000000000000', 42535295865117307932921825928971026432);
SELECT shard_id, parent_shard_id, starting_hash_key, ending_sequence_number IS NOT NULL AS closed
  FROM kinesis.list_shards('clicks') ORDER BY shard_id;
SELECT next_shard_iterator IS NULL AS parent_ended,
       (SELECT string_agg(c->>'shard_id', ', ') FROM jsonb_array_elements(child_shards) c) AS children
  FROM kinesis.get_records(kinesis.get_shard_iterator('clicks', 'shardId-000000000000', 'LATEST'));

\echo
\echo '== Throughput limits: 500 records of 3000 bytes into one provisioned shard; 1 MiB/s takes 349'
SELECT coalesce(error_code, 'ok') AS result, count(*)
  FROM kinesis.put_records('clicks',
         array_fill(convert_to(repeat('x', 3000), 'UTF8'), ARRAY[500]),
         array_fill('k'::text, ARRAY[500]), array_fill(0::numeric, ARRAY[500]))
 GROUP BY 1;

\echo
\echo '== A registered consumer (enhanced fan-out) reads shard 1 with its own budget'
SELECT consumer_name, consumer_status FROM kinesis.register_stream_consumer('clicks', 'dashboard');
SELECT cardinality(records) AS records, millis_behind_latest,
       continuation_sequence_number IS NOT NULL AS can_continue
  FROM kinesis.subscribe_to_shard('clicks', 'dashboard', 'shardId-000000000001', 'TRIM_HORIZON');

\echo
\echo '== Push: subscribe at LATEST waits; another session commits a record 0.5 s later and wakes it'
\! (sleep 0.5; psql -X -q -d postgres -c "SELECT kinesis.put_record('clicks', '{\"pushed\": true}', 'push', 170141183460469231731687303715884105728)" >/dev/null) &
SELECT convert_from(r.data, 'UTF8') AS data,
       round(extract(epoch FROM clock_timestamp() - statement_timestamp()), 1) AS waited_s
  FROM kinesis.subscribe_to_shard('clicks', 'dashboard', 'shardId-000000000002', 'LATEST',
                                  wait_ms => 5000) e, unnest(e.records) r;

\echo
\echo '== A consumer application (the KCL in SQL): leases, then results and checkpoints in one transaction'
SELECT kinesis.create_application('billing', 'clicks');
SELECT shard_id, lease_token FROM kinesis.acquire_leases('billing', 'worker-1');
CREATE TEMP TABLE page_views (shard_id text, sequence_number numeric PRIMARY KEY, view jsonb);
BEGIN;
INSERT INTO page_views
SELECT shard_id, sequence_number, convert_from(data, 'UTF8')::jsonb
  FROM kinesis.consume('billing', 'worker-1', 10000);
SELECT kinesis.checkpoint('billing', shard_id, max(sequence_number), max(lease_token))
  FROM kinesis.consume('billing', 'worker-1', 10000) GROUP BY shard_id;
COMMIT;
SELECT count(*) AS processed_once FROM page_views;
SELECT count(*) AS left_to_consume FROM kinesis.consume('billing', 'worker-1');
\echo '-- shard 0 was split: read to its end, consume put it at SHARD_END; its children are leased next'
SELECT shard_id, lease_owner, checkpoint IS NOT NULL AS checkpointed, shard_end, millis_behind_latest
  FROM kinesis.application_status('billing') ORDER BY shard_id;
SELECT shard_id, lease_token FROM kinesis.acquire_leases('billing', 'worker-1') ORDER BY shard_id;

\echo
\echo '== Maintenance (the worker does this every 10 s) and per-minute metrics'
SELECT count(*) AS actions FROM kinesis.run_maintenance();
SELECT metric_name, sum, samples, average
  FROM kinesis.metrics
 WHERE stream_name = 'clicks' AND shard_id IS NULL
   AND metric_name IN ('IncomingRecords', 'PutRecords.ThrottledRecords', 'PutRecord.Latency', 'GetRecords.Success')
 ORDER BY metric_name;
SELECT kind, database, state, last_run IS NOT NULL AS has_run FROM kinesis.workers;
SELECT operation, open_shards_before, open_shards_after, detail FROM kinesis.scaling_events;
