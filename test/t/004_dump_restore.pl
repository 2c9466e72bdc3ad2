# A database with streams survives pg_dump and restore: streams, shards,
# tags and records come back (the record tables are loaded before the
# append-only trigger is created), new records get larger sequence numbers
# than the restored ones, and iterators of the old database are rejected
# by the new one (each database signs iterators with its own key).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'kinesis'\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->safe_psql(
	'src', q{
CREATE EXTENSION kinesis;
SELECT kinesis.create_stream('events', 3, retention_period_hours => 48,
                             tags => '{"team": "web"}');
SELECT count(*) FROM kinesis.put_records('events',
    ARRAY(SELECT ('payload ' || i)::bytea FROM generate_series(1, 300) i),
    ARRAY(SELECT 'key-' || i FROM generate_series(1, 300) i));
});

my $summary = q{
SELECT s.stream_name, s.retention_period_hours, s.open_shard_count,
       (SELECT string_agg(key || '=' || value, ',') FROM kinesis.list_tags_for_stream('events')),
       (SELECT string_agg(l.shard_id || ':' || l.starting_sequence_number, ',' ORDER BY l.shard_id)
          FROM kinesis.list_shards('events') l)
  FROM kinesis.describe_stream_summary('events') s};
my $records = q{
SELECT string_agg(r.sequence_number || '/' || r.partition_key || '/' || encode(r.data, 'escape'),
                  ',' ORDER BY l.shard_id, r.sequence_number)
  FROM kinesis.list_shards('events') l, kinesis.read_records('events', l.shard_id) r};
my $iterator = $node->safe_psql('src',
	q{SELECT kinesis.get_shard_iterator('events', '0', 'TRIM_HORIZON')});

my $dump = $node->basedir . '/src.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump');
command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('dst'), '-f', $dump ],
	'restore');

is($node->safe_psql('dst', $summary), $node->safe_psql('src', $summary),
	'stream, shards and tags restored');
my $before = $node->safe_psql('src', $records);
is($node->safe_psql('dst', $records), $before, 'records restored with their sequence numbers');
is($node->safe_psql('dst',
		q{SELECT count(*) FROM kinesis.list_shards('events') l, kinesis.read_records('events', l.shard_id)}),
	'300', 'all 300 records');

# new records continue above the restored ones, shard by shard
is( $node->safe_psql(
		'dst', q{
WITH old AS (SELECT l.shard_id, max(r.sequence_number) AS m
               FROM kinesis.list_shards('events') l, kinesis.read_records('events', l.shard_id) r
              GROUP BY l.shard_id),
     new AS (SELECT p.shard_id, p.sequence_number
               FROM generate_series(1, 60) i, kinesis.put_record('events', 'new', 'key-' || i) p)
SELECT bool_and(new.sequence_number > old.m) FROM new JOIN old USING (shard_id)}),
	't', 'new sequence numbers exceed the restored ones');

# the restored record tables are append-only again
my ($rc, $out, $err) = $node->psql('dst',
	q{DELETE FROM kinesis_data.stream_1_shard_0});
like($err, qr/stream records cannot be written directly/, 'append-only trigger restored');

# each database signs iterators with its own secret
($rc, $out, $err) = $node->psql('dst', "SELECT kinesis.get_records('$iterator')");
like($err, qr/invalid shard iterator/, 'an iterator of the source database is rejected');
is($node->safe_psql('src', "SELECT cardinality(records) FROM kinesis.get_records('$iterator')"),
	$node->safe_psql('src', q{SELECT count(*) FROM kinesis.read_records('events', '0')}),
	'and still valid in its own database');

$node->stop;
done_testing();
