-- Resharding: split_shard, merge_shards, update_shard_count,
-- update_stream_mode.  Parents close (ending sequence number set),
-- children open with higher shard ids, sequence numbers above every
-- parent's, and readers reach them from the end of the parent.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT kinesis.create_stream('rs', 1);
SELECT count(*) FROM kinesis.put_records('rs', ARRAY['p1', 'p2']::bytea[], ARRAY['a', 'b']);

-- split at 2^127: the worked example of spec/kinesis-api.md 6.2
SELECT kinesis.split_shard('rs', 'shardId-000000000000', 170141183460469231731687303715884105728);
SELECT shard_id, parent_shard_id, adjacent_parent_shard_id, starting_hash_key, ending_hash_key,
       ending_sequence_number IS NOT NULL AS closed
  FROM kinesis.list_shards('rs');
SELECT open_shard_count FROM kinesis.describe_stream_summary('rs');

-- the parent's ending number is above its records and below every child's
SELECT (SELECT max(sequence_number) FROM kinesis.read_records('rs', '0'))
           < (SELECT ending_sequence_number FROM kinesis.list_shards('rs') WHERE shard_id = 'shardId-000000000000') AS below_end,
       (SELECT ending_sequence_number FROM kinesis.list_shards('rs') WHERE shard_id = 'shardId-000000000000')
           < (SELECT min(starting_sequence_number) FROM kinesis.list_shards('rs', 'AT_LATEST')) AS children_above;

-- new records go to the children
SELECT k, (SELECT shard_id FROM kinesis.put_record('rs', 'c1', k)) AS shard_id FROM unnest(ARRAY['a', 'b']) k;
SELECT count(*) AS parent_records FROM kinesis.read_records('rs', '0');

-- a reader of the parent reaches its end: no next iterator, the children
SELECT cardinality(records), next_shard_iterator IS NULL AS ended, millis_behind_latest,
       jsonb_pretty(child_shards)
  FROM kinesis.get_records(kinesis.get_shard_iterator('rs', '0', 'TRIM_HORIZON'));
-- also when it has read everything before
SELECT next_shard_iterator IS NULL AS ended, jsonb_array_length(child_shards) AS children
  FROM kinesis.get_records(kinesis.get_shard_iterator('rs', '0', 'LATEST'));
-- an open shard always has a next iterator
SELECT next_shard_iterator IS NOT NULL AS open, child_shards IS NULL AS no_children
  FROM kinesis.get_records(kinesis.get_shard_iterator('rs', '1', 'TRIM_HORIZON'));
-- the ending sequence number positions at the end of the closed shard
SELECT cardinality(records), next_shard_iterator IS NULL AS ended
  FROM kinesis.get_records(kinesis.get_shard_iterator('rs', '0', 'AT_SEQUENCE_NUMBER',
       (SELECT ending_sequence_number FROM kinesis.list_shards('rs') WHERE shard_id = 'shardId-000000000000')));

-- per partition key, records of the parent come before those of the child
SELECT r.partition_key, string_agg(convert_from(r.data, 'UTF8'), ',' ORDER BY r.sequence_number) AS in_order
  FROM kinesis.list_shards('rs') l, kinesis.read_records('rs', l.shard_id) r
 GROUP BY 1 ORDER BY 1;

-- merge the two children back: one child with both as parents
SELECT kinesis.merge_shards('rs', 'shardId-000000000001', 'shardId-000000000002');
SELECT shard_id, parent_shard_id, adjacent_parent_shard_id, starting_hash_key, ending_hash_key
  FROM kinesis.list_shards('rs', 'AT_LATEST');
SELECT jsonb_pretty(child_shards)
  FROM kinesis.get_records(kinesis.get_shard_iterator('rs', '2', 'LATEST'));

-- list_shards filters see open and closed shards
SELECT shard_id FROM kinesis.list_shards('rs', 'AFTER_SHARD_ID', 'shardId-000000000001');
SELECT shard_id FROM kinesis.list_shards('rs', 'AT_TIMESTAMP', NULL, now() - interval '1 hour');
SELECT count(*) FROM kinesis.list_shards('rs', 'FROM_TIMESTAMP', NULL, now() - interval '1 hour');
SELECT count(*) FROM kinesis.list_shards('rs', 'FROM_TRIM_HORIZON');

-- Kinesis' rules
SELECT sqlerr($$SELECT kinesis.split_shard('rs', '0', 2)$$);
SELECT sqlerr($$SELECT kinesis.merge_shards('rs', '1', '2')$$);
SELECT sqlerr($$SELECT kinesis.split_shard('rs', '9', 2)$$);
SELECT sqlerr($$SELECT kinesis.split_shard('rs', 'bogus', 2)$$);
SELECT sqlerr($$SELECT kinesis.split_shard('rs', '3', 1)$$);
SELECT sqlerr($$SELECT kinesis.split_shard('rs', '3', 0)$$);
SELECT sqlerr($$SELECT kinesis.split_shard('rs', '3', 340282366920938463463374607431768211455)$$);
SELECT sqlerr($$SELECT kinesis.split_shard('rs', '3', 340282366920938463463374607431768211456)$$);
SELECT sqlerr($$SELECT kinesis.split_shard('rs', '3', NULL)$$);
SELECT sqlerr($$SELECT kinesis.split_shard('rs', NULL, 2)$$);
SELECT sqlerr($$SELECT kinesis.split_shard('nosuch', '3', 2)$$);
SELECT kinesis.split_shard('rs', '3', 2);
SELECT sqlerr($$SELECT kinesis.merge_shards('rs', '5', '4')$$);
SELECT sqlerr($$SELECT kinesis.merge_shards('rs', '4', '4')$$);
SELECT kinesis.merge_shards('rs', '4', '5');
SELECT shard_id, starting_hash_key, ending_hash_key FROM kinesis.list_shards('rs', 'AT_LATEST');

-- update_shard_count: uniform ranges through splits and merges
SELECT * FROM kinesis.update_shard_count('rs', 2);
SELECT starting_hash_key, ending_hash_key FROM kinesis.list_shards('rs', 'AT_LATEST') ORDER BY 1;
SELECT * FROM kinesis.update_shard_count('rs', 3);
SELECT starting_hash_key, ending_hash_key FROM kinesis.list_shards('rs', 'AT_LATEST') ORDER BY 1;
-- lineage: every shard has one parent (split) or two (merge), and covers
-- exactly its parents' ranges or half of one
SELECT count(*) AS shards,
       count(*) FILTER (WHERE parent_shard_id IS NULL) AS roots,
       count(*) FILTER (WHERE adjacent_parent_shard_id IS NOT NULL) AS merges
  FROM kinesis.list_shards('rs');
SELECT * FROM kinesis.update_shard_count('rs', 2);
SELECT starting_hash_key, ending_hash_key FROM kinesis.list_shards('rs', 'AT_LATEST') ORDER BY 1;
SELECT * FROM kinesis.update_shard_count('rs', 2);
SELECT sqlerr($$SELECT kinesis.update_shard_count('rs', 5)$$);
SELECT sqlerr($$SELECT kinesis.update_shard_count('rs', 0)$$);
SELECT sqlerr($$SELECT kinesis.update_shard_count('rs', 4, 'RANDOM_SCALING')$$);
SELECT sqlerr($$SELECT kinesis.update_shard_count('rs', NULL)$$);
SELECT * FROM kinesis.update_shard_count('rs', 1);
SELECT sqlerr($$SELECT kinesis.update_shard_count('rs', 3)$$);

-- every record is still readable, in order per key, across all generations
SELECT count(*) FROM generate_series(1, 20) i, LATERAL kinesis.put_record('rs', ('x' || i)::bytea, 'key-' || (i % 3));
SELECT r.partition_key, count(*),
       bool_and(convert_from(r.data, 'UTF8') = 'x' || ((ord - 1) * 3 + (CASE r.partition_key WHEN 'key-0' THEN 3 WHEN 'key-1' THEN 1 ELSE 2 END))) AS in_put_order
  FROM (SELECT r.*, row_number() OVER (PARTITION BY r.partition_key ORDER BY l.shard_id, r.sequence_number) AS ord
          FROM kinesis.list_shards('rs') l, kinesis.read_records('rs', l.shard_id) r
         WHERE r.partition_key LIKE 'key-%') r
 GROUP BY 1 ORDER BY 1;

-- the history of scaling operations
SELECT operation, open_shards_before, open_shards_after FROM kinesis.scaling_events
 WHERE stream_id = (SELECT stream_id FROM kinesis.streams WHERE stream_name = 'rs')
 ORDER BY event_id;

-- at most 10 update_shard_count per 24 hours
SELECT count(*) FROM generate_series(1, 6) i, LATERAL kinesis.update_shard_count('rs', 1 + i % 2);
SELECT sqlerr($$SELECT kinesis.update_shard_count('rs', 2)$$);

-- stream modes: on-demand streams reshard themselves; two switches a day
SELECT kinesis.update_stream_mode('rs', 'ON_DEMAND');
SELECT stream_mode FROM kinesis.describe_stream_summary('rs');
SELECT sqlerr($$SELECT kinesis.split_shard('rs', '0', 2)$$);
SELECT sqlerr($$SELECT kinesis.update_shard_count('rs', 2)$$);
SELECT kinesis.update_stream_mode('rs', 'ON_DEMAND');
SELECT kinesis.update_stream_mode('rs', 'PROVISIONED');
SELECT sqlerr($$SELECT kinesis.update_stream_mode('rs', 'ON_DEMAND')$$);
SELECT sqlerr($$SELECT kinesis.update_stream_mode('rs', 'SOMETIMES')$$);

-- closed shards whose records have all expired leave list_shards
SET kinesis.debug_clock_offset = '25h';
SELECT action, count(*) FROM kinesis.run_maintenance() WHERE stream_name = 'rs' GROUP BY 1 ORDER BY 1;
RESET kinesis.debug_clock_offset;
SELECT count(*) FILTER (WHERE ending_sequence_number IS NULL) AS open,
       count(*) FILTER (WHERE ending_sequence_number IS NOT NULL) AS closed
  FROM kinesis.list_shards('rs');
SELECT sqlerr($$SELECT kinesis.get_shard_iterator('rs', '0', 'TRIM_HORIZON')$$);
SELECT count(*) AS parents_still_named FROM kinesis.list_shards('rs') WHERE parent_shard_id IS NOT NULL;

SELECT kinesis.delete_stream('rs');
