# get_records with wait_ms is woken by a writer's commit: a reader waiting
# on an empty shard sleeps (wait event "Extension") without holding the
# shard's lock, an aborted writer does not end its wait, and a committed
# record does, long before the wait would time out.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('wait');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'kinesis'\nkinesis.enable_workers = off\n");
$node->start;
$node->safe_psql('postgres', "CREATE EXTENSION kinesis; SELECT kinesis.create_stream('w', 1)");
my $it = $node->safe_psql('postgres', "SELECT kinesis.get_shard_iterator('w', '0', 'LATEST')");

# the reader: one get_records that may wait 60 s
my ($out, $err) = ('', '');
my $started = time();
my $reader = IPC::Run::start(
	[
		'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c',
		"SELECT string_agg(convert_from(r.data, 'UTF8'), ',') FROM kinesis.get_records('$it', 10, 60000) g, unnest(g.records) r"
	],
	'>', \$out, '2>', \$err);

ok( $node->poll_query_until('postgres', q{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE query LIKE '%get_records%60000%' AND wait_event_type = 'Extension' AND pid <> pg_backend_pid()}),
	'the reader sleeps on the empty shard');
is( $node->safe_psql('postgres', q{
SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
 WHERE a.query LIKE '%get_records%60000%' AND a.pid <> pg_backend_pid()
   AND l.locktype = 'relation' AND l.relation::regclass::text LIKE 'kinesis_data.%'}),
	0, 'it holds no lock on the stream while it sleeps')
  or diag($node->safe_psql('postgres', q{SELECT l.relation::regclass, l.mode, l.granted FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.query LIKE '%get_records%60000%' AND a.pid <> pg_backend_pid() AND l.locktype = 'relation'}));

# a writer that rolls back wakes nobody for good
$node->safe_psql('postgres', "BEGIN; SELECT kinesis.put_record('w', 'rolled back', 'k'); ROLLBACK;");
sleep(1);
ok($reader->pumpable, 'an aborted write does not end the wait');

# a committed one does
my $put_at = time();
$node->safe_psql('postgres', "SELECT kinesis.put_record('w', 'hello', 'k')");
$reader->finish;
my $woken_after = time() - $put_at;
is($?, 0, 'the reader succeeded');
is($out =~ s/\s+$//r, 'hello', 'it returned the committed record only');
cmp_ok(time() - $started, '<', 50, 'it was woken, not timed out (60 s)');
note(sprintf('returned %.1f ms after the commit', $woken_after * 1000));

# consume waits on the whole stream: a commit to any shard wakes it
$node->safe_psql('postgres', q{
SELECT kinesis.create_stream('multi', 4);
SELECT kinesis.create_application('app', 'multi');
SELECT count(*) FROM kinesis.acquire_leases('app', 'worker');
});
($out, $err) = ('', '');
$started = time();
my $consumer = IPC::Run::start(
	[
		'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c',
		"SELECT shard_id || ':' || convert_from(data, 'UTF8') FROM kinesis.consume('app', 'worker', 100, 60000)"
	],
	'>', \$out, '2>', \$err);
ok( $node->poll_query_until('postgres', q{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE query LIKE '%consume%60000%' AND wait_event_type = 'Extension' AND pid <> pg_backend_pid()}),
	'consume sleeps while its shards are empty');
$node->safe_psql('postgres',
	"SELECT kinesis.put_record('multi', 'third', 'k', 200000000000000000000000000000000000000)");
$consumer->finish;
is($?, 0, 'consume succeeded');
is($out =~ s/\s+$//r, 'shardId-000000000002:third', 'it returned the record of the shard written');
cmp_ok(time() - $started, '<', 50, 'consume was woken, not timed out (60 s)');

$node->stop;
done_testing();
