-- kinesis 0.2.0 -> 0.3.0: the lag of an application's lease
-- (kinesis.application_leases, application_status) is measured from the
-- arrival of the checkpointed record, and is 0 when no readable record
-- follows the checkpoint (it was the sub-second part of the newest
-- arrival).  Never edited once released.

\echo Use "ALTER EXTENSION kinesis UPDATE TO '0.3.0'" to load this file. \quit

-- the lag of a checkpoint behind its shard's newest record, for
-- application_leases (NULL without SELECT on the stream)
CREATE FUNCTION kinesis._checkpoint_lag(stream_name text, shard_index integer, checkpoint numeric)
RETURNS bigint
AS 'MODULE_PATHNAME', 'kinesis_checkpoint_lag' LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE VIEW kinesis.application_leases AS
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
