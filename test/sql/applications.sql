-- Consumer applications: leases per shard, balanced over live workers,
-- taken over after the failover time, fenced by the lease token; children
-- leased only after their parents were checkpointed at SHARD_END.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT kinesis.create_stream('ap', 4);
SELECT count(*) FROM kinesis.put_records('ap', ARRAY['r0', 'r1', 'r2', 'r3', 'r4']::bytea[], ARRAY['z', 'a', 'b', 'c', 'd'],
                                         ARRAY[0, 0, 100000000000000000000000000000000000000,
                                               200000000000000000000000000000000000000,
                                               300000000000000000000000000000000000000]::numeric[]);
SELECT kinesis.create_application('app', 'ap', failover_time_ms => 300);
-- the application is a registered consumer of its stream
SELECT consumer_name FROM kinesis.list_stream_consumers('ap');

-- one worker takes every lease; the tokens count owner changes
SELECT shard_id, lease_token, checkpoint FROM kinesis.acquire_leases('app', 'w1');
-- a second live worker gets its share by stealing, one lease per call
SELECT shard_id, lease_token FROM kinesis.acquire_leases('app', 'w2');
SELECT shard_id FROM kinesis.acquire_leases('app', 'w1');
SELECT shard_id FROM kinesis.acquire_leases('app', 'w2');
SELECT lease_owner, count(*) FROM kinesis.application_status('app') GROUP BY 1 ORDER BY 1;

-- checkpoints: with the current token, never backwards, in the caller's transaction
SELECT lease_token AS t0 FROM kinesis.application_status('app') WHERE shard_id = 'shardId-000000000000' \gset
SELECT min(sequence_number) AS s00, max(sequence_number) AS s0 FROM kinesis.read_records('ap', '0') \gset
BEGIN;
SELECT kinesis.checkpoint('app', 'shardId-000000000000', :s0, :t0);
ROLLBACK;
SELECT checkpoint IS NULL AS rolled_back FROM kinesis.application_status('app') WHERE shard_id = 'shardId-000000000000';
SELECT kinesis.checkpoint('app', '0', :s0, :t0);
SELECT checkpoint = :s0 AS checkpointed, owner_switches_since_checkpoint FROM kinesis.application_status('app') WHERE shard_id = 'shardId-000000000000';
SELECT sqlerr(format('SELECT kinesis.checkpoint(%L, %L, %s, %s)', 'app', '0', :s00, :t0));
SELECT sqlerr(format('SELECT kinesis.checkpoint(%L, %L, %s, %s)', 'app', '0', :s0, :t0 + 1));

-- w1 goes silent: after the failover time w2 takes its leases over, and w1's
-- checkpoints are refused
SELECT pg_sleep(0.4);
SELECT count(*) FROM kinesis.acquire_leases('app', 'w2');
SELECT lease_owner, count(*), bool_and(lease_token > :t0) AS new_tokens
  FROM kinesis.application_status('app') GROUP BY 1 ORDER BY 1;
SELECT sqlerr(format('SELECT kinesis.checkpoint(%L, %L, %s, %s)', 'app', '0', :s0, :t0));
SELECT checkpoint = :s0 AS unchanged FROM kinesis.application_status('app') WHERE shard_id = 'shardId-000000000000';

-- a split: the children wait for their parent's SHARD_END checkpoint
SELECT kinesis.split_shard('ap', '0', 2);
SELECT shard_id FROM kinesis.acquire_leases('app', 'w2');
SELECT lease_token AS t0b FROM kinesis.application_status('app') WHERE shard_id = 'shardId-000000000000' \gset
SELECT ending_sequence_number AS end0 FROM kinesis.list_shards('ap') WHERE shard_id = 'shardId-000000000000' \gset
SELECT kinesis.checkpoint('app', '0', :end0, :t0b);
SELECT shard_id FROM kinesis.acquire_leases('app', 'w2');
SELECT shard_id, shard_end FROM kinesis.application_status('app') WHERE shard_id <= 'shardId-000000000000' OR shard_end;

-- SHARD_END skips nothing: checkpoint refuses it while a record follows
-- the lease's checkpoint; consume checkpoints a closed shard there itself
-- once nothing follows, returning at once instead of waiting
SELECT kinesis.create_stream('se', 1);
SELECT count(*) FROM kinesis.put_records('se', ARRAY['s1', 's2']::bytea[], ARRAY['k', 'k']);
SELECT kinesis.create_application('sea', 'se');
SELECT lease_token AS tse FROM kinesis.acquire_leases('sea', 'w') \gset
SELECT kinesis.split_shard('se', '0', 170141183460469231731687303715884105728);
SELECT ending_sequence_number AS endse FROM kinesis.list_shards('se') WHERE shard_id = 'shardId-000000000000' \gset
SELECT min(sequence_number) AS se1, max(sequence_number) AS se2 FROM kinesis.read_records('se', '0') \gset
SELECT sqlerr(format('SELECT kinesis.checkpoint(%L, %L, %s, %s)', 'sea', '0', :endse, :tse));
SELECT kinesis.checkpoint('sea', '0', :se1, :tse);
SELECT sqlerr(format('SELECT kinesis.checkpoint(%L, %L, %s, %s)', 'sea', '0', :endse, :tse));
SELECT checkpoint = :se1 AS unchanged, shard_end FROM kinesis.application_status('sea') WHERE shard_id = 'shardId-000000000000';
SELECT shard_id, convert_from(data, 'UTF8') AS data FROM kinesis.consume('sea', 'w');
SELECT shard_end FROM kinesis.application_status('sea') WHERE shard_id = 'shardId-000000000000';
SELECT kinesis.checkpoint('sea', '0', :se2, :tse);
SET statement_timeout = '10s';
SELECT count(*) FROM kinesis.consume('sea', 'w', wait_ms => 60000);
RESET statement_timeout;
SELECT shard_end, checkpoint = :endse AS at_ending, lease_token = :tse AS same_token
  FROM kinesis.application_status('sea') WHERE shard_id = 'shardId-000000000000';
SELECT shard_id FROM kinesis.acquire_leases('sea', 'w') ORDER BY 1;
-- at SHARD_END already: checkpointing there again changes nothing
SELECT kinesis.checkpoint('sea', '0', :endse, :tse);
SELECT kinesis.drop_application('sea');
SELECT kinesis.delete_stream('se');

-- release: the leases lose their owner and the tokens stop working
SELECT lease_token AS t1 FROM kinesis.application_status('app') WHERE shard_id = 'shardId-000000000001' \gset
SELECT kinesis.release_leases('app', 'w2');
SELECT count(*) FILTER (WHERE lease_owner IS NOT NULL) AS owned FROM kinesis.application_status('app');
SELECT sqlerr(format('SELECT kinesis.checkpoint(%L, %L, %s, %s)', 'app', '1',
              (SELECT sequence_number FROM kinesis.read_records('ap', '1')), :t1));

-- max_leases caps a worker
SELECT count(*) FROM kinesis.acquire_leases('app', 'w3', max_leases => 2);

-- LATEST starts after what is there
SELECT kinesis.create_application('late', 'ap', 'LATEST');
SELECT count(*) FILTER (WHERE checkpoint IS NOT NULL) AS positioned,
       count(*) FILTER (WHERE shard_end) AS closed_done
  FROM kinesis.application_status('late');

-- consume: the records of the worker's leases after their checkpoints, in
-- order per shard; only the worker's checkpoints move them
SELECT kinesis.create_application('cons', 'ap');
SELECT count(*) FROM kinesis.acquire_leases('cons', 'w');
SELECT shard_id, lease_token, convert_from(data, 'UTF8') AS data
  FROM kinesis.consume('cons', 'w') ORDER BY shard_id, sequence_number;
SELECT count(*) AS not_mine FROM kinesis.consume('cons', 'stranger');

-- consume renews a lease only when a third of the failover time has
-- passed since its last renewal (now() is the transaction's start): a call
-- in the transaction of acquire_leases updates no lease, one in a
-- transaction that starts later renews them all
SELECT kinesis.create_application('renew', 'ap', failover_time_ms => 300);
CREATE FUNCTION lease_updates() RETURNS bigint LANGUAGE sql
  AS $$SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = 'kinesis.leases'::regclass$$;
BEGIN;
SELECT count(*) FROM kinesis.acquire_leases('renew', 'w');
SELECT lease_updates() AS upd0, max(last_heartbeat) AS hb0
  FROM kinesis.application_status('renew') \gset
SELECT count(*) > 0 AS got FROM kinesis.consume('renew', 'w');
SELECT lease_updates() - :upd0 AS renewed_by_consume;
COMMIT;
SELECT pg_sleep(0.15);
BEGIN;
SELECT lease_updates() AS upd0 \gset
SELECT count(*) > 0 AS got FROM kinesis.consume('renew', 'w');
SELECT lease_updates() - :upd0 AS renewed_by_consume;
COMMIT;
SELECT bool_and(last_heartbeat > :'hb0') AS renewed, count(*) AS leases
  FROM kinesis.application_status('renew') WHERE lease_owner = 'w';
DROP FUNCTION lease_updates();
SELECT kinesis.drop_application('renew');

-- exactly once: results and checkpoint commit together, or neither does
CREATE TABLE results (shard_id text, seq numeric PRIMARY KEY, data text);
BEGIN;
INSERT INTO results SELECT shard_id, sequence_number, convert_from(data, 'UTF8')
  FROM kinesis.consume('cons', 'w') WHERE shard_id = 'shardId-000000000000';
SELECT kinesis.checkpoint('cons', shard_id, max(seq), (SELECT lease_token FROM kinesis.application_status('cons') s WHERE s.shard_id = r.shard_id))
  FROM results r GROUP BY shard_id;
ROLLBACK;
SELECT count(*) AS again FROM kinesis.consume('cons', 'w') WHERE shard_id = 'shardId-000000000000';
BEGIN;
INSERT INTO results SELECT shard_id, sequence_number, convert_from(data, 'UTF8')
  FROM kinesis.consume('cons', 'w') WHERE shard_id = 'shardId-000000000000';
SELECT kinesis.checkpoint('cons', shard_id, max(seq), (SELECT lease_token FROM kinesis.application_status('cons') s WHERE s.shard_id = r.shard_id))
  FROM results r GROUP BY shard_id;
COMMIT;
SELECT count(*) AS processed FROM results;
SELECT count(*) AS left_on_shard_0 FROM kinesis.consume('cons', 'w') WHERE shard_id = 'shardId-000000000000';
SELECT count(*) AS others FROM kinesis.consume('cons', 'w');

-- limit is shared by the shards; wait_ms waits for a commit when nothing is there
SELECT count(*) FROM kinesis.consume('cons', 'w', 2);
SELECT kinesis.checkpoint('cons', s.shard_id, max(c.sequence_number), s.lease_token)
  FROM kinesis.application_status('cons') s JOIN kinesis.consume('cons', 'w') c USING (shard_id)
 GROUP BY s.shard_id, s.lease_token;
SELECT count(*), clock_timestamp() - statement_timestamp() >= interval '200 ms' AS waited
  FROM kinesis.consume('cons', 'w', wait_ms => 200);
-- lag: behind the shard's newest record by the seconds the sequence numbers carry
-- (checkpointed at their last record, the leases are caught up: 0 ms)
SELECT count(*) FILTER (WHERE millis_behind_latest >= 0) AS measured,
       count(*) FILTER (WHERE millis_behind_latest = 0) AS caught_up,
       count(*) FILTER (WHERE millis_behind_latest IS NULL) AS not_checkpointed
  FROM kinesis.application_status('cons');
-- a record after the checkpoint: that lease lags by the time between the
-- checkpointed record's arrival and the new one's
SELECT pg_sleep(0.01);
SELECT shard_id AS behind_shard
  FROM kinesis.put_record('ap', 'later', 'd', 300000000000000000000000000000000000000) \gset
SELECT shard_id = :'behind_shard' AS the_written_shard, millis_behind_latest >= 10 AS behind
  FROM kinesis.application_status('cons') WHERE millis_behind_latest > 0;
-- LATEST checkpoints a position, not a record: caught up until a put,
-- then behind (at least 1 ms: 0 means caught up)
SELECT kinesis.create_stream('lagx', 1);
SELECT kinesis.create_application('lagapp', 'lagx', 'LATEST');
SELECT millis_behind_latest AS before_put FROM kinesis.application_status('lagapp');
SELECT count(*) FROM kinesis.put_record('lagx', 'new', 'k');
SELECT millis_behind_latest >= 1 AS behind_after_put FROM kinesis.application_status('lagapp');
SELECT kinesis.drop_application('lagapp');
SELECT kinesis.delete_stream('lagx');
SELECT application_name, stream_name, count(*) AS leases, count(lease_owner) AS owned
  FROM kinesis.application_leases GROUP BY 1, 2 ORDER BY 1;
SELECT bool_and(kinesis.sequence_number_timestamp(sequence_number)
                = date_trunc('second', approximate_arrival_timestamp)) AS arrival_second
  FROM kinesis.read_records('ap', '1');
SELECT sqlerr($$SELECT kinesis.sequence_number_timestamp(42)$$);
DROP TABLE results;
SELECT kinesis.drop_application('cons');

-- errors
SELECT sqlerr($$SELECT kinesis.create_application('app', 'ap')$$);
SELECT sqlerr($$SELECT kinesis.create_application('bad name', 'ap')$$);
SELECT sqlerr($$SELECT kinesis.create_application('x', 'nosuch')$$);
SELECT sqlerr($$SELECT kinesis.create_application('x', 'ap', 'AT_TIMESTAMP')$$);
SELECT sqlerr($$SELECT kinesis.create_application('x', 'ap', failover_time_ms => 10)$$);
SELECT sqlerr($$SELECT * FROM kinesis.acquire_leases('nosuch', 'w1')$$);
SELECT sqlerr($$SELECT * FROM kinesis.acquire_leases('app', '')$$);
SELECT sqlerr($$SELECT * FROM kinesis.acquire_leases('app', 'w1', 0)$$);
SELECT sqlerr($$SELECT kinesis.checkpoint('app', '99', 1, 1)$$);
SELECT sqlerr($$SELECT kinesis.checkpoint('app', '1', 12345, 1)$$);
SELECT sqlerr($$SELECT kinesis.checkpoint('app', '1', NULL, 1)$$);
SELECT sqlerr($$SELECT * FROM kinesis.application_status('nosuch')$$);
SELECT sqlerr($$SELECT * FROM kinesis.consume('app', 'w', 0)$$);
SELECT sqlerr($$SELECT * FROM kinesis.consume('app', 'w', wait_ms => -1)$$);

SELECT kinesis.drop_application('late');
SELECT kinesis.drop_application('app');
SELECT count(*) FROM kinesis.leases;
SELECT count(*) FROM kinesis.list_stream_consumers('ap');
SELECT sqlerr($$SELECT kinesis.drop_application('app')$$);
SELECT kinesis.delete_stream('ap');
