
# Sequence numbers survive crashes.
#
# A background writer appends records in autocommit transactions and reports
# every sequence number whose COMMIT returned; a background reader reports
# the largest sequence number it read per shard.  The server is stopped in
# immediate mode (a crash) while they run, then started again.
#
# Phase A (synchronous_commit = on): every acknowledged or read record must
# still be there after the restart.
# Phase B (synchronous_commit = off for the writer): acknowledged records may
# be lost, but no sequence number may ever be handed out twice.
#
# Both phases: after the restart, new sequence numbers of every shard exceed
# every number seen before the crash (acknowledged, read or still stored).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Math::BigInt;
use Time::HiRes qw(time usleep);

my $STREAM = 'crash';

# The hash keys that route to the first and to the last of two shards.
my $KEY_FIRST = '0';
my $KEY_LAST  = '340282366920938463463374607431768211455';

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
# A long wal_writer_delay leaves asynchronously committed WAL in memory a
# little longer, so phase B has a chance to actually lose acknowledged
# records (it does not change anything for synchronous commits).
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'kinesis'
# the writer outruns a provisioned shard's 1000 records/s
kinesis.enforce_limits = off
max_connections = 20
wal_writer_delay = '10s'
log_statement = none
});
$node->start;

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION kinesis;
SELECT kinesis.create_stream('$STREAM', 2);

-- Appends records until the server goes away (or 60 s pass), one
-- transaction each; a record is acknowledged only after its COMMIT returned.
CREATE PROCEDURE test_writer()
LANGUAGE plpgsql AS \$\$
DECLARE
    r   record;
    i   int := 0;
    t0  timestamptz := clock_timestamp();
BEGIN
    LOOP
        i := i + 1;
        SELECT p.shard_id, p.sequence_number INTO r
          FROM kinesis.put_record('$STREAM', convert_to('record ' || i, 'UTF8'),
                                  'key-' || i) p;
        COMMIT;
        RAISE NOTICE 'acked % %', r.shard_id, r.sequence_number;
        EXIT WHEN clock_timestamp() - t0 > interval '60 s';
    END LOOP;
END
\$\$;

-- Reads every shard from where it left off, reporting the largest sequence
-- number it has read so far per shard.
CREATE PROCEDURE test_reader()
LANGUAGE plpgsql AS \$\$
DECLARE
    shards  text[];
    lasts   numeric[];
    m       numeric;
    i       int;
    t0      timestamptz := clock_timestamp();
BEGIN
    SELECT array_agg(s.shard_id ORDER BY s.shard_id) INTO shards
      FROM kinesis.list_shards('$STREAM') s;
    lasts := array_fill(NULL::numeric, ARRAY[array_length(shards, 1)]);
    LOOP
        FOR i IN 1 .. array_length(shards, 1) LOOP
            SELECT max(r.sequence_number) INTO m
              FROM kinesis.read_records('$STREAM', shards[i], lasts[i], 10000) r;
            IF m IS NOT NULL THEN
                lasts[i] := m;
                RAISE NOTICE 'read % %', shards[i], m;
            END IF;
        END LOOP;
        COMMIT;
        PERFORM pg_sleep(0.005);
        EXIT WHEN clock_timestamp() - t0 > interval '60 s';
    END LOOP;
END
\$\$;
});

my @shards = split /\n/,
  $node->safe_psql('postgres',
	"SELECT shard_id FROM kinesis.list_shards('$STREAM') ORDER BY shard_id");
is(scalar(@shards), 2, 'stream has two shards');

# Largest sequence number ever seen per shard, over the whole test.
my %max_seen = map { $_ => Math::BigInt->new(-1) } @shards;

sub note_seen
{
	my ($shard, $seq) = @_;
	my $v = Math::BigInt->new($seq);
	die "bad sequence number '$seq'" if $v->is_nan;
	die "unknown shard '$shard'" unless exists $max_seen{$shard};
	$max_seen{$shard} = $v if $v > $max_seen{$shard};
	return;
}

# Start psql in the background, running the given commands one by one
# (each with -c, so autocommit).  Notices arrive on stderr.
sub start_psql
{
	my @cmds = @_;
	my %h = (out => '', err => '');
	my @cmd = (
		'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'-d', $node->connstr('postgres'),
		map { ('-c', $_) } @cmds);
	$h{h} = IPC::Run::start(
		\@cmd, '<', \undef, '>', \$h{out}, '2>', \$h{err},
		IPC::Run::timeout(90));
	return \%h;
}

# Complete "NOTICE:  <tag> shard seq" lines seen so far; a trailing partial
# line (cut by the crash) is ignored.
sub parse_notices
{
	my ($text, $tag) = @_;
	my @res;
	my @lines = split /\n/, $text, -1;
	pop @lines;    # empty if the text ended with a newline, partial otherwise
	for my $l (@lines)
	{
		push @res, [ $1, $2 ] if $l =~ /^NOTICE:\s+$tag (\S+) (\d+)$/;
	}
	return @res;
}

# All sequence numbers stored in a shard (paging through read_records).
sub stored_seqs
{
	my ($shard) = @_;
	my @all;
	my $after = 'NULL';
	while (1)
	{
		my $out = $node->safe_psql('postgres',
			"SELECT sequence_number FROM kinesis.read_records('$STREAM', '$shard', $after, 10000)"
		);
		my @page = grep { $_ ne '' } split /\n/, $out;
		push @all, @page;
		last if @page < 10000;
		$after = $page[-1];
	}
	return @all;
}

sub run_phase
{
	my ($phase, $sync) = @_;

	my $writer = start_psql("SET synchronous_commit = $sync",
		'CALL test_writer()');
	my $reader = start_psql('CALL test_reader()');

	# Let them run for ~1.5 s and at least a few dozen acknowledged records.
	my $t0       = time;
	my $deadline = $t0 + 30;
	while (time < $deadline)
	{
		$writer->{h}->pump_nb;
		$reader->{h}->pump_nb;
		my $acked = () = $writer->{err} =~ /acked/g;
		my $read  = () = $reader->{err} =~ /read/g;
		last if time - $t0 > 1.5 && $acked >= 50 && $read >= 5;
		last unless $writer->{h}->pumpable && $reader->{h}->pumpable;
		usleep(20_000);
	}

	ok($writer->{h}->pumpable, "phase $phase: writer still running at the crash")
	  or diag("writer output: $writer->{err}");
	ok($reader->{h}->pumpable, "phase $phase: reader still running at the crash")
	  or diag("reader output: $reader->{err}");

	$node->stop('immediate');

	for my $p ($writer, $reader)
	{
		eval { $p->{h}->finish; };
		if ($@)
		{
			diag("background psql: $@");
			eval { $p->{h}->kill_kill; };
		}
	}

	my @acked = parse_notices($writer->{err}, 'acked');
	my @read  = parse_notices($reader->{err}, 'read');
	note("phase $phase: " . scalar(@acked) . ' acknowledged, '
		  . scalar(@read) . ' read reports before the crash');
	cmp_ok(scalar(@acked), '>', 0,
		"phase $phase: records were acknowledged before the crash");
	cmp_ok(scalar(@read), '>', 0, "phase $phase: records were read before the crash");

	note_seen(@$_) for @acked, @read;

	$node->start;

	# What survived.
	my %stored;
	for my $shard (@shards)
	{
		my @seqs = stored_seqs($shard);
		$stored{$shard} = { map { $_ => 1 } @seqs };
		note("phase $phase: $shard holds " . scalar(@seqs) . ' records after the restart');
		# Strictly increasing within the shard.
		my $ok = 1;
		for my $i (1 .. $#seqs)
		{
			if (Math::BigInt->new($seqs[$i]) <= Math::BigInt->new($seqs[ $i - 1 ]))
			{
				$ok = 0;
				diag("$shard: $seqs[$i] follows $seqs[$i-1]");
				last;
			}
		}
		ok($ok, "phase $phase: $shard is in strictly increasing order after the restart");
	}

	my @missing_acked = grep { !$stored{ $_->[0] }{ $_->[1] } } @acked;
	my @missing_read  = grep { !$stored{ $_->[0] }{ $_->[1] } } @read;
	if ($sync eq 'on')
	{
		is(scalar(@missing_acked), 0,
			"phase $phase: every acknowledged record survived the crash")
		  or diag('missing: ' . join(', ', map { "$_->[0]/$_->[1]" } @missing_acked[0 .. ($#missing_acked < 9 ? $#missing_acked : 9)]));
		is(scalar(@missing_read), 0,
			"phase $phase: every record read before the crash survived it")
		  or diag('missing: ' . join(', ', map { "$_->[0]/$_->[1]" } @missing_read[0 .. ($#missing_read < 9 ? $#missing_read : 9)]));
	}
	else
	{
		note("phase $phase: "
			  . scalar(@missing_acked)
			  . ' acknowledged and '
			  . scalar(@missing_read)
			  . ' read records were lost in the crash (allowed with synchronous_commit = off)');
	}

	# Everything stored before the restart counts as handed out, too.
	my %before = %max_seen;
	for my $shard (@shards)
	{
		for my $s (keys %{ $stored{$shard} })
		{
			my $v = Math::BigInt->new($s);
			$before{$shard} = $v if $v > $before{$shard};
		}
	}

	# New records after the restart: explicit hash keys for each shard, plus
	# a few routed by partition key.
	my $new = $node->safe_psql(
		'postgres', qq{
SELECT p.shard_id, p.sequence_number
  FROM kinesis.put_record('$STREAM', '\\x00'::bytea, 'after', $KEY_FIRST) p
UNION ALL
SELECT p.shard_id, p.sequence_number
  FROM kinesis.put_record('$STREAM', '\\x01'::bytea, 'after', $KEY_LAST) p;
});
	$new .= "\n"
	  . $node->safe_psql(
		'postgres', qq{
SELECT p.shard_id, p.sequence_number
  FROM generate_series(1, 20) g,
       LATERAL kinesis.put_record('$STREAM', '\\x02'::bytea, 'after-' || g) p;
});

	my %new_min;
	my %new_count;
	for my $line (split /\n/, $new)
	{
		next if $line eq '';
		my ($shard, $seq) = split /\|/, $line;
		my $v = Math::BigInt->new($seq);
		$new_count{$shard}++;
		$new_min{$shard} = $v
		  if !defined $new_min{$shard} || $v < $new_min{$shard};
		note_seen($shard, $seq);
	}

	for my $shard (@shards)
	{
		ok($new_count{$shard}, "phase $phase: new records went to $shard");
		next unless $new_count{$shard};
		ok($new_min{$shard} > $before{$shard},
			"phase $phase: new sequence numbers of $shard exceed every number seen before the crash"
		) or diag("smallest new $new_min{$shard}, largest before $before{$shard}");
	}

	# The new records are found after the last number read before the crash.
	for my $shard (@shards)
	{
		my $after = $before{$shard};
		my $cnt = $node->safe_psql('postgres',
			"SELECT count(*) FROM kinesis.read_records('$STREAM', '$shard', $after, 10000)"
		);
		is($cnt, $new_count{$shard} // 0,
			"phase $phase: the new records of $shard are read after the last number seen before the crash"
		);
	}
	return;
}

run_phase('A', 'on');
run_phase('B', 'off');

$node->stop;
done_testing();
