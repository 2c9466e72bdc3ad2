# Upgrades: a database that installed an earlier release (0.1.0, 0.2.0)
# and runs ALTER EXTENSION kinesis UPDATE ends with exactly the objects of
# a fresh install of the current version (functions with their definitions, tables, views, types,
# constraints, indexes, comments, privileges, dump configuration), and its
# streams keep working, with the new features.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'kinesis'
kinesis.enable_workers = off
});
$node->start;

my $current = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'kinesis'");
isnt($current, '0.2.0', "the current version ($current) is newer than 0.2.0");

# Every object of the extension, described in a form that does not depend
# on oids or creation order.
my %catalog = (
	'functions' => q{
SELECT p.oid::regprocedure::text || ' ' || pg_get_functiondef(p.oid) || ' '
       || coalesce(obj_description(p.oid, 'pg_proc'), '-') || ' ' || coalesce(p.proacl::text, '-')
  FROM pg_proc p WHERE p.pronamespace = 'kinesis'::regnamespace ORDER BY 1},
	'relations' => q{
SELECT c.relname || ' ' || c.relkind::text || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
       || ' ' || coalesce(c.relacl::text, '-') || ' ' ||
       coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                   || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''),
                                   ', ' ORDER BY a.attnum)
                   FROM pg_attribute a
                   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
       || CASE WHEN c.relkind = 'v' THEN ' ' || pg_get_viewdef(c.oid) ELSE '' END
  FROM pg_class c WHERE c.relnamespace = 'kinesis'::regnamespace ORDER BY 1},
	'constraints' => q{
SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'kinesis'::regnamespace ORDER BY 1},
	'indexes' => q{
SELECT regexp_replace(indexdef, '_idx\d*', '_idx')
  FROM pg_indexes WHERE schemaname = 'kinesis' ORDER BY 1},
	'types' => q{
SELECT t.typname || ' ' || t.typtype::text FROM pg_type t
 WHERE t.typnamespace = 'kinesis'::regnamespace ORDER BY 1},
	'triggers' => q{
SELECT tgrelid::regclass::text || ' ' ||
       regexp_replace(pg_get_triggerdef(oid), 'RI_ConstraintTrigger_([ac])_\d+', 'RI_ConstraintTrigger_\1')
  FROM pg_trigger
 WHERE tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'kinesis'::regnamespace)
 ORDER BY 1},
	'dump configuration' => q{
SELECT string_agg(c::regclass::text, ', ' ORDER BY c::regclass::text)
  FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'kinesis'},
	'members' => q{
SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'kinesis')
   AND deptype = 'e' ORDER BY 1},
);

# Compare every object of the upgraded database with the fresh one.
sub upgraded_equals_fresh
{
	my ($db, $old) = @_;

	for my $what (sort keys %catalog)
	{
		my $fresh = $node->safe_psql('fresh', $catalog{$what});
		my $upgraded = $node->safe_psql($db, $catalog{$what});
		ok(length($fresh) > 0, "a fresh install has $what");
		is($upgraded, $fresh, "$old: $what after the upgrade equal a fresh install's");
	}
}

# The old stream works after the upgrade, and the new features with it.
sub upgraded_works
{
	my ($db, $old) = @_;

	is($node->safe_psql($db,
			"SELECT count(*) FROM kinesis.list_shards('old') l, kinesis.read_records('old', l.shard_id)"),
		3, "$old: records written before the upgrade are readable");
	$node->safe_psql($db, q{
SELECT kinesis.update_shard_count('old', 4);
SELECT count(*) FROM kinesis.put_records('old', ARRAY['d', 'e']::bytea[], ARRAY['k1', 'k2']);
SELECT count(*) FROM kinesis.run_maintenance();
});
	is($node->safe_psql($db,
			"SELECT count(*) FROM kinesis.list_shards('old', 'AT_LATEST')"),
		4, "$old: resharding works after the upgrade");
	is($node->safe_psql($db,
			"SELECT count(*) FROM kinesis.list_shards('old') l, kinesis.read_records('old', l.shard_id)"),
		5, "$old: every record is readable after resharding");
	is($node->safe_psql($db,
			"SELECT sum(sum) FROM kinesis.metrics WHERE stream_name = 'old' AND shard_id IS NULL AND metric_name = 'PutRecords.SuccessfulRecords'"),
		$old eq '0.1.0' ? 2 : 5,
		"$old: metrics work after the upgrade"
		  . ($old eq '0.1.0' ? ' (the pass before it had nowhere to keep them)' : ''));
	# applications: a caught-up one lags by 0 ms
	is($node->safe_psql($db, q{
SELECT kinesis.create_application('app', 'old');
SELECT count(*) FROM kinesis.acquire_leases('app', 'w');
SELECT count(*) FROM (SELECT kinesis.checkpoint('app', shard_id, max(sequence_number), max(lease_token))
  FROM kinesis.consume('app', 'w') GROUP BY shard_id) c;
SELECT count(*) FROM kinesis.application_status('app') WHERE millis_behind_latest = 0;
}), "\n2\n2\n2", "$old: applications work after the upgrade (on the 2 closed parents)");
}

my @releases = ('0.1.0', '0.2.0');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION kinesis');
for my $old (@releases)
{
	my $db = "upgraded_$old" =~ s/\./_/gr;

	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION kinesis VERSION '$old'");
	$node->safe_psql($db, q{
SELECT kinesis.create_stream('old', 2);
SELECT count(*) FROM kinesis.put_records('old', ARRAY['a', 'b', 'c']::bytea[], ARRAY['k1', 'k2', 'k3']);
});
	# the new library serves the old catalog until the update
	is($node->safe_psql($db, q{
SELECT count(*) FROM kinesis.run_maintenance();
SELECT count(*) FROM kinesis.list_shards('old') l, kinesis.read_records('old', l.shard_id);
}), "0\n3", "$old: before ALTER EXTENSION UPDATE, puts, reads and maintenance work");
	$node->safe_psql($db, 'ALTER EXTENSION kinesis UPDATE');
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'kinesis'"),
		$current, "$old: ALTER EXTENSION UPDATE reaches the current version");
	upgraded_equals_fresh($db, $old);
	upgraded_works($db, $old);
}

$node->stop;
done_testing();
