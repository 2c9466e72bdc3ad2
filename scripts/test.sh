#!/usr/bin/env bash
# Runs every test suite against a temporary cluster with kinesis preloaded:
#   pg_regress        test/sql/*.sql     against test/expected/*.out
#   isolation         test/specs/*.spec  against test/expected/*.out
#   pgTAP (pg_prove)  test/pgtap/*.sql
#   TAP (prove)       test/t/*.pl        (each starts its own clusters)
# Prints regression.diffs on failure and exits non-zero if anything failed.
# The extension must be built and installed (scripts/build.sh).
# SUITES (default "regress isolation pgtap tap") picks suites while iterating.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

WORK=$(make_workdir)
cp -r test "$WORK/test"
[ "$(id -u)" -eq 0 ] && chown -R "$CLUSTER_USER" "$WORK/test"
cluster_start "$WORK" "
shared_preload_libraries = 'kinesis,pg_cron'
cron.database_name = 'postgres'
fsync = off
max_connections = 50
max_locks_per_transaction = 256
max_worker_processes = 32
# tests write far faster than a provisioned shard takes; test/sql/throttling
# turns the limits on
kinesis.enforce_limits = off
" || exit 1
trap 'cluster_stop "$WORK"' EXIT

SUITES=${SUITES:-regress isolation pgtap tap}
wanted() { [[ " $SUITES " == *" $1 "* ]]; }
passed=0
failed=0
failures=()

# Count the "... ok" / "... FAILED" lines of a pg_regress-style run.
count_regress() {
	local log=$1 ok bad
	ok=$(grep -cE '\.\.\. ok' "$log" || true)
	bad=$(grep -cE '\.\.\. FAILED|\.\.\. failed' "$log" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# pg_regress-style runs; tests come from the schedule file when given,
# else from every file of the directory
run_regress() {
	local kind=$1 runner=$2 dir=$3 ext=$4 db=$5 schedule=${6:-}
	local tests=()
	if [ -n "$schedule" ]; then
		tests=("--schedule=$WORK/test/$schedule")
	else
		for f in test/$dir/*.$ext; do
			[ -e "$f" ] || continue
			tests+=("$(basename "$f" ".$ext")")
		done
	fi
	[ ${#tests[@]} -gt 0 ] || return 0
	echo "== $kind: ${tests[*]}"
	local out="$WORK/$kind"
	as_user mkdir -p "$out"
	as_user "$runner" --host="$WORK" --port=5432 --user=postgres \
		--inputdir="$WORK/test" --outputdir="$out" --dbname="$db" \
		--load-extension=kinesis "${tests[@]}" 2>&1 | tee "$WORK/$kind.log"
	local rc=${PIPESTATUS[0]}
	count_regress "$WORK/$kind.log"
	if [ "$rc" -ne 0 ]; then
		grep -qE '\.\.\. (FAILED|failed)' "$WORK/$kind.log" || failed=$((failed + 1))
		failures+=("$kind")
		[ -f "$out/regression.diffs" ] && cat "$out/regression.diffs"
	fi
}

wanted regress && run_regress regress "$PGXS_DIR/src/test/regress/pg_regress" sql sql kinesis_regress schedule
wanted isolation && run_regress isolation "$PGXS_DIR/src/test/isolation/pg_isolation_regress" specs spec kinesis_isolation

# pgTAP: one database, each file through pg_prove.
if wanted pgtap && ls test/pgtap/*.sql >/dev/null 2>&1; then
	echo "== pgtap"
	as_user psql -X -q -v ON_ERROR_STOP=1 -d postgres \
		-c "CREATE DATABASE kinesis_tap" >/dev/null
	as_user psql -X -q -v ON_ERROR_STOP=1 -d kinesis_tap \
		-c "CREATE EXTENSION pgtap; CREATE EXTENSION kinesis" >/dev/null
	for f in "$WORK"/test/pgtap/*.sql; do
		if as_user env PGHOST="$WORK" PGPORT=5432 PGUSER=postgres \
			pg_prove --dbname kinesis_tap "$f"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures+=("pgtap/$(basename "$f")")
		fi
	done
fi

# TAP: PostgreSQL::Test::Cluster, restarts and crashes.
if wanted tap && ls test/t/*.pl >/dev/null 2>&1; then
	echo "== tap"
	as_user mkdir -p "$WORK/tap"
	for f in "$WORK"/test/t/*.pl; do
		if as_user env PATH="$PATH" TESTDIR="$WORK/tap" \
			PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			PERL5LIB="$PGXS_DIR/src/test/perl:$WORK/test/perl" \
			prove "$f"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures+=("t/$(basename "$f")")
			cat "$WORK"/tap/tmp_check/log/*.log 2>/dev/null | tail -n 80
		fi
	done
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed: ${failures[*]} (files kept in $WORK)"
else
	cluster_stop "$WORK"
	rm -rf "$WORK"
fi
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
