-- kinesis 0.1.0 -> 0.2.0: resharding, throughput limits, autoscaling,
-- metrics.  Never edited once released.

\echo Use "ALTER EXTENSION kinesis UPDATE TO '0.2.0'" to load this file. \quit

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

GRANT SELECT ON kinesis.scaling_events, kinesis.metric_minutes, kinesis.consumers,
    kinesis.applications, kinesis.leases TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('kinesis.scaling_events', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.scaling_events_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.metric_minutes', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.consumers', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.applications', '');
SELECT pg_catalog.pg_extension_config_dump('kinesis.leases', '');

CREATE TYPE kinesis.shard_count_update AS (
    stream_name             text,
    current_shard_count     integer,
    target_shard_count      integer
);

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

-- consumer_count counts the registered consumers
CREATE OR REPLACE FUNCTION kinesis.describe_stream_summary(stream_name text)
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

-- get_records waits for records when asked (wait_ms)
DROP FUNCTION kinesis.get_records(text, integer);
CREATE FUNCTION kinesis.get_records(shard_iterator text, "limit" integer DEFAULT 10000,
                                    wait_ms integer DEFAULT 0)
RETURNS kinesis.get_records_result
AS 'MODULE_PATHNAME', 'kinesis_get_records' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kinesis.get_records(text, integer, integer) IS 'records at an iterator and the next iterator (GetRecords); waits up to wait_ms for a first record';

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

COMMENT ON FUNCTION kinesis.run_maintenance() IS 'one pass of the periodic work of this database''s streams: metrics flush, retention trimming, autoscaling (what the background worker does)';

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
       (SELECT CASE WHEN l.checkpoint IS NOT NULL AND h.last_arrival IS NOT NULL THEN
                    greatest(0, (extract(epoch FROM h.last_arrival
                                         - kinesis.sequence_number_timestamp(l.checkpoint))
                                 * 1000)::bigint) END
          FROM kinesis._shard_horizon() h
         WHERE h.stream_id = a.stream_id AND h.shard_index = l.shard_index) AS millis_behind_latest
  FROM kinesis.leases l
  JOIN kinesis.applications a USING (application_name)
  JOIN kinesis.streams s ON s.stream_id = a.stream_id;
COMMENT ON VIEW kinesis.application_leases IS 'every lease of every consumer application: owner, heartbeat, checkpoint, lag';
GRANT SELECT ON kinesis.application_leases TO PUBLIC;
