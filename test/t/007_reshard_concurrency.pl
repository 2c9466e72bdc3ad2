# Resharding under concurrent writers and a following reader.
#
# Four writers put records with partition keys k0..k15 (data "w<w>:<key>:<n>",
# n counting per writer and key) in a mix of autocommit put_record calls,
# multi-record transactions and put_records batches, and log each put's
# result (shard id, sequence number) into put_log in the same transaction.
# Meanwhile a driver reshards the stream with update_shard_count,
# split_shard and merge_shards, and a reader follows the shards the way a
# KCL consumer does (roots from TRIM_HORIZON, children once all their
# parents ended), recording what it got in the order it got it.
#
# Afterwards: no writer saw an error, no reshard failed; every logged put is
# stored exactly once in the shard and at the sequence number it was
# acknowledged with; per writer and key the records are in put order
# across generations (parents before children) and within shards; closed
# shards end above their records and below their children's; every record
# lies in its shard's hash key range; the reader saw every record exactly
# once and per writer and key in put order.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use KinesisTAP;
use Time::HiRes qw(time usleep);

my $STREAM      = 'race';
my $WRITERS     = 4;
my $KEYS        = 16;
my $MAX_RECORDS = 2000;    # per writer; the driver normally stops them first

my $node = PostgreSQL::Test::Cluster->new('reshard_race');
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
});
$node->start;

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION kinesis;
SELECT kinesis.create_stream('$STREAM', 2);

-- what the writers acknowledged, written in the put's own transaction
CREATE TABLE put_log (w int, k text, n int, shard_id text, seq numeric,
                      PRIMARY KEY (w, k, n));
-- the driver stops the writers, then tells the reader to finish
CREATE TABLE ctl (stop_writers bool NOT NULL, done bool NOT NULL);
INSERT INTO ctl VALUES (false, false);
-- what the reader got, in the order it got it
CREATE TABLE seen (id bigserial PRIMARY KEY, shard_id text, seq numeric,
                   pk text, data text);
-- the reader's shards: pending (waiting for its parents), active, ended
CREATE TABLE reader_shards (shard_id text PRIMARY KEY, parents text[] NOT NULL,
                            iter text, state text NOT NULL);

-- the hash key of a partition key (MD5, unsigned 128-bit, big-endian)
CREATE FUNCTION hash_key(k text) RETURNS numeric LANGUAGE sql IMMUTABLE AS \$\$
    SELECT sum(('x' || substr(md5(convert_to(k, 'UTF8')), i * 8 + 1, 8))::bit(32)::bigint
               * 4294967296::numeric ^ (3 - i))
      FROM generate_series(0, 3) i
\$\$;

-- A consumer following the lineage: the roots from TRIM_HORIZON; a shard
-- whose get_records returned no next iterator has ended, and its children
-- start (TRIM_HORIZON) once every one of their parents has ended.  Commits
-- after every pass.  Finishes after the first pass that began with done
-- set and neither read anything nor changed any shard's state.
CREATE PROCEDURE follow(max_seconds int)
LANGUAGE plpgsql AS \$\$
DECLARE
    s         record;
    g         kinesis.get_records_result;
    finishing bool;
    changed   bool;
    t0        timestamptz := clock_timestamp();
BEGIN
    INSERT INTO reader_shards
    SELECT l.shard_id, '{}', kinesis.get_shard_iterator('$STREAM', l.shard_id, 'TRIM_HORIZON'), 'active'
      FROM kinesis.list_shards('$STREAM') l
     WHERE l.parent_shard_id IS NULL;
    COMMIT;
    LOOP
        SELECT done INTO finishing FROM ctl;
        changed := false;

        FOR s IN SELECT r.shard_id FROM reader_shards r
                  WHERE r.state = 'pending'
                    AND NOT EXISTS (SELECT 1 FROM reader_shards p
                                     WHERE p.shard_id = ANY (r.parents) AND p.state <> 'ended')
                  ORDER BY r.shard_id
        LOOP
            UPDATE reader_shards
               SET iter = kinesis.get_shard_iterator('$STREAM', s.shard_id, 'TRIM_HORIZON'),
                   state = 'active'
             WHERE shard_id = s.shard_id;
            changed := true;
        END LOOP;

        FOR s IN SELECT r.shard_id, r.iter FROM reader_shards r
                  WHERE r.state = 'active' ORDER BY r.shard_id
        LOOP
            g := kinesis.get_records(s.iter, 500);
            IF cardinality(g.records) > 0 THEN
                INSERT INTO seen (shard_id, seq, pk, data)
                SELECT s.shard_id, r.sequence_number, r.partition_key,
                       convert_from(r.data, 'UTF8')
                  FROM unnest(g.records) WITH ORDINALITY
                       AS r(sequence_number, approximate_arrival_timestamp, data, partition_key, o)
                 ORDER BY r.o;
                changed := true;
            END IF;
            IF g.next_shard_iterator IS NULL THEN
                UPDATE reader_shards SET state = 'ended', iter = NULL
                 WHERE shard_id = s.shard_id;
                INSERT INTO reader_shards (shard_id, parents, state)
                SELECT c->>'shard_id',
                       ARRAY(SELECT jsonb_array_elements_text(c->'parent_shards')),
                       'pending'
                  FROM jsonb_array_elements(coalesce(g.child_shards, '[]')) c
                ON CONFLICT (shard_id) DO NOTHING;
                changed := true;
            ELSE
                UPDATE reader_shards SET iter = g.next_shard_iterator
                 WHERE shard_id = s.shard_id;
            END IF;
        END LOOP;
        COMMIT;

        EXIT WHEN finishing AND NOT changed;
        IF clock_timestamp() - t0 > make_interval(secs => max_seconds) THEN
            RAISE EXCEPTION 'reader did not finish within % s', max_seconds;
        END IF;
        IF NOT changed THEN
            PERFORM pg_sleep(0.01);
        END IF;
    END LOOP;
END
\$\$;
});

# ---------------------------------------------------------------------------
# The writers: a generated psql script each, stopping (at a transaction
# boundary) when ctl.stop_writers is set or after $MAX_RECORDS records.

my $tmp = PostgreSQL::Test::Utils::tempdir;

# The SQL that puts one record and logs the result, in the caller's
# transaction.
sub put_one
{
	my ($w, $k, $n) = @_;
	return "INSERT INTO put_log SELECT $w, '$k', $n, p.shard_id, p.sequence_number"
	  . " FROM kinesis.put_record('$STREAM', 'w$w:$k:$n', '$k') p;\n";
}

# The SQL that puts a batch of [key, n] with put_records and logs the results.
sub put_batch
{
	my ($w, @batch) = @_;
	my $data = join(', ', map { "'w$w:$_->[0]:$_->[1]'" } @batch);
	my $keys = join(', ', map { "'$_->[0]'" } @batch);
	my $i    = 0;
	my $vals = join(', ', map { $i++; "($i, '$_->[0]', $_->[1])" } @batch);
	return "INSERT INTO put_log SELECT $w, v.k, v.n, p.shard_id, p.sequence_number"
	  . " FROM kinesis.put_records('$STREAM', ARRAY[$data]::bytea[], ARRAY[$keys]) p"
	  . " JOIN (VALUES $vals) v(o, k, n) ON v.o = p.ordinality;\n";
}

sub writer_script
{
	my ($w) = @_;
	srand(7000 + $w);
	my %n;
	my $count = 0;
	my $sql = "SET client_min_messages = warning;\n";
	my $next = sub { my $k = 'k' . int(rand($KEYS)); return [ $k, ++$n{$k} ]; };
	while ($count < $MAX_RECORDS)
	{
		my $kind = rand();
		if ($kind < 0.35)
		{
			# autocommit put_record
			my $r = $next->();
			$sql .= put_one($w, @$r);
			$count++;
		}
		elsif ($kind < 0.65)
		{
			# a transaction of several put_record calls, sometimes doing
			# other work in between (holding the shards it wrote meanwhile)
			my $slow = rand() < 0.3;
			$sql .= "BEGIN;\n";
			for (1 .. 2 + int(rand(5)))
			{
				my $r = $next->();
				$sql .= "SELECT pg_sleep(0.005);\n" if $slow && $count;
				$sql .= put_one($w, @$r);
				$count++;
			}
			$sql .= "COMMIT;\n";
		}
		elsif ($kind < 0.85)
		{
			# an autocommit put_records batch
			my @batch = map { $next->() } 1 .. 2 + int(rand(19));
			$sql .= put_batch($w, @batch);
			$count += @batch;
		}
		else
		{
			# a transaction mixing batches and single puts
			$sql .= "BEGIN;\n";
			my @batch = map { $next->() } 1 .. 2 + int(rand(8));
			$sql .= put_batch($w, @batch);
			$count += @batch;
			for (1 .. 1 + int(rand(3)))
			{
				my $r = $next->();
				$sql .= put_one($w, @$r);
				$count++;
			}
			@batch = map { $next->() } 1 .. 2 + int(rand(8));
			$sql .= put_batch($w, @batch);
			$count += @batch;
			$sql .= "COMMIT;\n";
		}
		# pace the writer (about 30 ms a transaction) so that it writes
		# through all the reshards, and stop when told to
		my $nap = sprintf('%.3f', rand(0.06));
		$sql .= "SELECT stop_writers AS stop FROM ctl, pg_sleep($nap) \\gset\n"
		  . "\\if :stop\n\\q\n\\endif\n";
	}
	return $sql;
}

# Start psql in the background on a script file or a command; output goes
# to files.
sub start_psql
{
	my ($name, @args) = @_;
	return background_psql($node, $tmp, $name, {}, @args);
}

my $t_start = time;
my @writers;
for my $w (1 .. $WRITERS)
{
	my $file = "$tmp/writer$w.sql";
	open my $fh, '>', $file or die "cannot write $file: $!";
	print $fh writer_script($w);
	close $fh;
	push @writers, start_psql("writer$w", '-f', $file);
}
my $reader = start_psql('reader', '-c', 'CALL follow(120)');

sub running { my ($p) = @_; return $p->{h}->pumpable; }

# Wait until every writer has committed something.
ok( $node->poll_query_until('postgres',
		"SELECT count(DISTINCT w) = $WRITERS AND count(*) >= 200 FROM put_log"),
	'writers are writing');

# ---------------------------------------------------------------------------
# The driver: reshards while they write.

sub open_shards
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM kinesis.list_shards('$STREAM', 'AT_LATEST')");
}

my @ops;    # the reshards done, by description

sub reshard
{
	my ($what, $sql) = @_;
	my ($out, $err, $timed_out) = ('', '', 0);
	my $t0 = time;
	my $rc = $node->psql(
		'postgres', $sql,
		stdout    => \$out,
		stderr    => \$err,
		timeout   => 60,
		timed_out => \$timed_out);
	my $took = sprintf('%.2f', time - $t0);
	ok(!$timed_out, "reshard: $what finished within 60 s");
	if ($timed_out)
	{
		# do not leave it holding the shards: the writers would hang
		diag('backends: ' . $node->safe_psql('postgres',
			q{SELECT string_agg(format('%s %s %s', pid, state, query), E'\n')
			    FROM pg_stat_activity WHERE backend_type = 'client backend'}));
		$node->safe_psql('postgres',
			q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			   WHERE query ~ 'kinesis\.(update_shard_count|split_shard|merge_shards)'
			     AND pid <> pg_backend_pid()});
	}
	is($rc, 0, "reshard: $what") or diag("stderr: $err");
	note("$what took $took s, now " . open_shards() . ' open shards');
	push @ops, $what;
	return;
}

sub update_shard_count
{
	my ($target) = @_;
	reshard("update_shard_count to $target",
		"SELECT * FROM kinesis.update_shard_count('$STREAM', $target)");
	is(open_shards(), $target, "$target open shards after update_shard_count");
	return;
}

# split the widest open shard at the midpoint of its range
sub split_widest
{
	my ($shard, $key) = split /\|/, $node->safe_psql(
		'postgres', qq{
SELECT shard_id, div(starting_hash_key + ending_hash_key + 1, 2)
  FROM kinesis.list_shards('$STREAM', 'AT_LATEST')
 ORDER BY ending_hash_key - starting_hash_key DESC, shard_id LIMIT 1});
	my $before = open_shards();
	reshard("split_shard $shard at $key",
		"SELECT kinesis.split_shard('$STREAM', '$shard', $key)");
	is(open_shards(), $before + 1, "split_shard $shard adds an open shard");
	return;
}

# merge the lowest pair of adjacent open shards
sub merge_lowest_pair
{
	my ($a, $b) = split /\|/, $node->safe_psql(
		'postgres', qq{
SELECT a.shard_id, b.shard_id
  FROM kinesis.list_shards('$STREAM', 'AT_LATEST') a
  JOIN kinesis.list_shards('$STREAM', 'AT_LATEST') b
    ON a.ending_hash_key + 1 = b.starting_hash_key
 ORDER BY a.starting_hash_key LIMIT 1});
	my $before = open_shards();
	reshard("merge_shards $a and $b",
		"SELECT kinesis.merge_shards('$STREAM', '$a', '$b')");
	is(open_shards(), $before - 1, "merge_shards $a and $b removes an open shard");
	return;
}

my $pause = 0.3;
my @plan = (
	sub { update_shard_count(4) },
	sub { split_widest() },
	sub { update_shard_count(3) },
	sub { merge_lowest_pair() },
	sub { update_shard_count(4) },
	sub { merge_lowest_pair() },
	sub { split_widest() },
	sub { update_shard_count(2) },
	sub { split_widest() },
	sub { merge_lowest_pair() },
	sub { update_shard_count(4) },
	sub { update_shard_count(2) },
);
for my $step (@plan)
{
	usleep($pause * 1_000_000);
	$step->();
}
usleep($pause * 1_000_000);

my $still = grep { running($_) } @writers;
is($still, $WRITERS, 'every writer was still writing after the last reshard');
ok(running($reader), 'the reader was still following after the last reshard');

# Stop the writers, wait for them, then let the reader finish.
$node->safe_psql('postgres', 'UPDATE ctl SET stop_writers = true');
for my $p (@writers)
{
	eval { $p->{h}->finish; };
	diag("$p->{name}: $@") if $@;
	is($p->{h}->result(0), 0, "$p->{name} exited with status 0");
	my $err = slurp_if_exists($p->{err});
	unlike($err, qr/ERROR|FATAL|PANIC/, "$p->{name} got no error")
	  or diag("$p->{name} stderr:\n$err");
}
$node->safe_psql('postgres', 'UPDATE ctl SET done = true');
eval { $reader->{h}->finish; };
diag("reader: $@") if $@;
is($reader->{h}->result(0), 0, 'reader exited with status 0');
my $reader_err = slurp_if_exists($reader->{err});
unlike($reader_err, qr/ERROR|FATAL|PANIC/, 'reader got no error')
  or diag("reader stderr:\n$reader_err");
note(sprintf('writing, resharding and reading took %.1f s', time - $t_start));
note('deadlocks detected (and retried by the reshards): '
	  . $node->safe_psql('postgres',
		"SELECT deadlocks FROM pg_stat_database WHERE datname = 'postgres'"));

# ---------------------------------------------------------------------------
# Verification.

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# every record stored in the stream, read shard by shard
q1(qq{
CREATE TABLE stored AS
SELECT l.shard_id, r.sequence_number AS seq, r.partition_key AS pk,
       convert_from(r.data, 'UTF8') AS data,
       split_part(convert_from(r.data, 'UTF8'), ':', 1) AS wtag,
       split_part(convert_from(r.data, 'UTF8'), ':', 2) AS k,
       split_part(convert_from(r.data, 'UTF8'), ':', 3)::int AS n
  FROM kinesis.list_shards('$STREAM') l,
       kinesis.read_records('$STREAM', l.shard_id, NULL, 10000) r;
ALTER TABLE stored ADD COLUMN w int;
UPDATE stored SET w = substr(wtag, 2)::int;
CREATE TABLE shards AS SELECT * FROM kinesis.list_shards('$STREAM');
});

my $logged = q1('SELECT count(*) FROM put_log');
my $stored = q1('SELECT count(*) FROM stored');
note("$logged records acknowledged, $stored stored, in "
	  . q1('SELECT count(*) FROM shards') . ' shards, '
	  . q1('SELECT count(DISTINCT shard_id) FROM stored') . ' of them with records');
cmp_ok($logged, '>=', 1000, 'the writers acknowledged at least 1000 records');
cmp_ok(q1('SELECT count(DISTINCT shard_id) FROM put_log'), '>=', 8,
	'records went to many shards of several generations');

# 1. everything acknowledged is stored exactly once, nothing else is
is($stored, $logged, 'as many records stored as acknowledged');
none($node, q{SELECT data, count(*) FROM stored GROUP BY data HAVING count(*) > 1},
	'no record is stored twice');
none($node,
	q{SELECT w, k, count(*), min(n), max(n) FROM put_log GROUP BY w, k
	   HAVING count(*) <> max(n) OR min(n) <> 1},
	'per writer and key, the acknowledged n run 1..max without gaps');
none($node,
	q{SELECT p.* FROM put_log p
	   WHERE NOT EXISTS (SELECT 1 FROM stored s
	                      WHERE s.shard_id = p.shard_id AND s.seq = p.seq
	                        AND s.pk = p.k AND s.data = format('w%s:%s:%s', p.w, p.k, p.n))},
	'every acknowledged record is stored in its shard at its sequence number');
none($node,
	q{SELECT s.* FROM stored s
	   WHERE NOT EXISTS (SELECT 1 FROM put_log p WHERE p.w = s.w AND p.k = s.k AND p.n = s.n)},
	'every stored record was acknowledged');
none($node, q{SELECT * FROM stored WHERE pk <> k}, 'stored partition keys match the data');

# 2. per writer and key: put order = lineage order = sequence number order
none($node,
	q{SELECT * FROM (SELECT w, k, n, shard_id, seq,
	                        row_number() OVER (PARTITION BY w, k ORDER BY shard_id, seq) AS ord
	                   FROM stored) x WHERE ord <> n},
	'per writer and key, reading shards by id (parents first) gives put order');
none($node,
	q{SELECT * FROM (SELECT w, k, n, shard_id, seq,
	                        row_number() OVER (PARTITION BY w, k ORDER BY seq) AS ord
	                   FROM stored) x WHERE ord <> n},
	'per writer and key, sequence numbers increase in put order');
none($node,
	q{WITH RECURSIVE edge(child, parent) AS (
	      SELECT shard_id, parent_shard_id FROM shards WHERE parent_shard_id IS NOT NULL
	      UNION ALL
	      SELECT shard_id, adjacent_parent_shard_id FROM shards WHERE adjacent_parent_shard_id IS NOT NULL),
	  anc(shard_id, ancestor) AS (
	      SELECT child, parent FROM edge
	      UNION
	      SELECT a.shard_id, e.parent FROM anc a JOIN edge e ON e.child = a.ancestor),
	  runs AS (SELECT shard_id, w, k, min(n) AS min_n, max(n) AS max_n FROM stored GROUP BY 1, 2, 3)
	  SELECT c.w, c.k, c.shard_id, c.min_n, a.shard_id AS ancestor, a.max_n AS ancestor_max_n
	    FROM runs c JOIN anc ON anc.shard_id = c.shard_id
	    JOIN runs a ON a.shard_id = anc.ancestor AND a.w = c.w AND a.k = c.k
	   WHERE a.max_n > c.min_n},
	'per writer and key, every record of an ancestor shard precedes those of its descendants');

# 3. the reader saw every record exactly once, per writer and key in put order
is(q1('SELECT count(*) FROM seen'), $logged, 'the reader got as many records as acknowledged');
none($node, q{SELECT data, count(*) FROM seen GROUP BY data HAVING count(*) > 1},
	'the reader got no record twice');
none($node,
	q{SELECT s.* FROM stored s
	   WHERE NOT EXISTS (SELECT 1 FROM seen r
	                      WHERE r.shard_id = s.shard_id AND r.seq = s.seq AND r.data = s.data)},
	'the reader got every stored record, from its shard, with its sequence number');
none($node,
	q{SELECT * FROM (SELECT id, shard_id, seq, data,
	                        split_part(data, ':', 3)::int AS n,
	                        row_number() OVER (PARTITION BY split_part(data, ':', 1), split_part(data, ':', 2)
	                                           ORDER BY id) AS ord
	                   FROM seen) x WHERE ord <> n},
	'per writer and key, the reader got the records in put order');
none($node,
	q{SELECT r.shard_id, r.state FROM reader_shards r
	    FULL JOIN shards s USING (shard_id)
	   WHERE r.state IS DISTINCT FROM CASE WHEN s.ending_sequence_number IS NULL THEN 'active' ELSE 'ended' END},
	'the reader reached every shard, ended the closed ones and follows the open ones');

# 4./5. closed shards end above their records and below their children
none($node,
	q{SELECT p.shard_id FROM shards p
	   WHERE p.ending_sequence_number IS NULL
	     AND EXISTS (SELECT 1 FROM shards c WHERE p.shard_id IN (c.parent_shard_id, c.adjacent_parent_shard_id))},
	'every parent shard is closed (has an ending sequence number)');
is(q1('SELECT count(*) FROM shards WHERE ending_sequence_number IS NULL'),
	'2', 'two shards are open at the end');
is( q1(
		q{SELECT bool_and(adjacent) AND max(ending_hash_key) = 340282366920938463463374607431768211455
		    FROM (SELECT ending_hash_key,
		                 coalesce(lag(ending_hash_key) OVER (ORDER BY starting_hash_key) + 1, 0)
		                   = starting_hash_key AS adjacent
		            FROM shards WHERE ending_sequence_number IS NULL) o}
	),
	't',
	'the open shards cover the hash key space without gaps');
none($node,
	q{SELECT l.shard_id, l.ending_sequence_number, max(s.seq)
	    FROM shards l JOIN stored s USING (shard_id)
	   WHERE l.ending_sequence_number IS NOT NULL
	   GROUP BY 1, 2 HAVING max(s.seq) >= l.ending_sequence_number},
	'every record of a closed shard is below its ending sequence number');
none($node,
	q{SELECT l.shard_id, count(*) FROM shards l JOIN stored s USING (shard_id)
	   WHERE s.seq < l.starting_sequence_number GROUP BY 1},
	'no record is below its shard\'s starting sequence number');
none($node,
	q{SELECT c.shard_id, p.shard_id AS parent, c.starting_sequence_number, p.ending_sequence_number
	    FROM shards c JOIN shards p ON p.shard_id IN (c.parent_shard_id, c.adjacent_parent_shard_id)
	   WHERE c.starting_sequence_number <= p.ending_sequence_number},
	'every child starts above its parents\' ending sequence numbers');
none($node,
	q{SELECT c.shard_id, p.shard_id AS parent,
	         (SELECT min(seq) FROM stored WHERE shard_id = c.shard_id) AS child_min,
	         (SELECT max(seq) FROM stored WHERE shard_id = p.shard_id) AS parent_max
	    FROM shards c JOIN shards p ON p.shard_id IN (c.parent_shard_id, c.adjacent_parent_shard_id)
	   WHERE (SELECT min(seq) FROM stored WHERE shard_id = c.shard_id)
	         <= (SELECT max(seq) FROM stored WHERE shard_id = p.shard_id)},
	'every record of a child is above every record of its parents');
none($node,
	q{SELECT s.shard_id, s.pk, hash_key(s.pk), l.starting_hash_key, l.ending_hash_key
	    FROM stored s JOIN shards l USING (shard_id)
	   WHERE hash_key(s.pk) NOT BETWEEN l.starting_hash_key AND l.ending_hash_key},
	'every record lies in its shard\'s hash key range');

# the reshards all happened and are in the history
is( q1(
		qq{SELECT count(*) FROM kinesis.scaling_events e JOIN kinesis.streams s USING (stream_id)
		    WHERE s.stream_name = '$STREAM'}
	),
	scalar(@ops),
	'every reshard is in scaling_events');

note(sprintf('the whole test took %.1f s', time - $t_start));
$node->stop;
done_testing();
