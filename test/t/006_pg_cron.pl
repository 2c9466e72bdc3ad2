# pg_cron mode: with kinesis.enable_workers = off no worker runs, and a
# pg_cron job calling kinesis.run_maintenance() does the same work.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'kinesis,pg_cron'
kinesis.enable_workers = off
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kinesis;
CREATE EXTENSION pg_cron;
SELECT kinesis.create_stream('cron', 2);
SELECT count(*) FROM kinesis.put_records('cron', ARRAY['a', 'b']::bytea[], ARRAY['a', 'b']);
});

# (the launcher stays, idle, so that turning workers on needs no restart)
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kinesis worker'"),
	'0', 'no worker runs with enable_workers = off');

# move the clock past half the retention period, then let pg_cron run the
# pass (pg_cron 1.4 runs jobs once a minute at most)
$node->append_conf('postgresql.conf', "kinesis.debug_clock_offset = '13h'\n");
$node->reload;
$node->safe_psql('postgres',
	q{SELECT cron.schedule('kinesis-maintenance', '* * * * *', 'SELECT kinesis.run_maintenance()')});

ok( $node->poll_query_until(
		'postgres', q{
SELECT count(*) = 4 FROM kinesis.segments JOIN kinesis.streams USING (stream_id)
 WHERE stream_name = 'cron'}),
	'the pg_cron job rotated the segments of both shards');
ok( $node->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'succeeded'}),
	'the job succeeded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM kinesis.read_records('cron', '0')})
	  + $node->safe_psql('postgres', q{SELECT count(*) FROM kinesis.read_records('cron', '1')}),
	2, 'no record lost');

$node->stop;
done_testing();
