
# A transaction that wrote a stream cannot be prepared (SQLSTATE 0A000), and
# its records are not visible afterwards; transactions that did not write a
# stream can still be prepared, and readers are not held back by the
# refused one.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('prepared');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'kinesis'
max_prepared_transactions = 5
log_statement = none
});
$node->start;

$node->safe_psql(
	'postgres', q{
CREATE EXTENSION kinesis;
SELECT kinesis.create_stream('p', 1);
CREATE TABLE plain (i int);
});

sub count_records
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM kinesis.read_records('p', 'shardId-000000000000', NULL, 10000)"
	);
}

sub prepared_xacts
{
	return $node->safe_psql('postgres',
		'SELECT coalesce(string_agg(gid, \',\' ORDER BY gid), \'\') FROM pg_prepared_xacts');
}

# 1. put_record, then PREPARE TRANSACTION: refused with 0A000.
my ($ret, $out, $err) = $node->psql(
	'postgres', q{
\set VERBOSITY verbose
BEGIN;
SELECT count(*) FROM kinesis.put_record('p', 'x', 'k');
INSERT INTO plain VALUES (1);
PREPARE TRANSACTION 'x';
}, timeout => 60);
my ($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
isnt($ret, 0, 'PREPARE TRANSACTION after put_record fails');
is($state, '0A000', 'PREPARE TRANSACTION after put_record fails with SQLSTATE 0A000')
  or diag($err);
is(prepared_xacts(), '', 'no transaction was prepared');
is(count_records(), '0', 'the record of the refused transaction is not visible');
is($node->safe_psql('postgres', 'SELECT count(*) FROM plain'),
	'0', 'the other writes of the refused transaction are not visible either');

# The same with put_records and a write inside a subtransaction.
($ret, $out, $err) = $node->psql(
	'postgres', q{
\set VERBOSITY verbose
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM kinesis.put_records('p', ARRAY['a', 'b']::bytea[], ARRAY['k1', 'k2']);
RELEASE SAVEPOINT s;
PREPARE TRANSACTION 'y';
}, timeout => 60);
($state) = $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
is($state, '0A000',
	'PREPARE TRANSACTION after put_records in a subtransaction fails with SQLSTATE 0A000')
  or diag($err);
is(prepared_xacts(), '', 'still no prepared transaction');
is(count_records(), '0', 'the records of the refused transaction are not visible');

# 2. Readers are not held back: a later write is readable at once.
$node->safe_psql('postgres', "SELECT * FROM kinesis.put_record('p', 'ok', 'k')");
is($node->safe_psql('postgres',
		"SELECT string_agg(encode(data, 'escape'), ',') FROM kinesis.read_records('p', 'shardId-000000000000', NULL, 10000)"),
	'ok', 'a record committed after the refused PREPARE is readable');

# 3. Transactions that did not write a stream can be prepared, even if they
#    read one.
$node->safe_psql(
	'postgres', q{
BEGIN;
INSERT INTO plain VALUES (2);
PREPARE TRANSACTION 'plain';
});
$node->safe_psql(
	'postgres', q{
BEGIN;
SELECT count(*) FROM kinesis.read_records('p', 'shardId-000000000000', NULL, 10);
SELECT count(*) FROM kinesis.list_streams();
INSERT INTO plain VALUES (3);
PREPARE TRANSACTION 'reader';
});
is(prepared_xacts(), 'plain,reader', 'transactions without stream writes were prepared');

# A prepared transaction that did not write does not hold back readers.
$node->safe_psql('postgres', "SELECT * FROM kinesis.put_record('p', 'ok2', 'k')");
is(count_records(), '2', 'records are readable while unrelated transactions are prepared');

$node->safe_psql('postgres', "COMMIT PREPARED 'plain'");
$node->safe_psql('postgres', "ROLLBACK PREPARED 'reader'");
is($node->safe_psql('postgres', 'SELECT string_agg(i::text, \',\' ORDER BY i) FROM plain'),
	'2', 'COMMIT PREPARED and ROLLBACK PREPARED work');
is(prepared_xacts(), '', 'no prepared transaction left');

$node->stop;
done_testing();
