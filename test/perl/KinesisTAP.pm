# Helpers shared by the TAP tests in test/t (scripts/test.sh puts this
# directory on PERL5LIB): background psql sessions and result checks.

package KinesisTAP;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(background_psql slurp_if_exists none);

# Start psql in the background against $node's postgres database, on a
# script file or commands (@args: '-f', FILE or '-c', SQL); its output
# goes to $dir/$name.out and .err.  Returns { name, out, err, h }, h the
# IPC::Run harness.  Options: appname (application_name of the session),
# timeout (seconds, default 180).
sub background_psql
{
	my ($node, $dir, $name, $opts, @args) = @_;
	my %p = (name => $name, out => "$dir/$name.out", err => "$dir/$name.err");
	my $connstr = $node->connstr('postgres');

	$connstr .= " application_name=$opts->{appname}" if defined $opts->{appname};
	$p{h} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $connstr, @args ],
		'<', \undef, '>', $p{out}, '2>', $p{err},
		IPC::Run::timeout($opts->{timeout} // 180));
	return \%p;
}

# A file's contents, '' when it does not exist (yet).
sub slurp_if_exists
{
	my ($file) = @_;
	return -e $file ? PostgreSQL::Test::Utils::slurp_file($file) : '';
}

# Check that a query returns no rows; on failure show a few of them.
sub none
{
	my ($node, $sql, $name) = @_;
	my $rows = $node->safe_psql('postgres', "SELECT count(*) FROM ($sql) x");
	is($rows, 0, $name)
	  or diag("$rows rows, for example:\n" . $node->safe_psql('postgres', "$sql LIMIT 10"));
	return;
}

1;
