-- kinesis 0.2.0 -> 0.3.0: an application checkpointed at its shard's last
-- record lags by 0 ms in kinesis.application_leases (and
-- application_status), not by the sub-second part of the last arrival.
-- Never edited once released.

\echo Use "ALTER EXTENSION kinesis UPDATE TO '0.3.0'" to load this file. \quit

CREATE OR REPLACE VIEW kinesis.application_leases AS
SELECT a.application_name, s.stream_name,
       'shardId-' || lpad(l.shard_index::text, 12, '0') AS shard_id,
       l.lease_owner, l.lease_counter AS lease_token, l.checkpoint, l.shard_end,
       l.owner_switches_since_checkpoint, l.renewed_at AS last_heartbeat,
       l.lease_owner IS NOT NULL
         AND l.renewed_at <= now() - make_interval(secs => a.failover_time_ms / 1000.0) AS lease_expired,
       (SELECT CASE WHEN l.checkpoint IS NULL OR h.last_arrival IS NULL THEN NULL
                    -- checkpointed at the shard's last record (the counter,
                    -- bits 80-143 of the sequence number, is the last one
                    -- handed out): caught up
                    WHEN div(l.checkpoint, 1208925819614629174706176) % 18446744073709551616
                         >= h.next_counter - 1 THEN 0
                    ELSE greatest(0, (extract(epoch FROM h.last_arrival
                                              - kinesis.sequence_number_timestamp(l.checkpoint))
                                      * 1000)::bigint) END
          FROM kinesis._shard_horizon() h
         WHERE h.stream_id = a.stream_id AND h.shard_index = l.shard_index) AS millis_behind_latest
  FROM kinesis.leases l
  JOIN kinesis.applications a USING (application_name)
  JOIN kinesis.streams s ON s.stream_id = a.stream_id;
