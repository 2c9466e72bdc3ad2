
# kinesis needs shared_preload_libraries.
#
# Without it CREATE EXTENSION fails (SQLSTATE 55000, with a hint naming
# shared_preload_libraries); with it the extension works; when it is taken
# out of shared_preload_libraries later, every call that needs the shared
# state raises that same error instead of crashing or misbehaving, and the
# data is intact once the library is preloaded again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $MSG = qr/kinesis must be loaded via shared_preload_libraries/;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->append_conf('postgresql.conf', "log_statement = none");
$node->start;

# Run SQL with verbose errors; returns (exit code, stdout, stderr, sqlstate).
sub run_sql
{
	my ($sql) = @_;
	my ($ret, $out, $err) =
	  $node->psql('postgres', "\\set VERBOSITY verbose\n$sql", timeout => 60);
	my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ($ret, $out, $err, $state);
}

sub set_preload
{
	my ($value) = @_;
	# the last setting in postgresql.conf wins
	$node->append_conf('postgresql.conf', "shared_preload_libraries = '$value'");
	$node->restart;
	is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
		$value, "shared_preload_libraries is now '$value'");
	return;
}

# An error that is the "not preloaded" error, message, hint and SQLSTATE.
sub is_not_loaded_error
{
	my ($what, $ret, $err, $state) = @_;
	isnt($ret, 0, "$what fails");
	is($state, '55000', "$what fails with SQLSTATE 55000")
	  or diag($err);
	like($err, $MSG, "$what says kinesis must be loaded via shared_preload_libraries");
	like($err, qr/^HINT:.*shared_preload_libraries/m,
		"$what hints at shared_preload_libraries");
	return;
}

sub server_alive
{
	my ($what) = @_;
	my ($ret, $out) = $node->psql('postgres', 'SELECT 42');
	ok($ret == 0 && $out eq '42', "server still answers after $what");
	return;
}

###########################################################################
# 1. not preloaded: CREATE EXTENSION is refused
###########################################################################

my ($ret, $out, $err, $state) = run_sql('CREATE EXTENSION kinesis');
is_not_loaded_error('CREATE EXTENSION without preload', $ret, $err, $state);
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_extension WHERE extname = 'kinesis'"),
	'0', 'extension not created');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_namespace WHERE nspname IN ('kinesis', 'kinesis_data')"),
	'0', 'no schema left behind');

# LOADing the library into the session does not count as preloading it.
($ret, $out, $err, $state) = run_sql("LOAD 'kinesis';\nCREATE EXTENSION kinesis");
is_not_loaded_error('CREATE EXTENSION after LOAD', $ret, $err, $state);
server_alive('a refused CREATE EXTENSION');

###########################################################################
# 2. preloaded: it works
###########################################################################

set_preload('kinesis');

$node->safe_psql('postgres', 'CREATE EXTENSION kinesis');
$node->safe_psql('postgres', "SELECT kinesis.create_stream('pre', 2)");
my $put = $node->safe_psql('postgres',
	"SELECT shard_id, sequence_number FROM kinesis.put_record('pre', 'hello', 'k1')");
like($put, qr/^shardId-00000000000[01]\|\d{40,}$/, 'put_record works when preloaded');
my ($shard, $seq) = split /\|/, $put;
is($node->safe_psql('postgres',
		"SELECT stream_name || ' ' || stream_status FROM kinesis.list_streams()"),
	'pre ACTIVE', 'list_streams works when preloaded');
is($node->safe_psql('postgres',
		"SELECT encode(data, 'escape') FROM kinesis.read_records('pre', '$shard', NULL, 10)"),
	'hello', 'read_records works when preloaded');
my $iterator = $node->safe_psql('postgres',
	"SELECT kinesis.get_shard_iterator('pre', '$shard', 'TRIM_HORIZON')");
ok($iterator ne '', 'got a shard iterator');

###########################################################################
# 3. no longer preloaded: calls raise the same error
###########################################################################

set_preload('');

($ret, $out, $err, $state) = run_sql(
	"SELECT * FROM kinesis.put_record('pre', 'again', 'k2')");
is_not_loaded_error('put_record without preload', $ret, $err, $state);
server_alive('put_record');

($ret, $out, $err, $state) = run_sql('SELECT * FROM kinesis.list_streams()');
is_not_loaded_error('list_streams without preload', $ret, $err, $state);
server_alive('list_streams');

# The other calls that use the shared state refuse the same way.
my @calls = (
	[ 'put_records',
		"SELECT * FROM kinesis.put_records('pre', ARRAY['a','b']::bytea[], ARRAY['k3','k4'])" ],
	[ 'create_stream',      "SELECT kinesis.create_stream('other', 1)" ],
	[ 'delete_stream',      "SELECT kinesis.delete_stream('pre')" ],
	[ 'list_shards',        "SELECT * FROM kinesis.list_shards('pre')" ],
	[ 'read_records',       "SELECT * FROM kinesis.read_records('pre', '$shard', NULL, 10)" ],
	[ 'get_shard_iterator', "SELECT kinesis.get_shard_iterator('pre', '$shard', 'TRIM_HORIZON')" ],
	[ 'get_records',        "SELECT * FROM kinesis.get_records('$iterator')" ],
);
for my $c (@calls)
{
	my ($name, $sql) = @$c;
	($ret, $out, $err, $state) = run_sql($sql);
	is_not_loaded_error("$name without preload", $ret, $err, $state);
}
server_alive('every refused call');

# Nothing was written or removed meanwhile (read the tables directly).
is($node->safe_psql('postgres',
		"SELECT string_agg(stream_name, ',' ORDER BY stream_name) FROM kinesis.streams"),
	'pre', 'no stream created or deleted without preload');

###########################################################################
# 4. preloaded again: the data is intact and writes continue above it
###########################################################################

set_preload('kinesis');

is($node->safe_psql('postgres',
		"SELECT string_agg(encode(r.data, 'escape'), ',') FROM kinesis.list_shards('pre') s, "
		  . "LATERAL kinesis.read_records('pre', s.shard_id, NULL, 100) r"),
	'hello', 'only the record written while preloaded is stored');
my $seq2 = $node->safe_psql('postgres',
	"SELECT sequence_number FROM kinesis.put_record('pre', 'later', 'k1')");
is($node->safe_psql('postgres', "SELECT ${seq2}::numeric > ${seq}::numeric"),
	't', 'a record written after preloading again gets a larger sequence number');

$node->stop;
done_testing();
