-- The SQL contract of API.md: every function of the Control plane, Data
-- plane and Capacity planning sections with its argument types, names and
-- defaults and its result; the composite types; kinesis.error_codes.
BEGIN;
SELECT plan(103);

-- "name type" of each input argument, from proargnames/proargmodes
CREATE FUNCTION pg_temp.in_args(f regprocedure) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(a.n || ' ' || format_type(a.t, NULL) ORDER BY a.o), '{}')
      FROM pg_proc p,
           unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                  p.proargnames,
                  coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.pronargs::int])))
               WITH ORDINALITY AS a(t, n, m, o)
     WHERE p.oid = f AND a.m IN ('i', 'b', 'v')
$$;

-- "name type" of each result column of a RETURNS TABLE function
CREATE FUNCTION pg_temp.out_cols(f regprocedure) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(a.n || ' ' || format_type(a.t, NULL) ORDER BY a.o), '{}')
      FROM pg_proc p,
           unnest(p.proallargtypes, p.proargnames, p.proargmodes)
               WITH ORDINALITY AS a(t, n, m, o)
     WHERE p.oid = f AND a.m IN ('o', 'b', 't')
$$;

-- "name type" of each attribute of a composite type
CREATE FUNCTION pg_temp.type_cols(t regtype) RETURNS text[] LANGUAGE sql AS $$
    SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
      FROM pg_type y JOIN pg_attribute a ON a.attrelid = y.typrelid
     WHERE y.oid = t AND a.attnum > 0 AND NOT a.attisdropped
$$;

------------------------------------------------------------------------
-- Control plane
------------------------------------------------------------------------

-- create_stream
SELECT has_function('kinesis', 'create_stream', ARRAY['text', 'integer', 'text', 'integer', 'jsonb'],
    'create_stream(text, int, text, int, jsonb) exists');
SELECT function_returns('kinesis', 'create_stream', ARRAY['text', 'integer', 'text', 'integer', 'jsonb'], 'void',
    'create_stream returns void');
SELECT is(pg_temp.in_args('kinesis.create_stream(text, integer, text, integer, jsonb)'),
    ARRAY['stream_name text', 'shard_count integer', 'stream_mode text',
          'retention_period_hours integer', 'tags jsonb'],
    'create_stream argument names');
SELECT is(pg_get_function_arguments('kinesis.create_stream(text, integer, text, integer, jsonb)'::regprocedure),
    'stream_name text, shard_count integer DEFAULT NULL::integer, stream_mode text DEFAULT ''PROVISIONED''::text, retention_period_hours integer DEFAULT 24, tags jsonb DEFAULT NULL::jsonb',
    'create_stream defaults: shard_count NULL, stream_mode PROVISIONED, retention 24, tags NULL');

-- delete_stream
SELECT has_function('kinesis', 'delete_stream', ARRAY['text', 'boolean'],
    'delete_stream(text, boolean) exists');
SELECT function_returns('kinesis', 'delete_stream', ARRAY['text', 'boolean'], 'void',
    'delete_stream returns void');
SELECT is(pg_temp.in_args('kinesis.delete_stream(text, boolean)'),
    ARRAY['stream_name text', 'enforce_consumer_deletion boolean'],
    'delete_stream argument names');
SELECT is(pg_get_function_arguments('kinesis.delete_stream(text, boolean)'::regprocedure),
    'stream_name text, enforce_consumer_deletion boolean DEFAULT false',
    'delete_stream default: enforce_consumer_deletion false');

-- list_streams
SELECT has_function('kinesis', 'list_streams', ARRAY[]::text[],
    'list_streams() exists');
SELECT function_returns('kinesis', 'list_streams', ARRAY[]::text[], 'setof record',
    'list_streams returns a table');
SELECT is(pg_temp.in_args('kinesis.list_streams()'), ARRAY[]::text[],
    'list_streams takes no arguments');
SELECT is(pg_get_function_arguments('kinesis.list_streams()'::regprocedure), '',
    'list_streams argument list is empty');
SELECT is(pg_temp.out_cols('kinesis.list_streams()'),
    ARRAY['stream_name text', 'stream_arn text', 'stream_status text', 'stream_mode text',
          'stream_creation_timestamp timestamp with time zone'],
    'list_streams result columns');

-- describe_stream_summary
SELECT has_function('kinesis', 'describe_stream_summary', ARRAY['text'],
    'describe_stream_summary(text) exists');
SELECT function_returns('kinesis', 'describe_stream_summary', ARRAY['text'], 'kinesis.stream_summary',
    'describe_stream_summary returns kinesis.stream_summary');
SELECT is(pg_temp.in_args('kinesis.describe_stream_summary(text)'),
    ARRAY['stream_name text'],
    'describe_stream_summary argument names');
SELECT is(pg_get_function_arguments('kinesis.describe_stream_summary(text)'::regprocedure),
    'stream_name text',
    'describe_stream_summary has no defaults');

-- list_shards
SELECT has_function('kinesis', 'list_shards', ARRAY['text', 'text', 'text', 'timestamp with time zone'],
    'list_shards(text, text, text, timestamptz) exists');
SELECT function_returns('kinesis', 'list_shards', ARRAY['text', 'text', 'text', 'timestamp with time zone'],
    'setof record', 'list_shards returns a table');
SELECT is(pg_temp.in_args('kinesis.list_shards(text, text, text, timestamptz)'),
    ARRAY['stream_name text', 'shard_filter_type text', 'shard_filter_shard_id text',
          'shard_filter_timestamp timestamp with time zone'],
    'list_shards argument names');
SELECT is(pg_get_function_arguments('kinesis.list_shards(text, text, text, timestamptz)'::regprocedure),
    'stream_name text, shard_filter_type text DEFAULT NULL::text, shard_filter_shard_id text DEFAULT NULL::text, shard_filter_timestamp timestamp with time zone DEFAULT NULL::timestamp with time zone',
    'list_shards defaults: the filter arguments are NULL');
SELECT is(pg_temp.out_cols('kinesis.list_shards(text, text, text, timestamptz)'),
    ARRAY['shard_id text', 'parent_shard_id text', 'adjacent_parent_shard_id text',
          'starting_hash_key numeric', 'ending_hash_key numeric',
          'starting_sequence_number numeric', 'ending_sequence_number numeric'],
    'list_shards result columns');

-- increase_stream_retention_period
SELECT has_function('kinesis', 'increase_stream_retention_period', ARRAY['text', 'integer'],
    'increase_stream_retention_period(text, int) exists');
SELECT function_returns('kinesis', 'increase_stream_retention_period', ARRAY['text', 'integer'], 'void',
    'increase_stream_retention_period returns void');
SELECT is(pg_temp.in_args('kinesis.increase_stream_retention_period(text, integer)'),
    ARRAY['stream_name text', 'retention_period_hours integer'],
    'increase_stream_retention_period argument names');
SELECT is(pg_get_function_arguments('kinesis.increase_stream_retention_period(text, integer)'::regprocedure),
    'stream_name text, retention_period_hours integer',
    'increase_stream_retention_period has no defaults');

-- decrease_stream_retention_period
SELECT has_function('kinesis', 'decrease_stream_retention_period', ARRAY['text', 'integer'],
    'decrease_stream_retention_period(text, int) exists');
SELECT function_returns('kinesis', 'decrease_stream_retention_period', ARRAY['text', 'integer'], 'void',
    'decrease_stream_retention_period returns void');
SELECT is(pg_temp.in_args('kinesis.decrease_stream_retention_period(text, integer)'),
    ARRAY['stream_name text', 'retention_period_hours integer'],
    'decrease_stream_retention_period argument names');
SELECT is(pg_get_function_arguments('kinesis.decrease_stream_retention_period(text, integer)'::regprocedure),
    'stream_name text, retention_period_hours integer',
    'decrease_stream_retention_period has no defaults');

-- add_tags_to_stream
SELECT has_function('kinesis', 'add_tags_to_stream', ARRAY['text', 'jsonb'],
    'add_tags_to_stream(text, jsonb) exists');
SELECT function_returns('kinesis', 'add_tags_to_stream', ARRAY['text', 'jsonb'], 'void',
    'add_tags_to_stream returns void');
SELECT is(pg_temp.in_args('kinesis.add_tags_to_stream(text, jsonb)'),
    ARRAY['stream_name text', 'tags jsonb'],
    'add_tags_to_stream argument names');
SELECT is(pg_get_function_arguments('kinesis.add_tags_to_stream(text, jsonb)'::regprocedure),
    'stream_name text, tags jsonb',
    'add_tags_to_stream has no defaults');

-- remove_tags_from_stream
SELECT has_function('kinesis', 'remove_tags_from_stream', ARRAY['text', 'text[]'],
    'remove_tags_from_stream(text, text[]) exists');
SELECT function_returns('kinesis', 'remove_tags_from_stream', ARRAY['text', 'text[]'], 'void',
    'remove_tags_from_stream returns void');
SELECT is(pg_temp.in_args('kinesis.remove_tags_from_stream(text, text[])'),
    ARRAY['stream_name text', 'tag_keys text[]'],
    'remove_tags_from_stream argument names');
SELECT is(pg_get_function_arguments('kinesis.remove_tags_from_stream(text, text[])'::regprocedure),
    'stream_name text, tag_keys text[]',
    'remove_tags_from_stream has no defaults');

-- list_tags_for_stream
SELECT has_function('kinesis', 'list_tags_for_stream', ARRAY['text'],
    'list_tags_for_stream(text) exists');
SELECT function_returns('kinesis', 'list_tags_for_stream', ARRAY['text'], 'setof record',
    'list_tags_for_stream returns a table');
SELECT is(pg_temp.in_args('kinesis.list_tags_for_stream(text)'),
    ARRAY['stream_name text'],
    'list_tags_for_stream argument names');
SELECT is(pg_get_function_arguments('kinesis.list_tags_for_stream(text)'::regprocedure),
    'stream_name text',
    'list_tags_for_stream has no defaults');
SELECT is(pg_temp.out_cols('kinesis.list_tags_for_stream(text)'),
    ARRAY['key text', 'value text'],
    'list_tags_for_stream result columns');

------------------------------------------------------------------------
-- Data plane
------------------------------------------------------------------------

-- put_record
SELECT has_function('kinesis', 'put_record', ARRAY['text', 'bytea', 'text', 'numeric', 'numeric'],
    'put_record(text, bytea, text, numeric, numeric) exists');
SELECT function_returns('kinesis', 'put_record', ARRAY['text', 'bytea', 'text', 'numeric', 'numeric'],
    'setof record', 'put_record returns a table');
SELECT is(pg_temp.in_args('kinesis.put_record(text, bytea, text, numeric, numeric)'),
    ARRAY['stream_name text', 'data bytea', 'partition_key text',
          'explicit_hash_key numeric', 'sequence_number_for_ordering numeric'],
    'put_record argument names');
SELECT is(pg_get_function_arguments('kinesis.put_record(text, bytea, text, numeric, numeric)'::regprocedure),
    'stream_name text, data bytea, partition_key text, explicit_hash_key numeric DEFAULT NULL::numeric, sequence_number_for_ordering numeric DEFAULT NULL::numeric',
    'put_record defaults: explicit_hash_key and sequence_number_for_ordering NULL');
SELECT is(pg_temp.out_cols('kinesis.put_record(text, bytea, text, numeric, numeric)'),
    ARRAY['shard_id text', 'sequence_number numeric'],
    'put_record result columns');

-- put_records
SELECT has_function('kinesis', 'put_records', ARRAY['text', 'bytea[]', 'text[]', 'numeric[]'],
    'put_records(text, bytea[], text[], numeric[]) exists');
SELECT function_returns('kinesis', 'put_records', ARRAY['text', 'bytea[]', 'text[]', 'numeric[]'],
    'setof record', 'put_records returns a table');
SELECT is(pg_temp.in_args('kinesis.put_records(text, bytea[], text[], numeric[])'),
    ARRAY['stream_name text', 'data bytea[]', 'partition_keys text[]', 'explicit_hash_keys numeric[]'],
    'put_records argument names');
SELECT is(pg_get_function_arguments('kinesis.put_records(text, bytea[], text[], numeric[])'::regprocedure),
    'stream_name text, data bytea[], partition_keys text[], explicit_hash_keys numeric[] DEFAULT NULL::numeric[]',
    'put_records default: explicit_hash_keys NULL');
SELECT is(pg_temp.out_cols('kinesis.put_records(text, bytea[], text[], numeric[])'),
    ARRAY['ordinality integer', 'shard_id text', 'sequence_number numeric',
          'error_code text', 'error_message text'],
    'put_records result columns');

-- get_shard_iterator
SELECT has_function('kinesis', 'get_shard_iterator',
    ARRAY['text', 'text', 'text', 'numeric', 'timestamp with time zone'],
    'get_shard_iterator(text, text, text, numeric, timestamptz) exists');
SELECT function_returns('kinesis', 'get_shard_iterator',
    ARRAY['text', 'text', 'text', 'numeric', 'timestamp with time zone'], 'text',
    'get_shard_iterator returns text');
SELECT is(pg_temp.in_args('kinesis.get_shard_iterator(text, text, text, numeric, timestamptz)'),
    ARRAY['stream_name text', 'shard_id text', 'shard_iterator_type text',
          'starting_sequence_number numeric', 'timestamp timestamp with time zone'],
    'get_shard_iterator argument names');
SELECT is(pg_get_function_arguments('kinesis.get_shard_iterator(text, text, text, numeric, timestamptz)'::regprocedure),
    'stream_name text, shard_id text, shard_iterator_type text, starting_sequence_number numeric DEFAULT NULL::numeric, "timestamp" timestamp with time zone DEFAULT NULL::timestamp with time zone',
    'get_shard_iterator defaults: starting_sequence_number and "timestamp" NULL');

-- get_records (API.md's two arguments, and issue 5's wait_ms)
SELECT has_function('kinesis', 'get_records', ARRAY['text', 'integer', 'integer'],
    'get_records(text, int, int) exists');
SELECT function_returns('kinesis', 'get_records', ARRAY['text', 'integer', 'integer'], 'kinesis.get_records_result',
    'get_records returns kinesis.get_records_result');
SELECT is(pg_temp.in_args('kinesis.get_records(text, integer, integer)'),
    ARRAY['shard_iterator text', 'limit integer', 'wait_ms integer'],
    'get_records argument names');
SELECT is(pg_get_function_arguments('kinesis.get_records(text, integer, integer)'::regprocedure),
    'shard_iterator text, "limit" integer DEFAULT 10000, wait_ms integer DEFAULT 0',
    'get_records defaults: "limit" 10000, wait_ms 0');

-- read_records
SELECT has_function('kinesis', 'read_records', ARRAY['text', 'text', 'numeric', 'integer'],
    'read_records(text, text, numeric, int) exists');
SELECT function_returns('kinesis', 'read_records', ARRAY['text', 'text', 'numeric', 'integer'],
    'setof kinesis.record', 'read_records returns setof kinesis.record');
SELECT is(pg_temp.in_args('kinesis.read_records(text, text, numeric, integer)'),
    ARRAY['stream_name text', 'shard_id text', 'after_sequence_number numeric', 'limit integer'],
    'read_records argument names');
SELECT is(pg_get_function_arguments('kinesis.read_records(text, text, numeric, integer)'::regprocedure),
    'stream_name text, shard_id text, after_sequence_number numeric DEFAULT NULL::numeric, "limit" integer DEFAULT 10000',
    'read_records defaults: after_sequence_number NULL, "limit" 10000');

------------------------------------------------------------------------
-- Capacity planning
------------------------------------------------------------------------

SELECT has_function('kinesis', 'estimate_shards', ARRAY['numeric', 'numeric', 'integer'],
    'estimate_shards(numeric, numeric, int) exists');
SELECT function_returns('kinesis', 'estimate_shards', ARRAY['numeric', 'numeric', 'integer'],
    'setof record', 'estimate_shards returns a table');
SELECT is(pg_temp.in_args('kinesis.estimate_shards(numeric, numeric, integer)'),
    ARRAY['average_data_size_kb numeric', 'records_per_second numeric', 'number_of_consumers integer'],
    'estimate_shards argument names');
SELECT is(pg_get_function_arguments('kinesis.estimate_shards(numeric, numeric, integer)'::regprocedure),
    'average_data_size_kb numeric, records_per_second numeric, number_of_consumers integer',
    'estimate_shards has no defaults');
SELECT is(pg_temp.out_cols('kinesis.estimate_shards(numeric, numeric, integer)'),
    ARRAY['incoming_write_bandwidth_kb numeric', 'incoming_write_capacity_mb numeric',
          'outgoing_read_bandwidth_kb numeric', 'outgoing_read_capacity_mb numeric',
          'number_of_shards integer', 'total_write_capacity_mb numeric',
          'total_read_capacity_mb numeric'],
    'estimate_shards result columns');

-- one signature per API function, so that calls by name are never ambiguous
SELECT is_empty($$
    SELECT proname FROM pg_proc
     WHERE pronamespace = 'kinesis'::regnamespace
       AND proname IN ('create_stream', 'delete_stream', 'list_streams', 'describe_stream_summary',
                       'list_shards', 'increase_stream_retention_period',
                       'decrease_stream_retention_period', 'add_tags_to_stream',
                       'remove_tags_from_stream', 'list_tags_for_stream', 'put_record',
                       'put_records', 'get_shard_iterator', 'get_records', 'read_records',
                       'estimate_shards')
     GROUP BY proname HAVING count(*) > 1$$,
    'every API function has exactly one signature');

------------------------------------------------------------------------
-- Lifecycle (issue 4) and consumers (issue 5): argument names and types,
-- results, as the issues give them
------------------------------------------------------------------------

SELECT is(pg_temp.in_args('kinesis.split_shard(text, text, numeric)'),
    ARRAY['stream_name text', 'shard_to_split text', 'new_starting_hash_key numeric'],
    'split_shard arguments');
SELECT is(pg_temp.in_args('kinesis.merge_shards(text, text, text)'),
    ARRAY['stream_name text', 'shard_to_merge text', 'adjacent_shard_to_merge text'],
    'merge_shards arguments');
SELECT is(pg_get_function_arguments('kinesis.update_shard_count(text, integer, text)'::regprocedure),
    'stream_name text, target_shard_count integer, scaling_type text DEFAULT ''UNIFORM_SCALING''::text',
    'update_shard_count arguments and default');
SELECT is(pg_temp.type_cols('kinesis.shard_count_update'),
    ARRAY['stream_name text', 'current_shard_count integer', 'target_shard_count integer'],
    'kinesis.shard_count_update is (stream_name, current_shard_count, target_shard_count)');
SELECT function_returns('kinesis', 'update_shard_count', ARRAY['text', 'integer', 'text'],
    'kinesis.shard_count_update', 'update_shard_count returns kinesis.shard_count_update');
SELECT is(pg_temp.in_args('kinesis.update_stream_mode(text, text)'),
    ARRAY['stream_name text', 'stream_mode text'], 'update_stream_mode arguments');
SELECT is(pg_temp.type_cols('kinesis.stream_consumer'),
    ARRAY['consumer_name text', 'consumer_arn text', 'consumer_status text',
          'consumer_creation_timestamp timestamp with time zone'],
    'kinesis.stream_consumer is (consumer_name, consumer_arn, consumer_status, consumer_creation_timestamp)');
SELECT is(pg_temp.in_args(f::regprocedure), ARRAY['stream_name text', 'consumer_name text'],
          f || ' arguments')
  FROM unnest(ARRAY['kinesis.register_stream_consumer(text, text)',
                    'kinesis.describe_stream_consumer(text, text)',
                    'kinesis.deregister_stream_consumer(text, text)']) f;
SELECT function_returns('kinesis', 'register_stream_consumer', ARRAY['text', 'text'],
    'kinesis.stream_consumer', 'register_stream_consumer returns kinesis.stream_consumer');
SELECT function_returns('kinesis', 'describe_stream_consumer', ARRAY['text', 'text'],
    'kinesis.stream_consumer', 'describe_stream_consumer returns kinesis.stream_consumer');
SELECT function_returns('kinesis', 'list_stream_consumers', ARRAY['text'],
    'setof kinesis.stream_consumer', 'list_stream_consumers returns a set of kinesis.stream_consumer');
SELECT function_returns('kinesis', 'deregister_stream_consumer', ARRAY['text', 'text'],
    'void', 'deregister_stream_consumer returns void');

-- consumer applications (issue 5)
SELECT is(pg_get_function_arguments('kinesis.create_application(text, text, text, integer)'::regprocedure),
    'application_name text, stream_name text, initial_position text DEFAULT ''TRIM_HORIZON''::text, failover_time_ms integer DEFAULT 10000',
    'create_application arguments and defaults');
SELECT is(pg_get_function_arguments('kinesis.acquire_leases(text, text, integer)'::regprocedure),
    'application_name text, worker_id text, max_leases integer DEFAULT NULL::integer',
    'acquire_leases arguments and default');
SELECT is(pg_temp.out_cols('kinesis.acquire_leases(text, text, integer)'),
    ARRAY['shard_id text', 'lease_token bigint', 'checkpoint numeric'], 'acquire_leases result columns');
SELECT is(pg_get_function_arguments('kinesis.consume(text, text, integer, integer)'::regprocedure),
    'application_name text, worker_id text, "limit" integer DEFAULT 1000, wait_ms integer DEFAULT 0',
    'consume arguments and defaults');
SELECT is(pg_temp.out_cols('kinesis.consume(text, text, integer, integer)'),
    ARRAY['shard_id text', 'lease_token bigint', 'sequence_number numeric',
          'approximate_arrival_timestamp timestamp with time zone', 'partition_key text', 'data bytea'],
    'consume result columns');
SELECT is(pg_temp.in_args('kinesis.checkpoint(text, text, numeric, bigint)'),
    ARRAY['application_name text', 'shard_id text', 'sequence_number numeric', 'lease_token bigint'],
    'checkpoint arguments');
SELECT is(pg_temp.in_args('kinesis.release_leases(text, text)'),
    ARRAY['application_name text', 'worker_id text'], 'release_leases arguments');
SELECT is(pg_temp.in_args('kinesis.drop_application(text)'),
    ARRAY['application_name text'], 'drop_application arguments');
SELECT is(pg_get_function_arguments('kinesis.subscribe_to_shard(text, text, text, text, numeric, timestamp with time zone, integer, integer)'::regprocedure),
    'stream_name text, consumer_name text, shard_id text, starting_position_type text, starting_sequence_number numeric DEFAULT NULL::numeric, "timestamp" timestamp with time zone DEFAULT NULL::timestamp with time zone, wait_ms integer DEFAULT 5000, "limit" integer DEFAULT 10000',
    'subscribe_to_shard arguments and defaults');

------------------------------------------------------------------------
-- Composite types
------------------------------------------------------------------------

SELECT has_composite('kinesis', 'record', 'type kinesis.record exists');
SELECT is(pg_temp.type_cols('kinesis.record'),
    ARRAY['sequence_number numeric', 'approximate_arrival_timestamp timestamp with time zone',
          'data bytea', 'partition_key text'],
    'kinesis.record is (sequence_number, approximate_arrival_timestamp, data, partition_key)');

SELECT has_composite('kinesis', 'get_records_result', 'type kinesis.get_records_result exists');
SELECT is(pg_temp.type_cols('kinesis.get_records_result'),
    ARRAY['records kinesis.record[]', 'next_shard_iterator text',
          'millis_behind_latest bigint', 'child_shards jsonb'],
    'kinesis.get_records_result is (records, next_shard_iterator, millis_behind_latest, child_shards)');

SELECT has_composite('kinesis', 'stream_summary', 'type kinesis.stream_summary exists');
SELECT is(pg_temp.type_cols('kinesis.stream_summary'),
    ARRAY['stream_name text', 'stream_arn text', 'stream_status text', 'stream_mode text',
          'retention_period_hours integer', 'stream_creation_timestamp timestamp with time zone',
          'open_shard_count integer', 'consumer_count integer', 'encryption_type text'],
    'kinesis.stream_summary columns');

------------------------------------------------------------------------
-- Errors
------------------------------------------------------------------------

SELECT ok((SELECT relkind IN ('r', 'v', 'm') FROM pg_class WHERE oid = to_regclass('kinesis.error_codes')),
    'kinesis.error_codes is a table or view');
SELECT is(ARRAY(SELECT attname::text FROM pg_attribute
                  WHERE attrelid = to_regclass('kinesis.error_codes') AND attnum > 0 AND NOT attisdropped
                  ORDER BY attnum),
    ARRAY['sqlstate', 'exception_name'],
    'kinesis.error_codes has columns sqlstate and exception_name');
SELECT results_eq(
    'SELECT sqlstate::text, exception_name::text FROM kinesis.error_codes ORDER BY sqlstate',
    $$VALUES ('KN001', 'ResourceNotFoundException'),
             ('KN002', 'ResourceInUseException'),
             ('KN003', 'InvalidArgumentException'),
             ('KN004', 'LimitExceededException'),
             ('KN005', 'ProvisionedThroughputExceededException'),
             ('KN006', 'ExpiredIteratorException'),
             ('KN007', 'ExpiredNextTokenException'),
             ('KN008', 'ValidationException')$$,
    'kinesis.error_codes lists exactly KN001..KN008 with their Kinesis exceptions');

SELECT * FROM finish();
ROLLBACK;
