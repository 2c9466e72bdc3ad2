-- kinesis: Kinesis-style data streams inside PostgreSQL.
-- This file is the full definition of the current version; the build copies
-- it to kinesis--<version>.sql.  Upgrades are adjacent kinesis--A--B.sql
-- scripts, never edited once released.

\echo Use "CREATE EXTENSION kinesis" to load this file. \quit

-- Refuse to install unless the library is in shared_preload_libraries.
CREATE FUNCTION kinesis._assert_loaded() RETURNS void
    AS 'MODULE_PATHNAME', 'kinesis_assert_loaded' LANGUAGE C VOLATILE;
SELECT kinesis._assert_loaded();

GRANT USAGE ON SCHEMA kinesis TO PUBLIC;

-- Record tables live here, one partitioned table per stream.  Granting
-- CREATE on this schema lets a role create streams.
CREATE SCHEMA kinesis_data;
GRANT USAGE ON SCHEMA kinesis_data TO PUBLIC;
COMMENT ON SCHEMA kinesis_data IS 'record tables of kinesis streams (do not write them directly)';

------------------------------------------------------------------------
-- Catalog
------------------------------------------------------------------------

CREATE TABLE kinesis.streams (
    stream_id               bigserial PRIMARY KEY,
    stream_name             text NOT NULL UNIQUE,
    stream_status           text NOT NULL
        CHECK (stream_status IN ('CREATING', 'ACTIVE', 'UPDATING', 'DELETING')),
    stream_mode             text NOT NULL
        CHECK (stream_mode IN ('PROVISIONED', 'ON_DEMAND')),
    retention_period_hours  integer NOT NULL
        CHECK (retention_period_hours BETWEEN 24 AND 8760),
    max_record_size_kib     integer NOT NULL DEFAULT 1024
        CHECK (max_record_size_kib BETWEEN 1024 AND 10240),
    encryption_type         text NOT NULL DEFAULT 'NONE',
    created_at              timestamptz NOT NULL,
    next_shard_index        integer NOT NULL
);
COMMENT ON TABLE kinesis.streams IS 'one row per stream';

CREATE TABLE kinesis.shards (
    stream_id                   bigint NOT NULL
        REFERENCES kinesis.streams ON DELETE CASCADE,
    shard_index                 integer NOT NULL CHECK (shard_index >= 0),
    parent_shard_index          integer,
    adjacent_parent_shard_index integer,
    starting_hash_key           numeric(39, 0) NOT NULL,
    ending_hash_key             numeric(39, 0) NOT NULL,
    created_at                  timestamptz NOT NULL,
    closed_at                   timestamptz,
    expired_at                  timestamptz,
    current_segment             smallint NOT NULL DEFAULT 0
        CHECK (current_segment BETWEEN 0 AND 2),
    PRIMARY KEY (stream_id, shard_index),
    CHECK (starting_hash_key <= ending_hash_key)
);
COMMENT ON TABLE kinesis.shards IS 'shards of every stream, open and closed, with their hash key ranges and lineage';

-- Each shard's records are partitioned by segment, three used as a ring:
-- new records go to the current one; maintenance moves on to the next and
-- truncates it once everything it held has expired.
CREATE TABLE kinesis.segments (
    stream_id       bigint NOT NULL,
    shard_index     integer NOT NULL,
    segment         smallint NOT NULL CHECK (segment BETWEEN 0 AND 2),
    start_counter   bigint NOT NULL,
    started_at      timestamptz NOT NULL,
    PRIMARY KEY (stream_id, shard_index, segment),
    FOREIGN KEY (stream_id, shard_index) REFERENCES kinesis.shards ON DELETE CASCADE
);
COMMENT ON TABLE kinesis.segments IS 'time-ranged segments of each shard: where its counters start and since when';

-- Every reshard and mode switch, by whom (operation) and why (detail).
CREATE TABLE kinesis.scaling_events (
    event_id            bigserial PRIMARY KEY,
    stream_id           bigint NOT NULL REFERENCES kinesis.streams ON DELETE CASCADE,
    happened_at         timestamptz NOT NULL DEFAULT now(),
    operation           text NOT NULL,
    open_shards_before  integer,
    open_shards_after   integer,
    detail              text
);
CREATE INDEX ON kinesis.scaling_events (stream_id, happened_at);
COMMENT ON TABLE kinesis.scaling_events IS 'every split, merge, shard count update, mode switch and autoscaling decision';

-- Per-minute metrics, flushed from shared memory by maintenance.  counters
-- holds the counters of src/kinesis.h's KinesisMetric in that order (a
-- storage format: new counters are only ever appended); the view
-- kinesis.metrics gives them their CloudWatch names.  shard_index -1 holds
-- a stream's call metrics; rows with a consumer_name hold a registered
-- consumer's reads of a shard in the GetRecords counters.  No foreign key: a flush must not lock stream
-- rows (delete_stream would deadlock with a maintenance pass); rows of
-- deleted streams are hidden by the view and deleted by the next flush.
CREATE TABLE kinesis.metric_minutes (
    stream_id       bigint NOT NULL,
    shard_index     integer NOT NULL,
    consumer_name   text NOT NULL DEFAULT '',
    minute          timestamptz NOT NULL,
    counters        bigint[] NOT NULL,
    PRIMARY KEY (stream_id, shard_index, consumer_name, minute)
);
CREATE INDEX ON kinesis.metric_minutes (minute);
COMMENT ON TABLE kinesis.metric_minutes IS 'per-minute counters of streams and shards; read kinesis.metrics instead';

-- Adds two counter arrays of metric_minutes, keeping the maxima (1-based
-- positions 5, 12, 20, 26, 27: iterator ages and latency maxima).
CREATE FUNCTION kinesis._merge_counters(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT pg_catalog.array_agg(CASE WHEN t.i IN (5, 12, 20, 26, 27)
                                     THEN GREATEST(t.x, t.y)
                                     ELSE coalesce(t.x, 0) + coalesce(t.y, 0) END
                                ORDER BY t.i)
      FROM ROWS FROM (pg_catalog.unnest(a), pg_catalog.unnest(b)) WITH ORDINALITY AS t(x, y, i)
$$;

-- Registered consumers (enhanced fan-out) of each stream.
CREATE TABLE kinesis.consumers (
    stream_id       bigint NOT NULL REFERENCES kinesis.streams ON DELETE CASCADE,
    consumer_name   text NOT NULL,
    consumer_status text NOT NULL DEFAULT 'ACTIVE',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, consumer_name)
);
COMMENT ON TABLE kinesis.consumers IS 'registered consumers of streams';

-- Consumer applications (application.c): one lease per shard, as in the
-- KCL lease table.  lease_counter changes with every change of owner and
-- is the token that fences checkpoints; renewed_at is the owner's last
-- call (server time).
CREATE TABLE kinesis.applications (
    application_name    text PRIMARY KEY,
    stream_id           bigint NOT NULL REFERENCES kinesis.streams ON DELETE CASCADE,
    initial_position    text NOT NULL,
    failover_time_ms    integer NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE kinesis.applications IS 'consumer applications: a stream, an initial position, a failover time';

CREATE TABLE kinesis.leases (
    application_name    text NOT NULL REFERENCES kinesis.applications ON DELETE CASCADE,
    shard_index         integer NOT NULL,
    lease_owner         text,
    lease_counter       bigint NOT NULL DEFAULT 0,
    checkpoint          numeric,
    shard_end           boolean NOT NULL DEFAULT false,
    owner_switches_since_checkpoint integer NOT NULL DEFAULT 0,
    renewed_at          timestamptz,
    PRIMARY KEY (application_name, shard_index)
);
COMMENT ON TABLE kinesis.leases IS 'the lease and checkpoint of each shard for each application';

CREATE TABLE kinesis.tags (
    stream_id   bigint NOT NULL REFERENCES kinesis.streams ON DELETE CASCADE,
    key         text NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (stream_id, key)
);
COMMENT ON TABLE kinesis.tags IS 'tags of streams';

GRANT SELECT ON kinesis.streams, kinesis.shards, kinesis.segments, kinesis.tags,
    kinesis.scaling_events, kinesis.metric_minutes, kinesis.consumers,
    kinesis.applications, kinesis.leases TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('kinesis.streams', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.streams_stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.shards', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.tags', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.segments', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.scaling_events', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.scaling_events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.metric_minutes', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.consumers', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.applications', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.leases', '');

-- The key that signs shard iterators; readable by its owner only.
CREATE FUNCTION kinesis._random_secret() RETURNS bytea
    AS 'MODULE_PATHNAME', 'kinesis_random_secret' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION kinesis._random_secret() FROM PUBLIC;
CREATE TABLE kinesis.iterator_secret (secret bytea NOT NULL);
REVOKE ALL ON kinesis.iterator_secret FROM PUBLIC;
INSERT INTO kinesis.iterator_secret VALUES (kinesis._random_secret());
COMMENT ON TABLE kinesis.iterator_secret IS 'per-database key of shard iterator MACs';

------------------------------------------------------------------------
-- Types
------------------------------------------------------------------------

CREATE TYPE kinesis.record AS (
    sequence_number                 numeric,
    approximate_arrival_timestamp   timestamptz,
    data                            bytea,
    partition_key                   text
);

CREATE TYPE kinesis.get_records_result AS (
    records                 kinesis.record[],
    next_shard_iterator     text,
    millis_behind_latest    bigint,
    child_shards            jsonb
);

CREATE TYPE kinesis.shard_count_update AS (
    stream_name             text,
    current_shard_count     integer,
    target_shard_count      integer
);

CREATE TYPE kinesis.stream_summary AS (
    stream_name                 text,
    stream_arn                  text,
    stream_status               text,
    stream_mode                 text,
    retention_period_hours      integer,
    stream_creation_timestamp   timestamptz,
    open_shard_count            integer,
    consumer_count              integer,
    encryption_type             text
);

------------------------------------------------------------------------
-- Helpers
------------------------------------------------------------------------

CREATE FUNCTION kinesis._stream_id(stream_name text) RETURNS bigint
    AS 'MODULE_PATHNAME', 'kinesis_stream_id' LANGUAGE C VOLATILE;

CREATE FUNCTION kinesis.stream_arn(stream_name text) RETURNS text
    AS 'MODULE_PATHNAME', 'kinesis_stream_arn' LANGUAGE C STABLE;
COMMENT ON FUNCTION kinesis.stream_arn(text) IS 'ARN of a stream name, from kinesis.region and kinesis.account_id';

CREATE FUNCTION kinesis.forbid_direct_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'kinesis_forbid_direct_write' LANGUAGE C;
COMMENT ON FUNCTION kinesis.forbid_direct_write() IS 'trigger that keeps stream tables append-only through the API';

------------------------------------------------------------------------
-- Control plane
------------------------------------------------------------------------

CREATE FUNCTION kinesis.create_stream(
    stream_name text,
    shard_count integer DEFAULT NULL,
    stream_mode text DEFAULT 'PROVISIONED',
    retention_period_hours integer DEFAULT 24,
    tags jsonb DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_create_stream' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.create_stream(text, integer, text, integer, jsonb) IS 'creates a stream with its shards (CreateStream)';

CREATE FUNCTION kinesis.delete_stream(
    stream_name text,
    enforce_consumer_deletion boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_delete_stream' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.delete_stream(text, boolean) IS 'deletes a stream and all its records (DeleteStream)';

CREATE FUNCTION kinesis.list_streams()
RETURNS TABLE(stream_name text, stream_arn text, stream_status text,
              stream_mode text, stream_creation_timestamp timestamptz)
LANGUAGE sql STABLE
AS $$
    SELECT kinesis._assert_loaded();
    SELECT s.stream_name, kinesis.stream_arn(s.stream_name), s.stream_status,
           s.stream_mode, s.created_at
      FROM kinesis.streams s
     ORDER BY s.stream_name;
$$;
COMMENT ON FUNCTION kinesis.list_streams() IS 'every stream of the database, by name (ListStreams)';

CREATE FUNCTION kinesis.describe_stream_summary(stream_name text)
RETURNS kinesis.stream_summary
LANGUAGE sql STABLE
AS $$
    SELECT s.stream_name, kinesis.stream_arn(s.stream_name), s.stream_status,
           s.stream_mode, s.retention_period_hours, s.created_at,
           (SELECT count(*)::integer FROM kinesis.shards h
             WHERE h.stream_id = s.stream_id AND h.closed_at IS NULL),
           (SELECT count(*)::integer FROM kinesis.consumers c WHERE c.stream_id = s.stream_id),
           s.encryption_type
      FROM (SELECT kinesis._stream_id($1) AS stream_id) i
      JOIN kinesis.streams s ON s.stream_id = i.stream_id;
$$;
COMMENT ON FUNCTION kinesis.describe_stream_summary(text) IS 'summary of a stream (DescribeStreamSummary)';

CREATE FUNCTION kinesis.list_shards(
    stream_name text,
    shard_filter_type text DEFAULT NULL,
    shard_filter_shard_id text DEFAULT NULL,
    shard_filter_timestamp timestamptz DEFAULT NULL)
RETURNS TABLE(shard_id text, parent_shard_id text, adjacent_parent_shard_id text,
              starting_hash_key numeric, ending_hash_key numeric,
              starting_sequence_number numeric, ending_sequence_number numeric)
AS 'MODULE_PATHNAME', 'kinesis_list_shards' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.list_shards(text, text, text, timestamptz) IS 'shards of a stream, by shard id (ListShards)';

CREATE FUNCTION kinesis.increase_stream_retention_period(
    stream_name text, retention_period_hours integer)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_increase_stream_retention_period' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.increase_stream_retention_period(text, integer) IS 'lengthens the retention period (IncreaseStreamRetentionPeriod)';

CREATE FUNCTION kinesis.decrease_stream_retention_period(
    stream_name text, retention_period_hours integer)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_decrease_stream_retention_period' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.decrease_stream_retention_period(text, integer) IS 'shortens the retention period (DecreaseStreamRetentionPeriod)';

CREATE FUNCTION kinesis.add_tags_to_stream(stream_name text, tags jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_add_tags_to_stream' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.add_tags_to_stream(text, jsonb) IS 'adds or overwrites tags (AddTagsToStream)';

CREATE FUNCTION kinesis.remove_tags_from_stream(stream_name text, tag_keys text[])
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_remove_tags_from_stream' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.remove_tags_from_stream(text, text[]) IS 'removes tags (RemoveTagsFromStream)';

CREATE FUNCTION kinesis.list_tags_for_stream(stream_name text)
RETURNS TABLE(key text, value text)
LANGUAGE sql STABLE
AS $$
    SELECT t.key, t.value
      FROM kinesis.tags t
     WHERE t.stream_id = (SELECT kinesis._stream_id($1))
     ORDER BY t.key;
$$;
COMMENT ON FUNCTION kinesis.list_tags_for_stream(text) IS 'tags of a stream, by key (ListTagsForStream)';

CREATE FUNCTION kinesis.split_shard(
    stream_name text, shard_to_split text, new_starting_hash_key numeric)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_split_shard' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.split_shard(text, text, numeric) IS 'closes a shard and opens two children splitting its hash key range (SplitShard)';

CREATE FUNCTION kinesis.merge_shards(
    stream_name text, shard_to_merge text, adjacent_shard_to_merge text)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_merge_shards' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.merge_shards(text, text, text) IS 'closes two adjacent shards and opens one child over both ranges (MergeShards)';

CREATE FUNCTION kinesis.update_shard_count(
    stream_name text, target_shard_count integer,
    scaling_type text DEFAULT 'UNIFORM_SCALING')
RETURNS kinesis.shard_count_update
AS 'MODULE_PATHNAME', 'kinesis_update_shard_count' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.update_shard_count(text, integer, text) IS 'scales to a number of shards with equal hash key ranges, through splits and merges (UpdateShardCount)';

CREATE FUNCTION kinesis.update_stream_mode(stream_name text, stream_mode text)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_update_stream_mode' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.update_stream_mode(text, text) IS 'switches between PROVISIONED and ON_DEMAND (UpdateStreamMode)';

CREATE TYPE kinesis.stream_consumer AS (
    consumer_name               text,
    consumer_arn                text,
    consumer_status             text,
    consumer_creation_timestamp timestamptz
);

CREATE FUNCTION kinesis.sequence_number_timestamp(sequence_number numeric)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'kinesis_sequence_number_timestamp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION kinesis.sequence_number_timestamp(numeric) IS 'the arrival second a sequence number carries';

CREATE FUNCTION kinesis.create_application(application_name text, stream_name text,
                                           initial_position text DEFAULT 'TRIM_HORIZON',
                                           failover_time_ms integer DEFAULT 10000)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_create_application' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.create_application(text, text, text, integer) IS 'creates a consumer application of a stream with a lease per shard';

CREATE FUNCTION kinesis.drop_application(application_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_drop_application' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.drop_application(text) IS 'drops a consumer application, its leases and checkpoints';

CREATE FUNCTION kinesis.acquire_leases(application_name text, worker_id text,
                                       max_leases integer DEFAULT NULL)
RETURNS TABLE(shard_id text, lease_token bigint, checkpoint numeric)
AS 'MODULE_PATHNAME', 'kinesis_acquire_leases' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.acquire_leases(text, text, integer) IS 'renews a worker''s leases, takes expired or free ones and balances them; returns the leases held';

CREATE FUNCTION kinesis.checkpoint(application_name text, shard_id text,
                                   sequence_number numeric, lease_token bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_checkpoint' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.checkpoint(text, text, numeric, bigint) IS 'records progress on a shard in the caller''s transaction, fenced by the lease token';

CREATE FUNCTION kinesis.consume(application_name text, worker_id text,
                                "limit" integer DEFAULT 1000, wait_ms integer DEFAULT 0)
RETURNS TABLE(shard_id text, lease_token bigint, sequence_number numeric,
              approximate_arrival_timestamp timestamptz, partition_key text, data bytea)
AS 'MODULE_PATHNAME', 'kinesis_consume' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.consume(text, text, integer, integer) IS 'the records of a worker''s leases after their checkpoints, in order per shard';

CREATE FUNCTION kinesis.release_leases(application_name text, worker_id text)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_release_leases' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.release_leases(text, text) IS 'gives a worker''s leases back';

CREATE FUNCTION kinesis.application_status(application_name text)
RETURNS TABLE(shard_id text, lease_owner text, lease_token bigint, checkpoint numeric,
              shard_end boolean, owner_switches_since_checkpoint integer,
              last_heartbeat timestamptz, lease_expired boolean, millis_behind_latest bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM kinesis.applications a WHERE a.application_name = $1) THEN
        RAISE EXCEPTION USING ERRCODE = 'KN001',
            MESSAGE = format('application "%s" does not exist', $1);
    END IF;
    RETURN QUERY
    SELECT v.shard_id, v.lease_owner, v.lease_token, v.checkpoint, v.shard_end,
           v.owner_switches_since_checkpoint, v.last_heartbeat, v.lease_expired,
           v.millis_behind_latest
      FROM kinesis.application_leases v
     WHERE v.application_name = $1
     ORDER BY v.shard_id;
END
$$;
COMMENT ON FUNCTION kinesis.application_status(text) IS 'per shard of an application: owner, token, checkpoint, last heartbeat, lag to the second';

CREATE TYPE kinesis.subscribe_to_shard_event AS (
    records                         kinesis.record[],
    continuation_sequence_number    numeric,
    millis_behind_latest            bigint,
    child_shards                    jsonb
);

CREATE FUNCTION kinesis.subscribe_to_shard(
    stream_name text, consumer_name text, shard_id text, starting_position_type text,
    starting_sequence_number numeric DEFAULT NULL, "timestamp" timestamptz DEFAULT NULL,
    wait_ms integer DEFAULT 5000, "limit" integer DEFAULT 10000)
RETURNS kinesis.subscribe_to_shard_event
AS 'MODULE_PATHNAME', 'kinesis_subscribe_to_shard' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.subscribe_to_shard(text, text, text, text, numeric, timestamptz, integer, integer) IS 'a registered consumer''s read: the records available, or the first new one within wait_ms (SubscribeToShard)';

CREATE FUNCTION kinesis.register_stream_consumer(stream_name text, consumer_name text)
RETURNS kinesis.stream_consumer
AS 'MODULE_PATHNAME', 'kinesis_register_stream_consumer' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.register_stream_consumer(text, text) IS 'registers a named consumer of a stream (RegisterStreamConsumer)';

CREATE FUNCTION kinesis.describe_stream_consumer(stream_name text, consumer_name text)
RETURNS kinesis.stream_consumer
AS 'MODULE_PATHNAME', 'kinesis_describe_stream_consumer' LANGUAGE C STABLE;
COMMENT ON FUNCTION kinesis.describe_stream_consumer(text, text) IS 'a registered consumer of a stream (DescribeStreamConsumer)';

CREATE FUNCTION kinesis.list_stream_consumers(stream_name text)
RETURNS SETOF kinesis.stream_consumer
AS 'MODULE_PATHNAME', 'kinesis_list_stream_consumers' LANGUAGE C STABLE;
COMMENT ON FUNCTION kinesis.list_stream_consumers(text) IS 'the registered consumers of a stream, by name (ListStreamConsumers)';

CREATE FUNCTION kinesis.deregister_stream_consumer(stream_name text, consumer_name text)
RETURNS void
AS 'MODULE_PATHNAME', 'kinesis_deregister_stream_consumer' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.deregister_stream_consumer(text, text) IS 'removes a registered consumer of a stream (DeregisterStreamConsumer)';

------------------------------------------------------------------------
-- Data plane
------------------------------------------------------------------------

CREATE FUNCTION kinesis.put_record(
    stream_name text,
    data bytea,
    partition_key text,
    explicit_hash_key numeric DEFAULT NULL,
    sequence_number_for_ordering numeric DEFAULT NULL)
RETURNS TABLE(shard_id text, sequence_number numeric)
AS 'MODULE_PATHNAME', 'kinesis_put_record' LANGUAGE C VOLATILE ROWS 1;
COMMENT ON FUNCTION kinesis.put_record(text, bytea, text, numeric, numeric) IS 'writes one record in the caller''s transaction (PutRecord)';

CREATE FUNCTION kinesis.put_records(
    stream_name text,
    data bytea[],
    partition_keys text[],
    explicit_hash_keys numeric[] DEFAULT NULL)
RETURNS TABLE(ordinality integer, shard_id text, sequence_number numeric,
              error_code text, error_message text)
AS 'MODULE_PATHNAME', 'kinesis_put_records' LANGUAGE C VOLATILE ROWS 500;
COMMENT ON FUNCTION kinesis.put_records(text, bytea[], text[], numeric[]) IS 'writes 1 to 500 records in the caller''s transaction (PutRecords)';

CREATE FUNCTION kinesis.get_shard_iterator(
    stream_name text,
    shard_id text,
    shard_iterator_type text,
    starting_sequence_number numeric DEFAULT NULL,
    "timestamp" timestamptz DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'kinesis_get_shard_iterator' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.get_shard_iterator(text, text, text, numeric, timestamptz) IS 'a position in a shard, valid for 5 minutes (GetShardIterator)';

CREATE FUNCTION kinesis.get_records(shard_iterator text, "limit" integer DEFAULT 10000,
                                    wait_ms integer DEFAULT 0)
RETURNS kinesis.get_records_result
AS 'MODULE_PATHNAME', 'kinesis_get_records' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.get_records(text, integer, integer) IS 'records at an iterator and the next iterator (GetRecords); waits up to wait_ms for a first record';

CREATE FUNCTION kinesis.read_records(
    stream_name text,
    shard_id text,
    after_sequence_number numeric DEFAULT NULL,
    "limit" integer DEFAULT 10000)
RETURNS SETOF kinesis.record
AS 'MODULE_PATHNAME', 'kinesis_read_records' LANGUAGE C VOLATILE ROWS 1000;
COMMENT ON FUNCTION kinesis.read_records(text, text, numeric, integer) IS 'records of a shard after a sequence number, streamed row by row';

------------------------------------------------------------------------
-- Capacity planning
------------------------------------------------------------------------

CREATE FUNCTION kinesis.estimate_shards(
    average_data_size_kb numeric,
    records_per_second numeric,
    number_of_consumers integer)
RETURNS TABLE(incoming_write_bandwidth_kb numeric, incoming_write_capacity_mb numeric,
              outgoing_read_bandwidth_kb numeric, outgoing_read_capacity_mb numeric,
              number_of_shards integer, total_write_capacity_mb numeric,
              total_read_capacity_mb numeric)
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
    PERFORM kinesis._assert_loaded();
    IF average_data_size_kb IS NULL OR records_per_second IS NULL
       OR number_of_consumers IS NULL THEN
        RAISE EXCEPTION 'arguments of estimate_shards must not be null'
            USING ERRCODE = 'KN008';
    END IF;
    IF average_data_size_kb < 0 OR records_per_second < 0 OR number_of_consumers < 0 THEN
        RAISE EXCEPTION 'arguments of estimate_shards must not be negative'
            USING ERRCODE = 'KN008';
    END IF;
    incoming_write_bandwidth_kb := trim_scale(average_data_size_kb * records_per_second);
    incoming_write_capacity_mb := trim_scale(incoming_write_bandwidth_kb / 1024);
    outgoing_read_bandwidth_kb := trim_scale(incoming_write_bandwidth_kb * number_of_consumers);
    outgoing_read_capacity_mb := trim_scale(outgoing_read_bandwidth_kb / 2048);
    number_of_shards := greatest(1, ceil(greatest(incoming_write_capacity_mb,
                                                  outgoing_read_capacity_mb,
                                                  records_per_second / 1000)))::integer;
    total_write_capacity_mb := number_of_shards;
    total_read_capacity_mb := number_of_shards * 2;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION kinesis.estimate_shards(numeric, numeric, integer) IS 'shards needed for a workload: 1 MB/s and 1,000 records/s in, 2 MB/s out per shard';

------------------------------------------------------------------------
-- Maintenance
------------------------------------------------------------------------

CREATE FUNCTION kinesis.run_maintenance()
RETURNS TABLE(stream_name text, shard_id text, action text, detail text)
AS 'MODULE_PATHNAME', 'kinesis_run_maintenance' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION kinesis.run_maintenance() FROM PUBLIC;
COMMENT ON FUNCTION kinesis.run_maintenance() IS 'one pass of the periodic work of this database''s streams: metrics flush, retention trimming, autoscaling (what the background worker does)';

------------------------------------------------------------------------
-- Monitoring
------------------------------------------------------------------------

CREATE VIEW kinesis.error_codes (sqlstate, exception_name) AS
VALUES ('KN001', 'ResourceNotFoundException'),
       ('KN002', 'ResourceInUseException'),
       ('KN003', 'InvalidArgumentException'),
       ('KN004', 'LimitExceededException'),
       ('KN005', 'ProvisionedThroughputExceededException'),
       ('KN006', 'ExpiredIteratorException'),
       ('KN007', 'ExpiredNextTokenException'),
       ('KN008', 'ValidationException');
COMMENT ON VIEW kinesis.error_codes IS 'the SQLSTATEs of class KN and the Kinesis exceptions they stand for';

CREATE FUNCTION kinesis._shard_horizon(
    OUT stream_id bigint, OUT shard_index integer, OUT next_counter bigint,
    OUT stable_counter bigint, OUT last_arrival timestamptz,
    OUT in_flight_writers integer, OUT oldest_writer_pid integer,
    OUT oldest_writer_since timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kinesis_shard_horizon' LANGUAGE C VOLATILE;

CREATE VIEW kinesis.shard_horizon AS
SELECT s.stream_name,
       'shardId-' || lpad(h.shard_index::text, 12, '0') AS shard_id,
       h.in_flight_writers,
       h.oldest_writer_pid,
       h.oldest_writer_since,
       now() - h.oldest_writer_since AS oldest_writer_age,
       h.last_arrival AS last_put_timestamp
  FROM kinesis._shard_horizon() h
  JOIN kinesis.streams s USING (stream_id);
COMMENT ON VIEW kinesis.shard_horizon IS 'per shard in use since the server started: the in-flight writers that hold its readers back';

CREATE FUNCTION kinesis._workers(
    OUT kind text, OUT database oid, OUT pid integer, OUT state text,
    OUT started_at timestamptz, OUT last_run timestamptz,
    OUT last_error_at timestamptz, OUT last_error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kinesis_workers' LANGUAGE C VOLATILE;

CREATE VIEW kinesis.workers AS
SELECT w.kind, d.datname AS database, w.pid, w.state, w.started_at,
       w.last_run, w.last_error_at, w.last_error
  FROM kinesis._workers() w
  LEFT JOIN pg_catalog.pg_database d ON d.oid = w.database;
COMMENT ON VIEW kinesis.workers IS 'the launcher and the maintenance worker of each database: pid, last pass, last error';

CREATE VIEW kinesis.stream_tables AS
SELECT s.stream_name,
       to_regclass(format('%I.%I', 'kinesis_data', 'stream_' || s.stream_id)) AS table_name
  FROM kinesis.streams s;
COMMENT ON VIEW kinesis.stream_tables IS 'the record table of each stream, for GRANT and direct reading';

GRANT SELECT ON kinesis.error_codes, kinesis.shard_horizon, kinesis.stream_tables,
    kinesis.workers TO PUBLIC;

-- Have the launcher start this database's maintenance worker (it waits
-- for this transaction to end).
CREATE FUNCTION kinesis._launcher_wake() RETURNS void
    AS 'MODULE_PATHNAME', 'kinesis_launcher_wake' LANGUAGE C VOLATILE;
SELECT kinesis._launcher_wake();

-- The metrics of spec/kinesis-api.md section 12 by CloudWatch name, one row
-- per stream (shard_id NULL) or shard, minute and metric.  Latencies and
-- ages are in milliseconds; samples counts calls where it applies, so
-- average is the mean latency or, for *.Success, the success rate.
CREATE VIEW kinesis.metrics AS
WITH defs (metric_name, unit, level, stream_too, sum_at, samples_at, max_at, scale) AS (
    VALUES
    ('IncomingBytes', 'Bytes', 'shard', true, 1, NULL, NULL, 1),
    ('IncomingRecords', 'Count', 'shard', true, 2, NULL, NULL, 1),
    ('OutgoingBytes', 'Bytes', 'shard', false, 3, NULL, NULL, 1),
    ('OutgoingRecords', 'Count', 'shard', false, 4, NULL, NULL, 1),
    ('IteratorAgeMilliseconds', 'Milliseconds', 'shard', false, NULL, NULL, 5, 1),
    ('ReadProvisionedThroughputExceeded', 'Count', 'shard', true, 6, NULL, NULL, 1),
    ('WriteProvisionedThroughputExceeded', 'Count', 'shard', true, 7, NULL, NULL, 1),
    ('PutRecord.Success', 'Count', 'stream', false, 9, 8, NULL, 1),
    ('PutRecord.Bytes', 'Bytes', 'stream', false, 10, NULL, NULL, 1),
    ('PutRecord.Latency', 'Milliseconds', 'stream', false, 11, 9, 12, 1000),
    ('PutRecords.Success', 'Count', 'stream', false, 14, 13, NULL, 1),
    ('PutRecords.TotalRecords', 'Count', 'stream', false, 15, NULL, NULL, 1),
    ('PutRecords.SuccessfulRecords', 'Count', 'stream', false, 16, NULL, NULL, 1),
    ('PutRecords.ThrottledRecords', 'Count', 'stream', false, 17, NULL, NULL, 1),
    ('PutRecords.Bytes', 'Bytes', 'stream', false, 18, NULL, NULL, 1),
    ('PutRecords.Latency', 'Milliseconds', 'stream', false, 19, 13, 20, 1000),
    ('GetRecords.Success', 'Count', 'stream', false, 22, 21, NULL, 1),
    ('GetRecords.Bytes', 'Bytes', 'stream', false, 23, NULL, NULL, 1),
    ('GetRecords.Records', 'Count', 'stream', false, 24, NULL, NULL, 1),
    ('GetRecords.Latency', 'Milliseconds', 'stream', false, 25, 22, 26, 1000),
    ('GetRecords.IteratorAgeMilliseconds', 'Milliseconds', 'stream', false, NULL, NULL, 27, 1),
    ('SubscribeToShardEvent.Success', 'Count', 'consumer', false, 22, NULL, NULL, 1),
    ('SubscribeToShardEvent.Bytes', 'Bytes', 'consumer', false, 23, NULL, NULL, 1),
    ('SubscribeToShardEvent.Records', 'Count', 'consumer', false, 24, NULL, NULL, 1),
    ('SubscribeToShardEvent.MillisBehindLatest', 'Milliseconds', 'consumer', false, NULL, NULL, 27, 1)
),
metric_rows AS (
    SELECT m.stream_id, m.shard_index, nullif(m.consumer_name, '') AS consumer_name,
           m.minute, d.metric_name, d.unit, d.stream_too,
           CASE WHEN d.scale = 1 THEN m.counters[d.sum_at]::numeric
                ELSE round(m.counters[d.sum_at]::numeric / d.scale, 3) END AS sum,
           m.counters[d.samples_at] AS samples,
           CASE WHEN d.scale = 1 THEN m.counters[d.max_at]::numeric
                ELSE round(m.counters[d.max_at]::numeric / d.scale, 3) END AS maximum
      FROM kinesis.metric_minutes m
      JOIN defs d ON d.level = CASE WHEN m.consumer_name <> '' THEN 'consumer'
                                    WHEN m.shard_index >= 0 THEN 'shard' ELSE 'stream' END
),
stream_rows AS (
    SELECT stream_id, -1 AS shard_index, NULL::text AS consumer_name, minute, metric_name, unit,
           false AS stream_too,
           sum(sum) AS sum, NULL::bigint AS samples, NULL::numeric AS maximum
      FROM metric_rows
     WHERE stream_too
     GROUP BY stream_id, minute, metric_name, unit
)
SELECT s.stream_name,
       CASE WHEN r.shard_index >= 0 THEN 'shardId-' || lpad(r.shard_index::text, 12, '0') END AS shard_id,
       r.consumer_name, r.minute, r.metric_name, r.unit, r.sum, r.samples,
       CASE WHEN r.samples > 0 THEN round(r.sum / r.samples, 3) END AS average,
       r.maximum
  FROM (SELECT * FROM metric_rows UNION ALL SELECT * FROM stream_rows) r
  JOIN kinesis.streams s USING (stream_id);
COMMENT ON VIEW kinesis.metrics IS 'per-minute CloudWatch metrics of streams (shard_id NULL), shards and registered consumers';
GRANT SELECT ON kinesis.metrics TO PUBLIC;

-- the lag of a checkpoint behind its shard's newest record, for
-- application_leases (NULL without SELECT on the stream)
CREATE FUNCTION kinesis._checkpoint_lag(stream_name text, shard_index integer, checkpoint numeric)
RETURNS bigint
AS 'MODULE_PATHNAME', 'kinesis_checkpoint_lag' LANGUAGE C VOLATILE STRICT;

-- Every lease of every application: owner and last heartbeat, checkpoint,
-- and lag behind the shard's newest record (to the second; NULL before a
-- checkpoint or when the shard had no put since the server started).
CREATE VIEW kinesis.application_leases AS
SELECT a.application_name, s.stream_name,
       'shardId-' || lpad(l.shard_index::text, 12, '0') AS shard_id,
       l.lease_owner, l.lease_counter AS lease_token, l.checkpoint, l.shard_end,
       l.owner_switches_since_checkpoint, l.renewed_at AS last_heartbeat,
       l.lease_owner IS NOT NULL
         AND l.renewed_at <= now() - make_interval(secs => a.failover_time_ms / 1000.0) AS lease_expired,
       kinesis._checkpoint_lag(s.stream_name, l.shard_index, l.checkpoint) AS millis_behind_latest
  FROM kinesis.leases l
  JOIN kinesis.applications a USING (application_name)
  JOIN kinesis.streams s ON s.stream_id = a.stream_id;
COMMENT ON VIEW kinesis.application_leases IS 'every lease of every consumer application: owner, heartbeat, checkpoint, lag';
GRANT SELECT ON kinesis.application_leases TO PUBLIC;
