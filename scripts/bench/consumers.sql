-- Procedures of the "consumers" part of scripts/bench.sh, run with CALL in
-- background psql sessions (each commits between its calls).  Loaded into
-- a database of their own that has the extension.

-- put -> subscribe_to_shard latency --------------------------------------

-- what the subscriber measured: one row per probe received (ms from the
-- prober's clock_timestamp() before put_record to the subscriber's right
-- after subscribe_to_shard returned it), and the prober's own put+commit
-- times; sent_us (the probe's data) pairs them
CREATE TABLE lat_samples (sent_us bigint NOT NULL, ms float8 NOT NULL);
CREATE TABLE lat_puts (sent_us bigint NOT NULL, ms float8 NOT NULL);
CREATE TABLE lat_calls (calls int NOT NULL, empty_calls int NOT NULL);

-- Puts a probe into the shard of p_hash every p_interval seconds for
-- p_secs seconds, one transaction each: its data is the time before the
-- put, in Unix microseconds, as text.  Then a last record '-1': stop.
-- lat_puts gets the put + commit times.  With p_stream NULL, the baseline
-- instead: a plain INSERT of the same record into a table, and its times
-- into lat_plain.
CREATE TABLE lat_plain_probe (sent_us bigint NOT NULL, data bytea NOT NULL);
CREATE TABLE lat_plain (sent_us bigint NOT NULL, ms float8 NOT NULL);
CREATE PROCEDURE bench_prober(p_stream text, p_hash numeric, p_secs float8, p_interval float8)
LANGUAGE plpgsql AS $$
DECLARE
	stop_at timestamptz := clock_timestamp() + make_interval(secs => p_secs);
	t0 timestamptz;
	t1 timestamptz;
	sent bigint[] := '{}';
	put_ms float8[] := '{}';
	data bytea;
BEGIN
	LOOP
		t0 := clock_timestamp();
		sent := sent || (extract(epoch FROM t0) * 1e6)::bigint;
		data := convert_to(sent[cardinality(sent)]::text, 'UTF8');
		IF p_stream IS NULL THEN
			INSERT INTO lat_plain_probe VALUES (sent[cardinality(sent)], data);
		ELSE
			PERFORM kinesis.put_record(p_stream, data, 'probe', p_hash);
		END IF;
		COMMIT;
		t1 := clock_timestamp();
		put_ms := put_ms || (extract(epoch FROM t1 - t0) * 1000)::float8;
		EXIT WHEN t1 > stop_at;
		PERFORM pg_sleep(p_interval);
	END LOOP;
	IF p_stream IS NULL THEN
		INSERT INTO lat_plain SELECT * FROM unnest(sent, put_ms);
	ELSE
		PERFORM kinesis.put_record(p_stream, convert_to('-1', 'UTF8'), 'probe', p_hash);
		INSERT INTO lat_puts SELECT * FROM unnest(sent, put_ms);
	END IF;
	COMMIT;
END
$$;

-- Subscribes to p_shard as p_consumer from TRIM_HORIZON, then after each
-- continuation number, until the stop record (or p_max_secs).  The
-- receipt time is taken right after the call returns; samples are kept in
-- memory (no write between two calls) and stored at the end.
CREATE PROCEDURE bench_subscriber(p_stream text, p_consumer text, p_shard text, p_max_secs int)
LANGUAGE plpgsql AS $$
DECLARE
	deadline timestamptz := clock_timestamp() + make_interval(secs => p_max_secs);
	ev kinesis.subscribe_to_shard_event;
	cont numeric;
	t_recv timestamptz;
	sent bigint[] := '{}';
	lat float8[] := '{}';
	got_sent bigint[];
	got float8[];
	stop boolean := false;
	calls int := 0;
	empty_calls int := 0;
BEGIN
	LOOP
		IF cont IS NULL THEN
			ev := kinesis.subscribe_to_shard(p_stream, p_consumer, p_shard, 'TRIM_HORIZON',
			                                 wait_ms => 5000);
		ELSE
			ev := kinesis.subscribe_to_shard(p_stream, p_consumer, p_shard, 'AFTER_SEQUENCE_NUMBER',
			                                 cont, wait_ms => 5000);
		END IF;
		t_recv := clock_timestamp();
		calls := calls + 1;
		IF coalesce(cardinality(ev.records), 0) > 0 THEN
			SELECT coalesce(array_agg(s.sent ORDER BY s.n) FILTER (WHERE s.sent > 0), '{}'),
			       coalesce(array_agg(((extract(epoch FROM t_recv) * 1e6 - s.sent) / 1000)::float8
			                          ORDER BY s.n) FILTER (WHERE s.sent > 0), '{}'),
			       coalesce(bool_or(s.sent < 0), false)
			  INTO got_sent, got, stop
			  FROM (SELECT convert_from(r.data, 'UTF8')::bigint AS sent, r.n
			          FROM unnest(ev.records) WITH ORDINALITY AS r(sequence_number,
			               approximate_arrival_timestamp, data, partition_key, n)) s;
			sent := sent || got_sent;
			lat := lat || got;
		ELSE
			empty_calls := empty_calls + 1;
		END IF;
		cont := ev.continuation_sequence_number;
		COMMIT;
		EXIT WHEN stop OR cont IS NULL OR clock_timestamp() > deadline;
	END LOOP;
	INSERT INTO lat_samples SELECT * FROM unnest(sent, lat);
	INSERT INTO lat_calls VALUES (calls, empty_calls);
	COMMIT;
END
$$;

-- consume + checkpoint ---------------------------------------------------

-- the records put (the truth to check against) and each shard's last one
CREATE TABLE loaded (shard_id text, sequence_number numeric, partition_key text);
CREATE TABLE shard_last (shard_id text PRIMARY KEY, last_seq numeric NOT NULL);
-- the workers' "processing": every record consumed is inserted here
CREATE TABLE consumed (app text NOT NULL, shard_id text NOT NULL, sequence_number numeric NOT NULL,
                       partition_key text NOT NULL, data bytea NOT NULL, worker text NOT NULL);
CREATE TABLE worker_stats (app text, worker text, records bigint, batches int,
                           refused int, deadlocks int, idle int, acquires int,
                           started timestamptz, finished timestamptz, PRIMARY KEY (app, worker));

-- A worker of application p_app: acquire_leases (committed at once, it
-- locks the application's row) before every batch, or when p_renew_ms
-- have passed since the last call (the KCL renews on a timer; consume
-- renews the leases it reads too), then in one transaction consume up to
-- p_limit records, insert them into consumed and checkpoint each shard at
-- its largest sequence number with its lease token.  A checkpoint refused
-- because the lease moved to another worker (KN003) rolls the batch back;
-- it is counted and the loop goes on.  So does a deadlock (40P01) in
-- acquire_leases or in the batch: rolled back, counted, retried.  (Before
-- commit 0015352 nearly every acquire_leases deadlocked with another
-- worker's batch: consume renews the worker's leases, so its checkpoint
-- updated a lease row its transaction had already updated and the
-- foreign key check wanted a key-share lock on the application's row,
-- which acquire_leases held FOR UPDATE while it waited for those lease
-- rows.  Each cost deadlock_timeout, 1 s.)  When a batch is empty the worker
-- stops if every shard's checkpoint is at its last record, else waits
-- 10 ms.  Gives up after p_max_secs.
CREATE PROCEDURE bench_consume_worker(p_app text, p_worker text, p_limit int, p_renew_ms int,
                                      p_max_secs int)
LANGUAGE plpgsql AS $$
DECLARE
	started timestamptz := clock_timestamp();
	deadline timestamptz := clock_timestamp() + make_interval(secs => p_max_secs);
	n bigint;
	checkpoints bigint;
	records bigint := 0;
	batches int := 0;
	refused int := 0;
	deadlocks int := 0;
	idle int := 0;
	acquires int := 0;
	last_acquire timestamptz;
	finished boolean;
BEGIN
	LOOP
		IF p_renew_ms = 0 OR last_acquire IS NULL
		   OR clock_timestamp() >= last_acquire + make_interval(secs => p_renew_ms / 1000.0) THEN
			last_acquire := clock_timestamp();
			acquires := acquires + 1;
			BEGIN
				PERFORM kinesis.acquire_leases(p_app, p_worker);
			EXCEPTION WHEN deadlock_detected THEN
				deadlocks := deadlocks + 1;
			END;
			COMMIT;
		END IF;
		BEGIN
			WITH c AS MATERIALIZED (SELECT * FROM kinesis.consume(p_app, p_worker, p_limit)),
			     ins AS (INSERT INTO consumed (app, shard_id, sequence_number, partition_key, data, worker)
			             SELECT p_app, c.shard_id, c.sequence_number, c.partition_key, c.data, p_worker
			               FROM c),
			     g AS (SELECT c.shard_id, c.lease_token, max(c.sequence_number) AS m, count(*) AS k
			             FROM c GROUP BY c.shard_id, c.lease_token)
			SELECT coalesce(sum(g.k), 0), count(kinesis.checkpoint(p_app, g.shard_id, g.m, g.lease_token))
			  INTO n, checkpoints FROM g;
		EXCEPTION
			WHEN SQLSTATE 'KN003' THEN
				n := -1;
				refused := refused + 1;
			WHEN deadlock_detected THEN
				n := -1;
				deadlocks := deadlocks + 1;
		END;
		COMMIT;
		IF n > 0 THEN
			records := records + n;
			batches := batches + 1;
		ELSIF n = 0 THEN
			SELECT NOT EXISTS (SELECT FROM kinesis.application_status(p_app) s
			                     JOIN shard_last e USING (shard_id)
			                    WHERE s.checkpoint IS DISTINCT FROM e.last_seq)
			  INTO finished;
			COMMIT;
			EXIT WHEN finished;
			idle := idle + 1;
			PERFORM pg_sleep(0.01);
		END IF;
		EXIT WHEN clock_timestamp() > deadline;
	END LOOP;
	INSERT INTO worker_stats VALUES (p_app, p_worker, records, batches, refused, deadlocks, idle,
	                                 acquires, started, clock_timestamp());
	COMMIT;
	PERFORM kinesis.release_leases(p_app, p_worker);
	COMMIT;
END
$$;
