-- subscribe_to_shard: a registered consumer's read from a starting
-- position; the continuation sequence number resumes it; at a closed
-- shard's end it is NULL and child_shards lists the children.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT kinesis.create_stream('sub', 1);
SELECT consumer_name FROM kinesis.register_stream_consumer('sub', 'app');
SELECT count(*) FROM kinesis.put_records('sub', ARRAY['a', 'b', 'c']::bytea[], ARRAY['k', 'k', 'k']);

-- from the trim horizon, two at a time
SELECT (SELECT string_agg(convert_from(data, 'UTF8'), ',') FROM unnest(records)) AS data,
       continuation_sequence_number IS NOT NULL AS can_continue, child_shards
  FROM kinesis.subscribe_to_shard('sub', 'app', 'shardId-000000000000', 'TRIM_HORIZON', "limit" => 2);
SELECT continuation_sequence_number AS cont
  FROM kinesis.subscribe_to_shard('sub', 'app', '0', 'TRIM_HORIZON', "limit" => 2) \gset
-- the continuation is the last record's sequence number
SELECT :'cont' = (SELECT sequence_number::text FROM kinesis.read_records('sub', '0') LIMIT 1 OFFSET 1) AS is_last_read;
SELECT (SELECT string_agg(convert_from(data, 'UTF8'), ',') FROM unnest(records)) AS data
  FROM kinesis.subscribe_to_shard('sub', 'app', '0', 'AFTER_SEQUENCE_NUMBER', :'cont');
SELECT (SELECT string_agg(convert_from(data, 'UTF8'), ',') FROM unnest(records)) AS data
  FROM kinesis.subscribe_to_shard('sub', 'app', '0', 'AT_SEQUENCE_NUMBER', :'cont');

-- caught up: after wait_ms an empty event whose continuation moved on and
-- still resumes at the next record
SELECT continuation_sequence_number AS cont2,
       cardinality(records) AS n, millis_behind_latest
  FROM kinesis.subscribe_to_shard('sub', 'app', '0', 'LATEST', wait_ms => 100) \gset
SELECT :n AS records, :millis_behind_latest AS behind, :'cont2'::numeric > :'cont'::numeric AS moved_on;
SELECT count(*) FROM kinesis.put_record('sub', 'd', 'k');
SELECT (SELECT string_agg(convert_from(data, 'UTF8'), ',') FROM unnest(records)) AS data
  FROM kinesis.subscribe_to_shard('sub', 'app', '0', 'AFTER_SEQUENCE_NUMBER', :'cont2', wait_ms => 0);

-- not throttled like get_records: more than five calls a second
SET kinesis.enforce_limits = on;
SELECT count(*) FROM generate_series(1, 8) i,
       LATERAL kinesis.subscribe_to_shard('sub', 'app', '0', 'TRIM_HORIZON', wait_ms => 0, "limit" => i);
RESET kinesis.enforce_limits;

-- each registered consumer reads 2 MiB a second per shard on its own budget
SELECT kinesis.create_stream('bud', 1);
SELECT consumer_name FROM kinesis.register_stream_consumer('bud', 'c1');
SELECT consumer_name FROM kinesis.register_stream_consumer('bud', 'c2');
SELECT count(*) FROM generate_series(1, 2) b, LATERAL kinesis.put_records('bud',
         array_fill(convert_to(repeat('x', 2999 + b), 'UTF8'), ARRAY[500]),
         array_fill('k'::text, ARRAY[500]));
SET kinesis.enforce_limits = on;
SELECT cardinality(records) FROM kinesis.subscribe_to_shard('bud', 'c1', '0', 'TRIM_HORIZON', wait_ms => 0);
SET kinesis.debug_clock_offset = '-1h';
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('bud', 'c1', '0', 'TRIM_HORIZON', wait_ms => 0)$$);
SELECT cardinality(records) FROM kinesis.subscribe_to_shard('bud', 'c2', '0', 'TRIM_HORIZON', wait_ms => 0);
-- maintenance removes the budgets of consumers that are gone: registered
-- again, c1 starts with a full budget (the clock is still stopped)
SELECT kinesis.deregister_stream_consumer('bud', 'c1');
SELECT count(*) >= 0 FROM kinesis.run_maintenance();
SELECT consumer_name FROM kinesis.register_stream_consumer('bud', 'c1');
SELECT cardinality(records) AS fresh_budget FROM kinesis.subscribe_to_shard('bud', 'c1', '0', 'TRIM_HORIZON', wait_ms => 0, "limit" => 10);
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('bud', 'c2', '0', 'TRIM_HORIZON', wait_ms => 0)$$) AS c2_still_in_debt;
SET kinesis.debug_clock_offset = '1h';
SELECT cardinality(records) AS after_refill FROM kinesis.subscribe_to_shard('bud', 'c1', '0', 'TRIM_HORIZON', wait_ms => 0, "limit" => 10);
RESET kinesis.debug_clock_offset;
RESET kinesis.enforce_limits;
-- per consumer, the CloudWatch metrics of enhanced fan-out
SELECT count(*) >= 0 FROM kinesis.run_maintenance();
SELECT consumer_name, metric_name, sum(sum)
  FROM kinesis.metrics
 WHERE stream_name = 'bud' AND consumer_name IS NOT NULL
   AND metric_name IN ('SubscribeToShardEvent.Success', 'SubscribeToShardEvent.Records')
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT kinesis.delete_stream('bud', enforce_consumer_deletion => true);

-- the end of a closed shard
SELECT kinesis.split_shard('sub', '0', 2);
SELECT cardinality(records), continuation_sequence_number IS NULL AS ended,
       jsonb_array_length(child_shards) AS children
  FROM kinesis.subscribe_to_shard('sub', 'app', '0', 'AFTER_SEQUENCE_NUMBER', :'cont2', wait_ms => 60000);

-- errors
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', 'nobody', '0', 'LATEST')$$);
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', 'bad name', '0', 'LATEST')$$);
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', 'app', '9', 'LATEST')$$);
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', 'app', '0', 'SOMEWHERE')$$);
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', 'app', '0', 'AT_SEQUENCE_NUMBER')$$);
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', 'app', '0', 'LATEST', wait_ms => -1)$$);
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', 'app', '0', 'LATEST', "limit" => 0)$$);
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', NULL, '0', 'LATEST')$$);
-- a deregistered consumer reads no more
SELECT kinesis.deregister_stream_consumer('sub', 'app');
SELECT sqlerr($$SELECT kinesis.subscribe_to_shard('sub', 'app', '1', 'LATEST')$$);
SELECT kinesis.delete_stream('sub');
