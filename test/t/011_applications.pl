# A consumer application under failure: three workers on eight shards,
# one killed for good in the middle of a processing transaction, another
# killed at a random point and restarted, and reshards done by the workers
# themselves while a producer writes.
#
# A producer puts records with partition keys k0..k31 (data "<key>:<n>", n
# counting per key) and logs each put in put_log in the same transaction.
# Three workers (a PL/pgSQL procedure each, in its own session) loop:
# acquire_leases and commit; then in one transaction insert what consume
# returns into results, checkpoint each shard of the batch at its largest
# sequence number with the batch's lease token, and commit.  Closed shards
# are left to consume, which checkpoints them at SHARD_END once their last
# record is checkpointed (a worker that guessed the end from an empty
# consume and list_shards once lost a record put just before a split).  A
# trigger on kinesis.leases logs every checkpoint that moves, consume's
# included, in checkpoints_log.  A lost lease (KN003) rolls the batch back
# and the worker goes on; so does a deadlock (40P01), which the last check
# counts as a failure: the README's loop must not deadlock.  Midway w3 is
# killed (pg_terminate_backend) while it sits inside a batch that wrote
# results but has not committed, and never comes back; w1 reshards the
# stream from 8 to 12 shards; w2 is killed at a random point and restarted
# under the same worker id; the restarted w2 splits a shard.  The producer
# stops, the surviving workers drain the stream.
#
# Afterwards: results holds every record written exactly once (results has
# no unique constraint, so a duplicate would show); per shard the records
# were processed in sequence order, and per key in put order; every record
# of a parent shard was processed before any of its children's; no
# checkpoint moved backwards; every closed shard was checkpointed at
# SHARD_END exactly once, before its children's first checkpoint; w3's
# leases were taken over by the others with new tokens; the only errors
# the workers saw were lost leases.  About 25 s.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use KinesisTAP;
use Time::HiRes qw(time usleep);

my $STREAM      = 'ev';
my $APP         = 'proc';
my $KEYS        = 32;
my $MAX_RECORDS = 8000;    # the driver normally stops the producer first
my $LIMIT       = 200;     # consume's limit
my $WAIT_MS     = 500;     # consume's wait

my $node = PostgreSQL::Test::Cluster->new('applications');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'kinesis'
kinesis.enable_workers = off
kinesis.enforce_limits = off
max_connections = 40
max_locks_per_transaction = 256
log_lock_waits = on
log_statement = none
# the workers may deadlock (see the last checks); detect it soon, so that
# the schedule holds
deadlock_timeout = 100ms
});
$node->start;

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION kinesis;
SELECT kinesis.create_stream('$STREAM', 8);
SELECT kinesis.create_application('$APP', '$STREAM', failover_time_ms => 1000);

-- the driver's switches: stop the producer, stop the workers, have a
-- worker reshard
CREATE TABLE ctl (stop_producer bool NOT NULL, stop_workers bool NOT NULL,
                  reshard_by text, reshard_sql text);
INSERT INTO ctl VALUES (false, false, NULL, NULL);
-- what the producer wrote, logged in the put's own transaction
CREATE TABLE put_log (k text, n int, shard_id text, seq numeric, PRIMARY KEY (k, n));
-- what the workers processed, in the order they processed it; no unique
-- constraint, so that a record processed twice shows
CREATE TABLE results (id bigserial PRIMARY KEY, shard_id text, seq numeric, pk text,
                      data text, worker text, round int, token bigint);
-- every checkpoint that moved, logged by a trigger in its transaction
-- (the lease stays locked until commit, so per shard id order is commit
-- order); round is the worker's round, set for its batch
CREATE TABLE checkpoints_log (id bigserial PRIMARY KEY, worker text, round int,
                              shard_id text, seq numeric, token bigint, at_end bool);
CREATE FUNCTION log_checkpoint() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO public.checkpoints_log (worker, round, shard_id, seq, token, at_end)
    VALUES (NEW.lease_owner, pg_catalog.current_setting('test.round', true)::int,
            'shardId-' || pg_catalog.lpad(NEW.shard_index::text, 12, '0'),
            NEW.checkpoint, NEW.lease_counter, NEW.shard_end);
    RETURN NULL;
END
\$\$;
CREATE TRIGGER log_checkpoint AFTER UPDATE ON kinesis.leases FOR EACH ROW
    WHEN (OLD.checkpoint IS DISTINCT FROM NEW.checkpoint) EXECUTE FUNCTION log_checkpoint();
-- the errors the workers handled
CREATE TABLE worker_events (id bigserial PRIMARY KEY, worker text, round int, step text,
                            sqlstate text, message text, detail text);
-- the reshards the workers did
CREATE TABLE reshard_log (id bigserial PRIMARY KEY, worker text, sql text);

-- A worker of application $APP, as README's "Consumer applications"
-- describes it.  Stops when ctl.stop_workers is set, giving its leases
-- back.
CREATE PROCEDURE worker(w text, lim int, wait_ms int, max_seconds int)
LANGUAGE plpgsql AS \$\$
DECLARE
    t0   timestamptz := clock_timestamp();
    r    int := 0;
    n    bigint;
    s    record;
    cmd  text;
    st   text;
    msg  text;
    det  text;
BEGIN
    CREATE TEMP TABLE held (shard_id text PRIMARY KEY, lease_token bigint, checkpoint numeric);
    CREATE TEMP TABLE batch (o bigint, shard_id text, lease_token bigint, seq numeric,
                             pk text, data bytea);
    COMMIT;
    LOOP
        EXIT WHEN (SELECT stop_workers FROM ctl);
        IF clock_timestamp() - t0 > make_interval(secs => max_seconds) THEN
            RAISE EXCEPTION 'worker % did not finish within % s', w, max_seconds;
        END IF;
        r := r + 1;

        -- a reshard the driver asked of this worker
        SELECT reshard_sql INTO cmd FROM ctl WHERE reshard_by = w;
        IF cmd IS NOT NULL THEN
            EXECUTE cmd;
            INSERT INTO reshard_log (worker, sql) VALUES (w, cmd);
            UPDATE ctl SET reshard_by = NULL, reshard_sql = NULL;
            COMMIT;
        END IF;

        -- renew, take free and expired leases, balance; after a failure
        -- hold nothing this round
        BEGIN
            DELETE FROM held;
            INSERT INTO held SELECT * FROM kinesis.acquire_leases('$APP', w);
        EXCEPTION WHEN deadlock_detected THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
            INSERT INTO worker_events (worker, round, step, sqlstate, message, detail)
            VALUES (w, r, 'acquire', st, msg, det);
            DELETE FROM held;
        END;
        COMMIT;
        IF NOT EXISTS (SELECT FROM held) THEN
            PERFORM pg_sleep(0.05);
            CONTINUE;
        END IF;

        -- one batch: its results and its checkpoints commit together, or
        -- neither does
        PERFORM set_config('test.round', r::text, true);
        BEGIN
            DELETE FROM batch;
            INSERT INTO batch
            SELECT c.ordinality, c.shard_id, c.lease_token, c.sequence_number, c.partition_key, c.data
              FROM kinesis.consume('$APP', w, lim, wait_ms) WITH ORDINALITY c;
            GET DIAGNOSTICS n = ROW_COUNT;
            -- processed in the order consume returned them
            INSERT INTO results (shard_id, seq, pk, data, worker, round, token)
            SELECT shard_id, seq, pk, convert_from(data, 'UTF8'), w, r, lease_token
              FROM batch ORDER BY o;
            IF n > 0 THEN
                PERFORM pg_sleep(0.02);     -- the work takes a while
            END IF;
            FOR s IN SELECT shard_id, lease_token, max(seq) AS seq FROM batch
                      GROUP BY 1, 2 ORDER BY 1
            LOOP
                PERFORM kinesis.checkpoint('$APP', s.shard_id, s.seq, s.lease_token);
            END LOOP;
        EXCEPTION WHEN SQLSTATE 'KN003' OR deadlock_detected THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
            INSERT INTO worker_events (worker, round, step, sqlstate, message, detail)
            VALUES (w, r, 'batch', st, msg, det);
        END;
        COMMIT;
    END LOOP;
    PERFORM kinesis.release_leases('$APP', w);
    COMMIT;
END
\$\$;

-- Terminate the session of worker app and wait until it is gone; note in
-- killed_leases the leases it held (committed state) just before.  With
-- mid, first wait (up to max_wait_ms) until it sits in its batch's work,
-- i.e. inside a transaction that wrote results and has not checkpointed.
CREATE TABLE killed_leases (worker text, shard_id text, lease_token bigint);
CREATE FUNCTION kill_worker(app text, mid bool, max_wait_ms int) RETURNS text
LANGUAGE plpgsql AS \$\$
DECLARE
    p  int;
    x  xid;
    we text;
    t0 timestamptz := clock_timestamp();
BEGIN
    LOOP
        PERFORM pg_stat_clear_snapshot();
        SELECT pid, backend_xid, wait_event INTO p, x, we
          FROM pg_stat_activity WHERE application_name = app AND backend_type = 'client backend';
        IF p IS NULL THEN
            RETURN 'not running';
        END IF;
        IF NOT mid OR (x IS NOT NULL AND we = 'PgSleep')
           OR clock_timestamp() - t0 > make_interval(secs => max_wait_ms / 1000.0) THEN
            INSERT INTO killed_leases
            SELECT app, shard_id, lease_token FROM kinesis.application_status('$APP')
             WHERE lease_owner = app;
            IF NOT pg_terminate_backend(p, 30000) THEN
                RETURN 'still running';
            END IF;
            RETURN CASE WHEN x IS NOT NULL THEN 'killed inside a transaction that wrote'
                        ELSE 'killed outside a writing transaction' END
                   || coalesce(', waiting on ' || we, '');
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
END
\$\$;
});

# ---------------------------------------------------------------------------
# Background sessions.

my $tmp = PostgreSQL::Test::Utils::tempdir;

sub start_psql
{
	my ($name, $appname, @args) = @_;
	return background_psql($node, $tmp, $name, { appname => $appname, timeout => 240 }, @args);
}

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# The producer: put_records batches, single put_record calls and
# transactions of several, each logged in put_log in the put's own
# transaction; paced to about 250 records a second.
sub producer_script
{
	srand(1100);
	my %n;
	my $count = 0;
	my $sql   = "SET client_min_messages = warning;\n";
	my $next  = sub { my $k = 'k' . int(rand($KEYS)); return [ $k, ++$n{$k} ]; };
	my $one   = sub {
		my ($k, $n) = @{ $_[0] };
		return "INSERT INTO put_log SELECT '$k', $n, p.shard_id, p.sequence_number"
		  . " FROM kinesis.put_record('$STREAM', '$k:$n', '$k') p;\n";
	};
	while ($count < $MAX_RECORDS)
	{
		my $kind = rand();
		if ($kind < 0.6)
		{
			my @batch = map { $next->() } 1 .. 1 + int(rand(15));
			my $data = join(', ', map { "'$_->[0]:$_->[1]'" } @batch);
			my $keys = join(', ', map { "'$_->[0]'" } @batch);
			my $i    = 0;
			my $vals = join(', ', map { $i++; "($i, '$_->[0]', $_->[1])" } @batch);
			$sql .= "INSERT INTO put_log SELECT v.k, v.n, p.shard_id, p.sequence_number"
			  . " FROM kinesis.put_records('$STREAM', ARRAY[$data]::bytea[], ARRAY[$keys]) p"
			  . " JOIN (VALUES $vals) v(o, k, n) ON v.o = p.ordinality;\n";
			$count += @batch;
		}
		elsif ($kind < 0.8)
		{
			$sql .= $one->($next->());
			$count++;
		}
		else
		{
			$sql .= "BEGIN;\n";
			for (1 .. 2 + int(rand(4)))
			{
				$sql .= $one->($next->());
				$count++;
			}
			$sql .= "COMMIT;\n";
		}
		my $nap = sprintf('%.3f', rand(0.05));
		$sql .= "SELECT stop_producer AS stop FROM ctl, pg_sleep($nap) \\gset\n"
		  . "\\if :stop\n\\q\n\\endif\n";
	}
	return $sql;
}

sub start_worker
{
	my ($name, $id) = @_;
	return start_psql($name, $id, '-c', "CALL worker('$id', $LIMIT, $WAIT_MS, 150)");
}

# A worker asked to reshard does it at the start of its next round.
sub worker_reshard
{
	my ($w, $sql) = @_;
	my $before = q1("SELECT count(*) FROM reshard_log WHERE worker = '$w'");
	$sql =~ s/'/''/g;
	q1("UPDATE ctl SET reshard_by = '$w', reshard_sql = '$sql'");
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) > $before FROM reshard_log WHERE worker = '$w'"),
		"$w resharded");
	note('open shards now: '
		  . q1("SELECT count(*) FROM kinesis.list_shards('$STREAM', 'AT_LATEST')"));
	return;
}

# Poll a query until it returns true, for at most $secs seconds.
sub poll_for
{
	my ($sql, $secs) = @_;
	my $deadline = time + $secs;
	while (time < $deadline)
	{
		return 1 if q1($sql) eq 't';
		usleep(100_000);
	}
	return 0;
}

sub sleep_until
{
	my ($t0, $at) = @_;
	my $left = $t0 + $at - time;
	usleep($left * 1_000_000) if $left > 0;
	return;
}

my $file = "$tmp/producer.sql";
open my $fh, '>', $file or die "cannot write $file: $!";
print $fh producer_script();
close $fh;

my $t_start  = time;
my $producer = start_psql('producer', 'producer', '-f', $file);
my %workers  = map { $_ => start_worker($_, $_) } qw(w1 w2 w3);

ok( $node->poll_query_until('postgres',
		q{SELECT count(DISTINCT worker) = 3 AND count(*) >= 100 FROM results}),
	'all three workers are processing');
my $t0 = time;    # the schedule below counts from here
note(sprintf('all three workers were processing after %.1f s', $t0 - $t_start));

# ~5 s: w3 dies inside a batch that wrote results, for good
srand();
sleep_until($t0, 4 + rand(1.5));
my $w3_kill = q1("SELECT kill_worker('w3', true, 5000)");
like($w3_kill, qr/^killed inside a transaction that wrote, waiting on PgSleep/,
	'w3 is killed in the middle of a batch') or note($w3_kill);
my $w3_died = time;
q1(q{CREATE TABLE w3_leases AS SELECT shard_id, lease_token FROM killed_leases WHERE worker = 'w3'});
my $w3_held = q1('SELECT count(*) FROM w3_leases');
cmp_ok($w3_held, '>', 0, 'w3 held leases when it died');
note(sprintf('w3 died at %.1f s holding %d leases: %s',
		$w3_died - $t0, $w3_held, q1(q{SELECT string_agg(shard_id, ' ') FROM w3_leases})));

# ~7 s: w1 reshards 8 -> 12
sleep_until($t0, 7);
worker_reshard('w1', "SELECT * FROM kinesis.update_shard_count('$STREAM', 12)");

# ~9-11 s: w2 dies at a random point and comes back under the same id
sleep_until($t0, 9 + rand(2));
my $w2_kill = q1("SELECT kill_worker('w2', false, 0)");
like($w2_kill, qr/^killed/, 'w2 is killed') or note($w2_kill);
note(sprintf('w2 %s at %.1f s', $w2_kill, time - $t0));
my $w2_old = $workers{w2};
$workers{w2} = start_worker('w2-restarted', 'w2');

# ~12 s: the restarted w2 splits the widest open shard
sleep_until($t0, 12);
worker_reshard('w2',
	"SELECT kinesis.split_shard('$STREAM', shard_id, div(starting_hash_key + ending_hash_key + 1, 2))"
	  . " FROM kinesis.list_shards('$STREAM', 'AT_LATEST')"
	  . ' ORDER BY ending_hash_key - starting_hash_key DESC, shard_id LIMIT 1');

# ~15 s: the producer stops
sleep_until($t0, 15);
q1('UPDATE ctl SET stop_producer = true');
eval { $producer->{h}->finish; };
diag("producer: $@") if $@;
is($producer->{h}->result(0), 0, 'the producer exited with status 0');
my $perr = slurp_if_exists($producer->{err});
unlike($perr, qr/ERROR|FATAL|PANIC/, 'the producer got no error')
  or diag("producer stderr:\n$perr");
my $written = q1('SELECT count(*) FROM put_log');
note(sprintf('the producer wrote %d records in %.1f s', $written, time - $t_start));
cmp_ok($written, '>=', 2000, 'the producer wrote at least 2000 records');

# the survivors drain the stream: every record processed, every closed
# shard checkpointed at SHARD_END
my $drain0 = time;
my $drained = poll_for(
	qq{
SELECT (SELECT count(*) FROM put_log)
         = (SELECT count(*) FROM (SELECT DISTINCT shard_id, seq FROM results) d)
   AND NOT EXISTS (SELECT FROM kinesis.application_status('$APP') a
                     JOIN kinesis.list_shards('$STREAM') l USING (shard_id)
                    WHERE l.ending_sequence_number IS NOT NULL AND NOT a.shard_end)}, 60);
ok($drained, 'within 60 s the surviving workers processed every record and ended every closed shard');
note(sprintf('draining took %.1f s', time - $drain0));
diag('status: ' . q1("SELECT string_agg(format('%s %s %s %s', shard_id, lease_owner, lease_token, shard_end), E'\\n') FROM kinesis.application_status('$APP')"))
  unless $drained;

q1("CREATE TABLE final_status AS SELECT * FROM kinesis.application_status('$APP')");

# stop the workers
q1('UPDATE ctl SET stop_workers = true');
for my $name (qw(w1 w2))
{
	my $p = $workers{$name};
	eval { $p->{h}->finish; };
	diag("$name: $@") if $@;
	is($p->{h}->result(0), 0, "$p->{name} exited with status 0");
	my $err = slurp_if_exists($p->{err});
	unlike($err, qr/ERROR|FATAL|PANIC/, "$p->{name} got no error")
	  or diag("$p->{name} stderr:\n$err");
}
for my $p ($workers{w3}, $w2_old)
{
	eval { $p->{h}->finish; };
	my $err = slurp_if_exists($p->{err});
	like($err, qr/terminating connection due to administrator command/,
		"$p->{name} (killed) ended by the termination")
	  or diag("$p->{name} stderr:\n$err");
}
note(sprintf('producing, processing, killing, resharding and draining took %.1f s', time - $t_start));

# ---------------------------------------------------------------------------
# Verification.

q1( qq{
CREATE TABLE shards AS SELECT * FROM kinesis.list_shards('$STREAM');
CREATE TABLE stored AS
SELECT l.shard_id, r.sequence_number AS seq, r.partition_key AS pk,
       convert_from(r.data, 'UTF8') AS data
  FROM shards l, kinesis.read_records('$STREAM', l.shard_id, NULL, 10000) r;
});

note(sprintf(
		'%d records written, %d stored in %d shards, %d result rows; per worker: %s',
		$written, q1('SELECT count(*) FROM stored'), q1('SELECT count(*) FROM shards'),
		q1('SELECT count(*) FROM results'),
		q1(q{SELECT string_agg(format('%s %s', worker, c), ', ' ORDER BY worker)
		       FROM (SELECT worker, count(*) c FROM results GROUP BY 1) x})));
note('errors the workers handled: '
	  . q1(q{SELECT coalesce(string_agg(format('%s in %s: %s', sqlstate, step, c), ', '), 'none')
	           FROM (SELECT sqlstate, step, count(*) c FROM worker_events GROUP BY 1, 2 ORDER BY 1, 2) x}));
note('checkpoints: ' . q1('SELECT count(*) FROM checkpoints_log'));

# the scenario happened
is(q1('SELECT count(*) FROM stored'), $written, 'the stream holds every record the producer logged');
none($node,
	q{SELECT p.* FROM put_log p
	   WHERE NOT EXISTS (SELECT FROM stored s
	                      WHERE s.shard_id = p.shard_id AND s.seq = p.seq AND s.data = p.k || ':' || p.n)},
	'every logged put is stored where it was acknowledged');
is(q1('SELECT count(*) FROM reshard_log'), 2, 'two reshards were done by workers');
cmp_ok(q1('SELECT count(*) FROM shards WHERE parent_shard_id IS NOT NULL'), '>=', 5,
	'the reshards created children');
cmp_ok(
	q1( q{SELECT count(DISTINCT r.shard_id) FROM results r JOIN shards s USING (shard_id)
	       WHERE s.parent_shard_id IS NOT NULL}
	),
	'>=', 4,
	'records of child shards were processed');
cmp_ok(
	q1( q{SELECT count(*) FROM results r
	       JOIN shards c USING (shard_id)
	       JOIN shards p ON p.shard_id IN (c.parent_shard_id, c.adjacent_parent_shard_id)
	       WHERE p.parent_shard_id IS NOT NULL}
	),
	'>', 0,
	'records of grandchildren were processed');

# 1. exactly once
is(q1('SELECT count(*) FROM results'), $written, 'as many results as records written');
none($node,
	q{SELECT shard_id, seq, count(*), string_agg(worker, ' ') FROM results
	   GROUP BY 1, 2 HAVING count(*) > 1},
	'no record was processed twice');
none($node,
	q{SELECT s.* FROM stored s
	   WHERE NOT EXISTS (SELECT FROM results r
	                      WHERE r.shard_id = s.shard_id AND r.seq = s.seq
	                        AND r.pk = s.pk AND r.data = s.data)},
	'every record of the stream was processed, with its shard, number, key and data');
none($node,
	q{SELECT r.* FROM results r
	   WHERE NOT EXISTS (SELECT FROM stored s WHERE s.shard_id = r.shard_id AND s.seq = r.seq)},
	'every result is a record of the stream');

# 2. per shard in sequence order, per key in put order
none($node,
	q{SELECT * FROM (SELECT shard_id, id, seq, worker,
	                        lag(seq) OVER (PARTITION BY shard_id ORDER BY id) AS prev
	                   FROM results) x WHERE prev >= seq},
	'per shard, records were processed in sequence number order');
none($node,
	q{SELECT * FROM (SELECT pk, data, id, shard_id, split_part(data, ':', 2)::int AS n,
	                        row_number() OVER (PARTITION BY pk ORDER BY id) AS ord
	                   FROM results) x WHERE n <> ord},
	'per partition key, records were processed in put order, none missing');

# 3. parents before children
none($node,
	q{WITH RECURSIVE edge(child, parent) AS (
	      SELECT shard_id, parent_shard_id FROM shards WHERE parent_shard_id IS NOT NULL
	      UNION ALL
	      SELECT shard_id, adjacent_parent_shard_id FROM shards WHERE adjacent_parent_shard_id IS NOT NULL),
	  anc(shard_id, ancestor) AS (
	      SELECT child, parent FROM edge
	      UNION
	      SELECT a.shard_id, e.parent FROM anc a JOIN edge e ON e.child = a.ancestor),
	  span AS (SELECT shard_id, min(id) AS first_id, max(id) AS last_id FROM results GROUP BY 1)
	  SELECT c.shard_id, c.first_id, anc.ancestor, a.last_id
	    FROM span c JOIN anc USING (shard_id) JOIN span a ON a.shard_id = anc.ancestor
	   WHERE a.last_id > c.first_id},
	'every record of an ancestor shard was processed before any of its descendants');
none($node,
	q{SELECT c.shard_id, p.shard_id AS parent
	    FROM shards c JOIN shards p ON p.shard_id IN (c.parent_shard_id, c.adjacent_parent_shard_id)
	   WHERE (SELECT min(id) FROM checkpoints_log WHERE shard_id = c.shard_id)
	         < (SELECT min(id) FROM checkpoints_log WHERE shard_id = p.shard_id AND at_end)},
	'no child was checkpointed before its parents were checkpointed at SHARD_END');

# 4. checkpoints
none($node,
	q{SELECT * FROM (SELECT shard_id, id, worker, seq,
	                        lag(seq) OVER (PARTITION BY shard_id ORDER BY id) AS prev
	                   FROM checkpoints_log) x WHERE prev > seq},
	'no checkpoint moved backwards');
none($node,
	q{SELECT * FROM (SELECT shard_id, id, token,
	                        lag(token) OVER (PARTITION BY shard_id ORDER BY id) AS prev
	                   FROM checkpoints_log) x WHERE prev > token},
	'per shard, checkpoints came with non-decreasing lease tokens');
none($node,
	q{SELECT s.shard_id, count(c.id) FILTER (WHERE c.at_end)
	    FROM shards s LEFT JOIN checkpoints_log c USING (shard_id)
	   WHERE s.ending_sequence_number IS NOT NULL
	   GROUP BY 1 HAVING count(c.id) FILTER (WHERE c.at_end) <> 1},
	'every closed shard was checkpointed at SHARD_END exactly once');
none($node,
	q{SELECT c.* FROM checkpoints_log c JOIN shards s USING (shard_id)
	   WHERE c.at_end AND (c.seq <> s.ending_sequence_number
	          OR c.id <> (SELECT max(id) FROM checkpoints_log x WHERE x.shard_id = c.shard_id))},
	'SHARD_END checkpoints are at the ending sequence number and the last of their shard');
none($node,
	q{SELECT f.shard_id, f.checkpoint, f.shard_end, s.ending_sequence_number,
	         (SELECT max(seq) FROM stored WHERE shard_id = f.shard_id) AS last_record
	    FROM final_status f JOIN shards s USING (shard_id)
	   WHERE f.checkpoint IS DISTINCT FROM
	         coalesce(s.ending_sequence_number, (SELECT max(seq) FROM stored WHERE shard_id = f.shard_id))
	      OR f.shard_end <> (s.ending_sequence_number IS NOT NULL)},
	'finally, closed shards are at SHARD_END and open ones checkpointed at their last record');
none($node,
	q{SELECT f.shard_id, f.checkpoint, l.seq FROM final_status f
	    LEFT JOIN LATERAL (SELECT seq FROM checkpoints_log c WHERE c.shard_id = f.shard_id
	                        ORDER BY id DESC LIMIT 1) l ON true
	   WHERE f.checkpoint IS DISTINCT FROM l.seq},
	'the last logged checkpoint of every shard is its stored checkpoint');
none($node,
	q{SELECT r.shard_id, r.token, r.worker FROM results r
	   WHERE NOT EXISTS (SELECT FROM checkpoints_log c
	                      WHERE c.shard_id = r.shard_id AND c.token = r.token
	                        AND c.worker = r.worker AND c.round = r.round AND c.seq >= r.seq)},
	'every result committed with a checkpoint of its batch covering it');

# 5. failover
none($node,
	q{SELECT w.shard_id, w.lease_token, f.lease_owner, f.lease_token
	    FROM w3_leases w JOIN final_status f USING (shard_id)
	   WHERE f.lease_owner IS NULL OR f.lease_owner = 'w3' OR f.lease_token <= w.lease_token},
	'every lease w3 held when it died went to another worker with a new token');
is(q1(q{SELECT count(*) FROM final_status WHERE lease_owner = 'w3'}), 0,
	'w3 owns no lease at the end');
cmp_ok(q1('SELECT max(lease_token) FROM final_status'), '>', 1, 'some lease changed owner');
none($node,
	q{SELECT * FROM worker_events WHERE NOT (sqlstate = 'KN003' AND message LIKE '%was lost')},
	'the only errors the workers met were lost leases (KN003): no deadlock, no other error');
is(q1(q{SELECT count(*) FROM kinesis.application_status('proc') WHERE lease_owner IS NOT NULL}),
	0, 'the stopped workers gave their leases back');

note(sprintf('the whole test took %.1f s', time - $t_start));
$node->stop;
done_testing();
