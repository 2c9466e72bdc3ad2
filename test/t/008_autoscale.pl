# Autoscaling of ON_DEMAND streams: a hot hash key range gets its shard
# split (and the hot child split again, up to kinesis.autoscale_max_shards),
# cold adjacent shards are merged back, every decision is recorded in
# kinesis.scaling_events, and no record is lost or reordered per key.
# Workers are off: the test runs the maintenance passes itself, with a
# short measuring window.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('autoscale');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'kinesis'
kinesis.enable_workers = off
kinesis.autoscale_window = '300ms'
kinesis.autoscale_max_shards = 3
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION kinesis');
$node->safe_psql('postgres', "SELECT kinesis.create_stream('hot', 1, 'ON_DEMAND')");

my $written = 0;

# 500 records of 2000 bytes with hash keys in the lowest quarter of the
# range, under 10 partition keys whose data counts up per key
sub write_hot
{
	my ($calls) = @_;
	for (1 .. $calls)
	{
		$node->safe_psql(
			'postgres', qq{
SELECT count(*) FROM kinesis.put_records('hot',
    (SELECT array_agg(convert_to(lpad(($written + i)::text, 2000, '0'), 'UTF8') ORDER BY i)
       FROM generate_series(1, 500) i),
    (SELECT array_agg('key-' || (($written + i) % 10) ORDER BY i) FROM generate_series(1, 500) i),
    (SELECT array_agg(((($written + i) % 10) * 8507059173023461586584365185794205286)::numeric ORDER BY i)
       FROM generate_series(1, 500) i))});
		$written += 500;
	}
}

# one maintenance pass (merges off unless asked); its autoscaling actions
sub maintenance_pass
{
	my ($merge_percent) = @_;
	return $node->safe_psql(
		'postgres', qq{
SET kinesis.autoscale_merge_percent = $merge_percent;
SELECT coalesce(string_agg(action || ' ' || shard_id, ', '), '')
  FROM kinesis.run_maintenance() WHERE action IN ('split', 'merge', 'skip')});
}

sub open_shards
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM kinesis.list_shards('hot', 'AT_LATEST')");
}

# 1. the hot range splits its shard, in the middle
write_hot(2);
sleep(1);
write_hot(1);
is(maintenance_pass(0), 'split shardId-000000000000', 'a shard written above its capacity is split');
is( $node->safe_psql('postgres',
		"SELECT string_agg(starting_hash_key::text, ',' ORDER BY starting_hash_key) FROM kinesis.list_shards('hot', 'AT_LATEST')"),
	'0,170141183460469231731687303715884105728',
	'the split is even');

# 2. the hot child splits again; the cold one does not
sleep(1);
write_hot(2);
sleep(1);
write_hot(1);
is(maintenance_pass(0), 'split shardId-000000000001', 'the hot child is split, the cold one is not');
is(open_shards(), 3, 'three open shards');

# 3. the maximum holds however hot
sleep(1);
write_hot(2);
sleep(1);
write_hot(1);
is(maintenance_pass(0), '', 'no split beyond kinesis.autoscale_max_shards');
is(open_shards(), 3, 'still three open shards');

# 4. cold adjacent shards merge back, one pair per pass
my @merges;
for (1 .. 40)
{
	my $done = maintenance_pass(10);
	push @merges, $done if $done ne '';
	last if open_shards() == 1;
	select(undef, undef, undef, 0.5);
}
is(open_shards(), 1, 'cold shards are merged back to one');
is(scalar(grep { /^merge / } @merges), 2, 'two merges, one per pass');

is( $node->safe_psql(
		'postgres', q{
SELECT string_agg(operation, ',' ORDER BY event_id) FROM kinesis.scaling_events
 WHERE stream_id = (SELECT stream_id FROM kinesis.streams WHERE stream_name = 'hot')}),
	'autoscale_split,autoscale_split,autoscale_merge,autoscale_merge',
	'every decision is recorded');
like( $node->safe_psql(
		'postgres', q{
SELECT detail FROM kinesis.scaling_events WHERE operation = 'autoscale_split' ORDER BY event_id LIMIT 1}),
	qr/^shardId-000000000000 wrote \d+ KiB\/s and \d+ records\/s, \d+% of a shard over the last window$/,
	'a decision says what was measured');

# 5. nothing lost, per key in order across all generations of shards
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM kinesis.list_shards('hot') l, kinesis.read_records('hot', l.shard_id)"),
	$written, 'every record is there');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
  SELECT r.partition_key, convert_from(r.data, 'UTF8')::bigint AS n,
         lag(convert_from(r.data, 'UTF8')::bigint)
           OVER (PARTITION BY r.partition_key ORDER BY l.shard_id, r.sequence_number) AS prev
    FROM kinesis.list_shards('hot') l, kinesis.read_records('hot', l.shard_id) r) x
 WHERE prev >= n}),
	0, 'per partition key, records read parents first are in write order');

# 6. a split the shard limit refuses is reported; the pass goes on
$node->append_conf('postgresql.conf', 'kinesis.max_shards = 1');
$node->restart;
write_hot(2);
sleep(1);
write_hot(1);
like( $node->safe_psql(
		'postgres', q{
SELECT string_agg(action || ' ' || shard_id || ': ' || detail, ', ')
  FROM kinesis.run_maintenance() WHERE action IN ('split', 'skip')}),
	qr/^skip shardId-\d{12}: split failed: shard limit exceeded$/,
	'a refused split is reported as skipped, and the pass completes');
is(open_shards(), 1, 'nothing changed');

$node->stop;
done_testing();
