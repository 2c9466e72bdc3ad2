# The launcher and the per-database maintenance workers: a worker starts
# after CREATE EXTENSION and does the maintenance, restarts after a crash
# and after being terminated, stops after DROP EXTENSION, does not block
# DROP DATABASE, follows kinesis.enable_workers, and nothing runs on a
# standby until it is promoted.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('workers');
$node->init(allows_streaming => 1);
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'kinesis'
kinesis.maintenance_interval = '200ms'
max_worker_processes = 16
restart_after_crash = on
});
$node->start;

# the state of a database's worker in kinesis.workers
sub worker_state
{
	my ($dbname) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(state, ','), 'none') FROM kinesis.workers WHERE database = '$dbname'");
}

sub worker_pid
{
	my ($dbname) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(max(pid), 0) FROM kinesis.workers WHERE database = '$dbname' AND state = 'running'");
}

sub kinesis_backends
{
	my ($n, $dbname) = @_;
	return $n->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kinesis worker'"
		  . ($dbname ? " AND datname = '$dbname'" : ''));
}

# the launcher's own database view needs the extension somewhere to query it
$node->safe_psql('postgres', 'CREATE EXTENSION kinesis');
$node->safe_psql('postgres', 'CREATE DATABASE db1');
$node->safe_psql('postgres', 'CREATE DATABASE plain');

ok( $node->poll_query_until('postgres',
		"SELECT state = 'no extension' FROM kinesis.workers WHERE database = 'plain'"),
	'a database without the extension gets no lasting worker');

$node->safe_psql('db1', 'CREATE EXTENSION kinesis');
ok( $node->poll_query_until('postgres',
		"SELECT state = 'running' AND pid IS NOT NULL AND last_run IS NOT NULL FROM kinesis.workers WHERE database = 'db1'"),
	'CREATE EXTENSION starts a worker that runs passes');
is(kinesis_backends($node, 'db1'), '1', 'exactly one worker in db1');

# the worker does the maintenance: a segment rotation once the (moved)
# clock says the current segment is older than half the retention
$node->safe_psql('db1', q{SELECT kinesis.create_stream('w', 1);
                          SELECT count(*) FROM kinesis.put_record('w', 'x', 'k')});
$node->append_conf('postgresql.conf', "kinesis.debug_clock_offset = '13h'\n");
$node->reload;
ok( $node->poll_query_until('db1',
		q{SELECT count(*) = 2 FROM kinesis.segments s JOIN kinesis.streams USING (stream_id) WHERE stream_name = 'w'}),
	'the worker rotated the segments');
is($node->safe_psql('db1', q{SELECT count(*) FROM kinesis.read_records('w', '0')}),
	'1', 'records are still there after the rotation');

# terminated: started again (after a pause)
my $pid = worker_pid('db1');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until('postgres',
		"SELECT pid IS NOT NULL AND pid <> $pid AND state = 'running' FROM kinesis.workers WHERE database = 'db1'"),
	'a terminated worker is replaced');

# crash: kill -9 restarts the cluster; the launcher comes back, then the worker
$pid = worker_pid('db1');
kill 'KILL', $pid;
ok( $node->poll_query_until('postgres',
		"SELECT pid IS NOT NULL AND pid <> $pid AND state = 'running' FROM kinesis.workers WHERE database = 'db1'"),
	'after a crash the launcher and the worker come back');

# DROP EXTENSION: the worker goes; CREATE EXTENSION: it comes back
$node->safe_psql('db1', 'DROP EXTENSION kinesis CASCADE');
ok( $node->poll_query_until('postgres',
		"SELECT state = 'no extension' FROM kinesis.workers WHERE database = 'db1'"),
	'DROP EXTENSION stops the worker');
is(kinesis_backends($node, 'db1'), '0', 'no worker left in db1');
$node->safe_psql('db1', 'CREATE EXTENSION kinesis');
ok( $node->poll_query_until('postgres',
		"SELECT state = 'running' AND pid IS NOT NULL FROM kinesis.workers WHERE database = 'db1'"),
	'CREATE EXTENSION starts it again');

# a rolled-back CREATE EXTENSION leaves no worker
$node->safe_psql('postgres', 'CREATE DATABASE db2');
$node->safe_psql('db2', 'BEGIN; CREATE EXTENSION kinesis; ROLLBACK;');
ok( $node->poll_query_until('postgres',
		"SELECT state = 'no extension' FROM kinesis.workers WHERE database = 'db2'"),
	'a rolled-back CREATE EXTENSION leaves no worker');

# DROP DATABASE is not blocked by the worker
my $t0 = time;
$node->safe_psql('postgres', 'DROP DATABASE db1');
ok(time - $t0 < 5, 'DROP DATABASE is not blocked');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM kinesis.workers WHERE database IS NULL AND kind = 'worker'"),
	'its slot is freed');

# kinesis.enable_workers = off stops the workers, on starts them again
$node->safe_psql('postgres', 'CREATE DATABASE db3');
$node->safe_psql('db3', 'CREATE EXTENSION kinesis');
ok($node->poll_query_until('postgres',
		"SELECT state = 'running' FROM kinesis.workers WHERE database = 'db3'"), 'db3 has a worker');
$node->append_conf('postgresql.conf', "kinesis.enable_workers = off\n");
$node->reload;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'kinesis worker'"),
	'enable_workers = off stops every worker');
$node->append_conf('postgresql.conf', "kinesis.enable_workers = on\n");
$node->reload;
ok($node->poll_query_until('postgres',
		"SELECT state = 'running' FROM kinesis.workers WHERE database = 'db3'"),
	'enable_workers = on starts them again');

# a standby runs no launcher and no worker until promoted
$node->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'b', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
sleep 2;
is( $standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'kinesis%'"),
	'0', 'nothing runs on a standby');
$standby->promote;
ok( $standby->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'kinesis worker' AND datname = 'db3'"),
	'after promotion the workers start');

$standby->stop;
$node->stop;
done_testing();
