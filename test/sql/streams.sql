-- Control plane: create, list, describe, list_shards, retention, tags, delete.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT kinesis.create_stream('orders', 3);
SELECT kinesis.create_stream('clicks', 4, retention_period_hours => 48,
                             tags => '{"team": "web", "env": "prod"}');
SELECT kinesis.create_stream('auto', stream_mode => 'ON_DEMAND');

SELECT stream_name, stream_arn, stream_status, stream_mode,
       stream_creation_timestamp <= now() AS created_in_past
  FROM kinesis.list_streams();

SELECT stream_name, stream_arn, stream_status, stream_mode, retention_period_hours,
       open_shard_count, consumer_count, encryption_type
  FROM kinesis.describe_stream_summary('clicks');
SELECT open_shard_count FROM kinesis.describe_stream_summary('auto');

-- initial hash key ranges: floor(2^128/N), the last shard absorbs the rest
SELECT shard_id, parent_shard_id, adjacent_parent_shard_id,
       starting_hash_key, ending_hash_key, ending_sequence_number
  FROM kinesis.list_shards('orders');

-- starting sequence numbers: AWS layout, consecutive shards 22300745198530623141535718272648361505980432 apart
SELECT length(starting_sequence_number::text) AS digits,
       starting_sequence_number - lag(starting_sequence_number) OVER (ORDER BY shard_id) AS step
  FROM kinesis.list_shards('orders');

-- the same, field by field: 2 | creation second | index nibble | counter 0 |
-- 00 | creation second | shard index | 2
SELECT l.shard_id, l.starting_sequence_number =
         2 * 16::numeric ^ 46
       + extract(epoch FROM h.created_at)::numeric * (16::numeric ^ 37 + 16::numeric ^ 9)
       + (h.shard_index % 16) * 16::numeric ^ 36
       + h.shard_index * 16 + 2 AS aws_layout
  FROM kinesis.list_shards('orders') l
  JOIN kinesis.shards h ON 'shardId-' || lpad(h.shard_index::text, 12, '0') = l.shard_id
 WHERE h.stream_id = (SELECT stream_id FROM kinesis.streams WHERE stream_name = 'orders');

-- shard filters
SELECT shard_id FROM kinesis.list_shards('orders', 'AFTER_SHARD_ID', 'shardId-000000000000');
SELECT shard_id FROM kinesis.list_shards('orders', 'AFTER_SHARD_ID', '1');
SELECT count(*) FROM kinesis.list_shards('orders', 'AT_LATEST');
SELECT count(*) FROM kinesis.list_shards('orders', 'AT_TRIM_HORIZON');
SELECT count(*) FROM kinesis.list_shards('orders', 'FROM_TRIM_HORIZON');
SELECT count(*) FROM kinesis.list_shards('orders', 'AT_TIMESTAMP', NULL, now());
SELECT count(*) FROM kinesis.list_shards('orders', 'FROM_TIMESTAMP', NULL, now() - interval '1 day');
SELECT sqlerr($$SELECT count(*) FROM kinesis.list_shards('orders', 'AT_TIMESTAMP', NULL, now() + interval '1 day')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.list_shards('orders', 'AFTER_SHARD_ID')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.list_shards('orders', 'AT_LATEST', 'shardId-000000000000')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.list_shards('orders', 'AT_TIMESTAMP')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.list_shards('orders', 'SOMEWHERE')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.list_shards('orders', 'AFTER_SHARD_ID', 'shardId-x')$$);
SELECT sqlerr($$SELECT count(*) FROM kinesis.list_shards('nosuch')$$);

-- the record tables: one partition per shard, named by ids, not by user text
SELECT stream_name, table_name::text ~ '^kinesis_data\.stream_\d+$' AS named_by_id
  FROM kinesis.stream_tables ORDER BY stream_name;
SELECT regexp_replace(c.relname, '^stream_\d+_', 'stream_N_') AS relname, c.relkind, pg_get_partition_constraintdef(c.oid) IS NOT NULL AS partition
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = (SELECT table_name FROM kinesis.stream_tables WHERE stream_name = 'orders')
 ORDER BY c.relname;

-- retention
SELECT kinesis.increase_stream_retention_period('orders', 72);
SELECT kinesis.increase_stream_retention_period('orders', 72);
SELECT kinesis.decrease_stream_retention_period('orders', 48);
SELECT retention_period_hours FROM kinesis.describe_stream_summary('orders');
SELECT sqlerr($$SELECT kinesis.increase_stream_retention_period('orders', 24)$$);
SELECT sqlerr($$SELECT kinesis.decrease_stream_retention_period('orders', 96)$$);
SELECT sqlerr($$SELECT kinesis.increase_stream_retention_period('orders', 8761)$$);
SELECT sqlerr($$SELECT kinesis.decrease_stream_retention_period('orders', 23)$$);
SELECT sqlerr($$SELECT kinesis.increase_stream_retention_period('orders', NULL)$$);
SELECT sqlerr($$SELECT kinesis.increase_stream_retention_period('nosuch', 48)$$);
SELECT retention_period_hours FROM kinesis.describe_stream_summary('orders');

-- tags
SELECT * FROM kinesis.list_tags_for_stream('clicks');
SELECT kinesis.add_tags_to_stream('clicks', '{"env": "staging", "owner": "ana@example.com"}');
SELECT * FROM kinesis.list_tags_for_stream('clicks');
SELECT kinesis.remove_tags_from_stream('clicks', ARRAY['env', 'missing']);
SELECT * FROM kinesis.list_tags_for_stream('clicks');
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('clicks', '{"aws:secret": "x"}')$$);
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('clicks', '{"bad<char>": "x"}')$$);
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('clicks', '{"n": 1}')$$);
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('clicks', '["a"]')$$);
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('clicks', '{}')$$);
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('clicks', jsonb_build_object(repeat('k', 129), 'v'))$$);
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('clicks', jsonb_build_object('k', repeat('v', 257)))$$);
SELECT sqlerr($$SELECT kinesis.add_tags_to_stream('clicks',
    (SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 49) i))$$);
SELECT sqlerr($$SELECT kinesis.remove_tags_from_stream('clicks', ARRAY[]::text[])$$);
SELECT sqlerr($$SELECT kinesis.remove_tags_from_stream('clicks', ARRAY[NULL]::text[])$$);
-- none of the refused calls changed anything
SELECT * FROM kinesis.list_tags_for_stream('clicks');
SELECT sqlerr($$SELECT * FROM kinesis.list_tags_for_stream('nosuch')$$);

-- create_stream refusals write nothing
SELECT sqlerr($$SELECT kinesis.create_stream('orders', 2)$$);
SELECT sqlerr($$SELECT kinesis.create_stream('', 1)$$);
SELECT sqlerr($$SELECT kinesis.create_stream(repeat('x', 129), 1)$$);
SELECT sqlerr($$SELECT kinesis.create_stream('has space', 1)$$);
SELECT sqlerr($$SELECT kinesis.create_stream(NULL, 1)$$);
SELECT sqlerr($$SELECT kinesis.create_stream('s1')$$);
SELECT sqlerr($$SELECT kinesis.create_stream('s1', 0)$$);
SELECT sqlerr($$SELECT kinesis.create_stream('s1', 1, 'SOMETIMES')$$);
SELECT sqlerr($$SELECT kinesis.create_stream('s1', 1, retention_period_hours => 23)$$);
SELECT sqlerr($$SELECT kinesis.create_stream('s1', 1, retention_period_hours => 8761)$$);
SELECT sqlerr($$SELECT kinesis.create_stream('s1', 100000)$$);
SELECT sqlerr($$SELECT kinesis.create_stream('s1', 1, tags => '{"aws:x": "y"}')$$);
SELECT sqlerr($$SELECT kinesis.create_stream('s1', 1, tags =>
    (SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 51) i))$$);
SELECT count(*) AS streams FROM kinesis.streams;
SELECT count(*) AS tables FROM pg_class WHERE relnamespace = 'kinesis_data'::regnamespace;

-- names are case-sensitive and may use _ . -
SELECT kinesis.create_stream('My_Stream.v1-a', 1);
SELECT kinesis.create_stream('my_stream.v1-a', 1);
SELECT stream_name FROM kinesis.list_streams() WHERE stream_name ILIKE 'my%';

-- delete
SELECT kinesis.delete_stream('My_Stream.v1-a');
SELECT kinesis.delete_stream('my_stream.v1-a', enforce_consumer_deletion => true);
SELECT sqlerr($$SELECT kinesis.delete_stream('My_Stream.v1-a')$$);
SELECT kinesis.delete_stream('orders');
SELECT kinesis.delete_stream('clicks');
SELECT kinesis.delete_stream('auto');
SELECT count(*) AS streams FROM kinesis.streams;
SELECT count(*) AS shards FROM kinesis.shards;
SELECT count(*) AS tags FROM kinesis.tags;
SELECT count(*) AS tables FROM pg_class WHERE relnamespace = 'kinesis_data'::regnamespace;

-- a stream can be re-created under the same name
SELECT kinesis.create_stream('orders', 1);
SELECT count(*) FROM kinesis.list_shards('orders');
SELECT kinesis.delete_stream('orders');

-- error codes
SELECT * FROM kinesis.error_codes ORDER BY sqlstate;
