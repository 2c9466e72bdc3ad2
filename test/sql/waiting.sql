-- get_records with wait_ms: returns at once when records are there, waits
-- up to wait_ms otherwise (t/010_wait.pl shows a commit waking it).
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT kinesis.create_stream('wt', 1);
SELECT kinesis.get_shard_iterator('wt', '0', 'TRIM_HORIZON') AS it \gset
SELECT count(*) FROM kinesis.put_record('wt', 'here', 'k');

-- a record is there: no wait
SELECT cardinality(records), clock_timestamp() - statement_timestamp() < interval '10 s' AS at_once
  FROM kinesis.get_records(:'it', 10, 60000);

-- nothing comes: an empty page after wait_ms, with an iterator to go on
SELECT (kinesis.get_records(:'it', 10)).next_shard_iterator AS it2 \gset
SELECT cardinality(records), next_shard_iterator IS NOT NULL AS more,
       clock_timestamp() - statement_timestamp() >= interval '200 ms' AS waited
  FROM kinesis.get_records(:'it2', 10, 200);

-- a closed shard's end does not wait
SELECT kinesis.split_shard('wt', '0', 2);
SELECT cardinality(records), next_shard_iterator IS NULL AS ended, jsonb_array_length(child_shards) AS children
  FROM kinesis.get_records(:'it2', 10, 60000);

SELECT sqlerr($$SELECT kinesis.get_records('$$ || :'it' || $$', 10, -1)$$);
SELECT sqlerr($$SELECT kinesis.get_records('$$ || :'it' || $$', 10, 300001)$$);
SELECT sqlerr($$SELECT kinesis.get_records('$$ || :'it' || $$', 10, NULL)$$);
SELECT kinesis.delete_stream('wt');
