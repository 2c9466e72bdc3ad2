#!/usr/bin/env bash
# make bench: throughput of kinesis against baselines measured in the same
# run on the same throwaway cluster: plain INSERT into an equivalent
# partitioned table, PgQ's insert_event, and primary-key range scans.
# 200-byte records, 8 client connections (pgbench), durable settings
# (fsync and synchronous_commit on).  Prints rows/s and ratios; asserts
# nothing.  BENCH_SECONDS sets the length of each point (default 10).
#
# Then the stream lifecycle, in a database of its own: write throughput and
# the longest stall while update_shard_count and split_shard run under 8
# writers (and whether every committed record reads back), and the
# retention trim of a shard holding 10 million expired records (how long
# the maintenance pass that truncates them takes, dead tuples and size
# left).  About a minute.
#
# Then consumers, in a database of their own (procedures in
# scripts/bench/consumers.sql): the latency from put_record to
# subscribe_to_shard while pgbench clients put batches into the other
# shards of the same stream (a probe every 20 ms for 15 s carries its send
# time; the subscriber computes the latency on the same server clock), at
# three loads: the other shards at their provisioned limit, the machine
# saturated, and saturated with the probe committing asynchronously; and
# the throughput of 4 application workers looping acquire_leases, consume
# of 1,000 inserted into a table and checkpoint, over 200,000 preloaded
# records in 8 shards (and whether the table holds each exactly once),
# with acquire_leases before every batch or once a second, and of a single
# worker for reference.  At most about 2.5 minutes.
#
# BENCH_ONLY=throughput, lifecycle or consumers runs only that part
# (default: all three, in that order).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

ONLY=${BENCH_ONLY:-}
case "$ONLY" in
"" | throughput | lifecycle | consumers) ;;
*) echo "BENCH_ONLY is throughput, lifecycle or consumers" >&2; exit 2 ;;
esac
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

SECS=${BENCH_SECONDS:-10}
[ "$SECS" -ge 5 ] || SECS=5
CLIENTS=8
WORK=$(make_workdir)
trap 'cluster_stop "$WORK"; rm -rf "$WORK"' EXIT
cluster_start "$WORK" "
shared_buffers = 1GB
max_wal_size = 8GB
checkpoint_timeout = 30min
wal_buffers = 64MB
max_connections = 50
max_locks_per_transaction = 256
kinesis.max_shards = 2000
# measures our overhead, not the Kinesis per-shard rates
kinesis.enforce_limits = off
" >/dev/null

psql_q() { as_user psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

# pgbench run of a script file; prints transactions per second over the
# run after its first three seconds (new connections warm their caches)
run_tps() {
	local script=$1 mode=${2:-prepared}
	psql_q -c "CHECKPOINT" >/dev/null
	as_user pgbench -n -M "$mode" -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -P 1 \
		-f "$script" postgres 2>&1 |
		awk '/^progress:/ { t = $2 + 0; if (t > 3) { sum += $4; n++ } }
		     END { if (n > 0) printf "%.1f", sum / n; else print 0 }'
}

printf '%s\n' "kinesis benchmark: $CLIENTS clients, ${SECS} s per point (first 3 s not counted), 200-byte records"
printf '%s\n' "setting up..."

psql_q <<'SQL'
CREATE EXTENSION kinesis;
-- 200 bytes of incompressible data
CREATE TABLE payload AS SELECT decode(string_agg(md5(i::text), ''), 'hex') AS d
  FROM generate_series(1, 13) i;
UPDATE payload SET d = substr(d, 1, 200);
SQL

DATA_HEX=$(psql_q -c "SELECT encode(d, 'hex') FROM payload")

# write a pgbench script from standard input
script() {
	as_user tee "$WORK/$1" >/dev/null
	echo "$WORK/$1"
}

if want throughput; then
psql_q <<'SQL'
CREATE EXTENSION pgq;
SELECT pgq.create_queue('bench_q');
SELECT kinesis.create_stream('b4', 4);
SELECT kinesis.create_stream('b1', 1);
SELECT kinesis.create_stream('b64', 64);
SELECT kinesis.create_stream('b1000', 1000);
SELECT kinesis.create_stream('reads', 1);

-- the equivalent plain table: partitioned by shard, bigint key per partition
CREATE TABLE plain (seq bigserial, arrival timestamptz NOT NULL DEFAULT now(),
                    shard int NOT NULL, partition_key text NOT NULL, data bytea NOT NULL)
    PARTITION BY LIST (shard);
SELECT format('CREATE TABLE plain_%s PARTITION OF plain (PRIMARY KEY (seq)) FOR VALUES IN (%s)', i, i)
  FROM generate_series(0, 3) i \gexec
SQL

# --- writes -----------------------------------------------------------------

elems="" keys="" values="" texts=""
for i in $(seq 1 500); do
	elems+="${elems:+,}\"\\\\x$DATA_HEX\""
	keys+="${keys:+,}k$i-$RANDOM$RANDOM"
	values+="${values:+,}($((i % 4)), 'k$i-$RANDOM', '\\x$DATA_HEX'::bytea)"
	texts+="${texts:+,}$DATA_HEX"
done
PUT_RECORDS=$(echo "SELECT count(*) FROM kinesis.put_records('b4', '{$elems}'::bytea[], '{$keys}'::text[]);" | script put_records.sql)
INSERT_500=$(echo "INSERT INTO plain (shard, partition_key, data) VALUES $values;" | script insert_500.sql)
PGQ_500=$(echo "SELECT count(pgq.insert_event('bench_q', 'ev', d)) FROM unnest('{$texts}'::text[]) d;" | script pgq_500.sql)

echo "writes (batches of 500 rows, one transaction each)..."
tps_put_records=$(run_tps "$PUT_RECORDS")
tps_insert_500=$(run_tps "$INSERT_500")
tps_pgq_500=$(run_tps "$PGQ_500")

PUT_RECORD=$(printf '%s\n' '\set r random(1, 100000000)' \
	"SELECT 1 FROM kinesis.put_record('b4', '\\x$DATA_HEX'::bytea, 'k' || :r);" | script put_record.sql)
INSERT_1=$(printf '%s\n' '\set r random(1, 100000000)' \
	"INSERT INTO plain (shard, partition_key, data) VALUES (:r % 4, 'k' || :r, '\\x$DATA_HEX'::bytea);" | script insert_1.sql)

echo "writes (single rows, autocommit)..."
tps_put_record=$(run_tps "$PUT_RECORD")
tps_insert_1=$(run_tps "$INSERT_1")

# --- reads ------------------------------------------------------------------

echo "loading 200,000 records for the read tests..."
psql_q <<SQL
SELECT count(*) FROM generate_series(1, 400) b,
       LATERAL kinesis.put_records('reads',
           array_fill('\\x$DATA_HEX'::bytea, ARRAY[500]),
           ARRAY(SELECT 'k' || b || '-' || i FROM generate_series(1, 500) i));
-- the same records in plain tables: the same columns and values, and the
-- same with a bigint key (what an application table would use)
CREATE TABLE plain_reads AS SELECT * FROM kinesis.read_records('reads', 'shardId-000000000000', NULL, 10000) WHERE false;
ALTER TABLE plain_reads ADD PRIMARY KEY (sequence_number);
CREATE TABLE plain_reads_bigint (seq bigint PRIMARY KEY, arrival timestamptz NOT NULL,
                                 partition_key text NOT NULL, data bytea NOT NULL);
SQL
for page in $(seq 1 20); do
	psql_q -c "INSERT INTO plain_reads SELECT * FROM kinesis.read_records('reads', 'shardId-000000000000',
	               (SELECT max(sequence_number) FROM plain_reads), 10000)" >/dev/null
done
psql_q <<SQL
INSERT INTO plain_reads_bigint SELECT row_number() OVER (ORDER BY sequence_number), approximate_arrival_timestamp, partition_key, data
  FROM plain_reads;
VACUUM ANALYZE;
SQL

# the 20 pages of 10,000: the sequence number each page starts after
# (NULL for the first), the same for the bigint table, and an iterator
psql_q <<'SQL'
CREATE TABLE pages (page int PRIMARY KEY, after numeric, after_bigint bigint, iterator text);
INSERT INTO pages (page, after, after_bigint)
SELECT (n - 1) / 10000, prev, n - 1
  FROM (SELECT row_number() OVER w AS n, lag(sequence_number) OVER w AS prev
          FROM plain_reads WINDOW w AS (ORDER BY sequence_number)) r
 WHERE n % 10000 = 1;
SQL

# every transaction reads one page, chosen at random (pages cost the same)
READ_RECORDS=$(printf '%s\n' '\set p random(0, 19)' \
	"SELECT * FROM kinesis.read_records('reads', 'shardId-000000000000', (SELECT after FROM pages WHERE page = :p), 10000);" | script read_records.sql)
PK_SCAN=$(printf '%s\n' '\set p random(0, 19)' \
	"SELECT sequence_number, approximate_arrival_timestamp, data, partition_key FROM plain_reads WHERE sequence_number > coalesce((SELECT after FROM pages WHERE page = :p), 0) ORDER BY sequence_number LIMIT 10000;" | script pk_scan.sql)
PK_BIGINT=$(printf '%s\n' '\set p random(0, 19)' \
	"SELECT seq, arrival, data, partition_key FROM plain_reads_bigint WHERE seq > (SELECT after_bigint FROM pages WHERE page = :p) ORDER BY seq LIMIT 10000;" | script pk_bigint.sql)
GET_RECORDS=$(printf '%s\n' '\set p random(0, 19)' \
	"SELECT (unnest(g.records)).* FROM kinesis.get_records((SELECT iterator FROM pages WHERE page = :p), 10000) g;" | script get_records.sql)

echo "reads (200,000 records in pages of 10,000, one page per transaction)..."
tps_read_records=$(run_tps "$READ_RECORDS")
tps_pk_scan=$(run_tps "$PK_SCAN")
tps_pk_bigint=$(run_tps "$PK_BIGINT")
# iterators expire after 5 minutes: make them right before their run
psql_q -c "UPDATE pages SET iterator = CASE WHEN after IS NULL
    THEN kinesis.get_shard_iterator('reads', 'shardId-000000000000', 'TRIM_HORIZON')
    ELSE kinesis.get_shard_iterator('reads', 'shardId-000000000000', 'AFTER_SEQUENCE_NUMBER', after) END" >/dev/null
tps_get_records=$(run_tps "$GET_RECORDS")

# --- shard counts -----------------------------------------------------------

echo "shard counts (put_record; get_shard_iterator + get_records of 50)..."
declare -A tps_put_n tps_get_n tps_ins_n
for n in 1 64 1000; do
	psql_q -c "CREATE TABLE plain$n (seq bigserial, arrival timestamptz NOT NULL DEFAULT now(),
	               shard int NOT NULL, partition_key text NOT NULL, data bytea NOT NULL)
	           PARTITION BY LIST (shard)" >/dev/null
	psql_q -c "SELECT format('CREATE TABLE plain${n}_%s PARTITION OF plain$n (PRIMARY KEY (seq)) FOR VALUES IN (%s);', i, i)
	             FROM generate_series(0, $((n - 1))) i" | as_user psql -X -q -d postgres >/dev/null
	f=$(printf '%s\n' '\set r random(1, 100000000)' \
		"INSERT INTO plain$n (shard, partition_key, data) VALUES (:r % $n, 'k' || :r, '\\x$DATA_HEX'::bytea);" | script "ins_$n.sql")
	tps_ins_n[$n]=$(run_tps "$f")
	psql_q -c "SELECT count(*) FROM generate_series(1, 200) b,
	    LATERAL kinesis.put_records('b$n', array_fill('\\x$DATA_HEX'::bytea, ARRAY[500]),
	        ARRAY(SELECT 'k' || b || '-' || i FROM generate_series(1, 500) i))" >/dev/null
	f=$(printf '%s\n' '\set r random(1, 100000000)' \
		"SELECT 1 FROM kinesis.put_record('b$n', '\\x$DATA_HEX'::bytea, 'k' || :r);" | script "put_$n.sql")
	tps_put_n[$n]=$(run_tps "$f")
	f=$(printf '%s\n' "\\set s random(0, $((n - 1)))" \
		"SELECT cardinality(records) FROM kinesis.get_records(kinesis.get_shard_iterator('b$n', :s::text, 'TRIM_HORIZON'), 50);" | script "get_$n.sql")
	tps_get_n[$n]=$(run_tps "$f")
done
fi

# --- lifecycle: resharding under load, retention trim ------------------------

if want lifecycle; then
as_user createdb lifecycle
psql_l() { as_user psql -X -q -At -v ON_ERROR_STOP=1 -d lifecycle "$@"; }
psql_l -c "CREATE EXTENSION kinesis"
now_us() { date +%s%6N; }

# SQL run in its own transaction, timed on the server's clock (the call and
# its commit); prints "START_US END_US"
timed_sql() {
	psql_l -c "SELECT 't ' || (extract(epoch FROM clock_timestamp()) * 1e6)::bigint" -c "$1" \
		-c "SELECT 't ' || (extract(epoch FROM clock_timestamp()) * 1e6)::bigint" |
		awk '$1 == "t" { printf "%s ", $2 }'
}

# Splits under load: 8 clients put batches of 100 records for 12 s into 4
# shards; 4 s in, update_shard_count to 8 (four splits in one transaction);
# 3 s after it returns, split_shard of one open shard at its hash midpoint.
# pgbench logs every transaction's end (-l); the longest gap between two
# consecutive ends, all clients merged, is the longest time no write
# completed.
SPLIT_SECS=12 SPLIT_BATCH=100
echo "splits under load ($CLIENTS clients, put_records x$SPLIT_BATCH, ${SPLIT_SECS} s)..."
psql_l -c "SELECT kinesis.create_stream('lc_split', 4)" >/dev/null
elems="" keys=""
for i in $(seq 1 $SPLIT_BATCH); do
	elems+="${elems:+,}\"\\\\x$DATA_HEX\""
	keys+="${keys:+,}k$i-$RANDOM$RANDOM"
done
PUT_SPLIT=$(echo "SELECT count(*) FROM kinesis.put_records('lc_split', '{$elems}'::bytea[], '{$keys}'::text[]);" | script put_split.sql)
psql_q -c "CHECKPOINT" >/dev/null
split_t0=$(now_us)
as_user pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SPLIT_SECS" -l --log-prefix="$WORK/split" \
	-f "$PUT_SPLIT" lifecycle >"$WORK/split_pgbench.out" 2>&1 &
split_pid=$!
sleep 4
read -r usc0 usc1 <<<"$(timed_sql "SELECT kinesis.update_shard_count('lc_split', 8)")"
sleep 3
read -r split_shard split_mid <<<"$(psql_l -F ' ' -c "SELECT shard_id, div(starting_hash_key + ending_hash_key + 1, 2)
    FROM kinesis.list_shards('lc_split', 'AT_LATEST') ORDER BY shard_id LIMIT 1")"
read -r ss0 ss1 <<<"$(timed_sql "SELECT kinesis.split_shard('lc_split', '$split_shard', $split_mid)")"
if ! wait "$split_pid"; then
	cat "$WORK/split_pgbench.out" >&2
	echo "pgbench failed during the splits" >&2
	exit 1
fi
# log lines: client, transaction, latency (us), script, end (epoch s, us)
read -r split_tx split_before split_during split_after split_stall split_stall_at split_rstall split_maxlat <<<"$(
	cat "$WORK"/split.[0-9]* | awk '$3 ~ /^[0-9]+$/ { printf "%d%06d %d\n", $5, $6, $3 }' | sort -n |
		awk -v t0="$split_t0" -v r0="$usc0" -v r1="$usc1" -v s0="$ss0" -v s1="$ss1" \
			-v batch="$SPLIT_BATCH" -f scripts/bench/split_log.awk)"
split_shards=$(psql_l -c "SELECT count(*) || ' shards, ' || count(*) FILTER (WHERE ending_sequence_number IS NULL) || ' open'
    FROM kinesis.list_shards('lc_split')")

# every committed record reads back once: every shard of list_shards
# (closed parents included) paged through with read_records
echo "reading the records back..."
read -r split_read split_distinct split_stored <<<"$(psql_l -F ' ' <<'SQL'
CREATE TEMP TABLE seen (sequence_number numeric);
DO $$
DECLARE
	sh text;
	after numeric;
	n bigint;
BEGIN
	FOR sh IN SELECT shard_id FROM kinesis.list_shards('lc_split') LOOP
		after := NULL;
		LOOP
			WITH page AS (SELECT sequence_number FROM kinesis.read_records('lc_split', sh, after, 10000)),
			     ins AS (INSERT INTO seen SELECT sequence_number FROM page)
			SELECT count(*), max(sequence_number) INTO n, after FROM page;
			EXIT WHEN n = 0;
		END LOOP;
	END LOOP;
END
$$;
SELECT table_name AS t FROM kinesis.stream_tables WHERE stream_name = 'lc_split' \gset
SELECT count(*), count(DISTINCT sequence_number), (SELECT count(*) FROM :t) FROM seen;
SQL
)"
psql_l -c "SELECT kinesis.delete_stream('lc_split')" >/dev/null

# Retention trim: one shard, 24 h retention, 10,000,000 records of 20 bytes
# written by parallel sessions in batches of 500 (one statement each; the
# argument depends on the batch number, or the function scan would run
# once and be rescanned).
# Then, in one session, the clock moves by 13 h steps with a maintenance
# pass at each (and a record put between passes): 13 h rotates to segment
# 1, 26 h to segment 2, 39 h truncates segment 0, which holds the 10M
# (expired since 24 h).  The pass that truncates is timed.
TRIM_RECORDS=10000000 TRIM_SESSIONS=2
echo "filling one shard with $TRIM_RECORDS records ($TRIM_SESSIONS sessions)..."
psql_l -c "SELECT kinesis.create_stream('lc_trim', 1)" >/dev/null
psql_q -c "CHECKPOINT" >/dev/null
fill_t0=$(now_us)
fill_pids=()
for s in $(seq 1 $TRIM_SESSIONS); do
	psql_l -c "WITH a AS MATERIALIZED (
	               SELECT array_agg(convert_to('old-' || lpad(i::text, 16, '0'), 'UTF8') ORDER BY i) AS d,
	                      array_agg('k$s-' || i ORDER BY i) AS k
	                 FROM generate_series(1, 500) i)
	           SELECT count(*) FROM a, generate_series(1, $((TRIM_RECORDS / 500 / TRIM_SESSIONS))) b,
	                  LATERAL kinesis.put_records('lc_trim', CASE WHEN b > 0 THEN a.d END, a.k)" >/dev/null &
	fill_pids+=($!)
done
for p in "${fill_pids[@]}"; do wait "$p"; done
fill_t1=$(now_us)
read -r trim_count trim_size_before <<<"$(psql_l -F ' ' <<'SQL'
SELECT table_name AS t FROM kinesis.stream_tables WHERE stream_name = 'lc_trim' \gset
SELECT count(*), pg_size_pretty((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(:'t') WHERE isleaf))
  FROM :t;
SQL
)"
if [ "$trim_count" != "$TRIM_RECORDS" ]; then
	echo "the trim stream holds $trim_count records, not $TRIM_RECORDS" >&2
	exit 1
fi

echo "trimming them (maintenance passes with the clock moved)..."
{
	echo "SELECT table_name AS t FROM kinesis.stream_tables WHERE stream_name = 'lc_trim' \\gset"
	echo "\\set done false"
	for h in 13 26 39 52 65; do
		cat <<SQL
\\if :done
\\else
SET kinesis.debug_clock_offset = '${h}h';
SELECT clock_timestamp() AS c0 \\gset
SELECT coalesce(string_agg(action || ' ' || detail, ', '), 'nothing') AS did FROM kinesis.run_maintenance() \\gset
SELECT 'pass ' || round(extract(epoch FROM clock_timestamp() - :'c0'::timestamptz)::numeric * 1000, 1)
       || ' ${h}h: ' || :'did';
SELECT :'did' LIKE '%truncated%' AS done \\gset
SELECT count(*) FROM kinesis.put_record('lc_trim', 'new-${h}h', 'k') \\g /dev/null
\\endif
SQL
	done
	cat <<'SQL'
SELECT pg_stat_force_next_flush() \g /dev/null
SELECT 'dead ' || coalesce(sum(s.n_dead_tup), 0)
  FROM pg_partition_tree(:'t') p JOIN pg_stat_user_tables s ON s.relid = p.relid WHERE p.isleaf;
SELECT 'size ' || pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree(:'t') WHERE isleaf;
SELECT 'stored ' || count(*) FILTER (WHERE substr(data, 1, 4) = 'old-') || ' ' || count(*) FROM :t;
RESET kinesis.debug_clock_offset;
SELECT 'read ' || count(*) FILTER (WHERE substr(data, 1, 4) = 'old-') || ' ' || count(*)
  FROM kinesis.read_records('lc_trim', '0', NULL, 10000);
SQL
} | as_user tee "$WORK/trim.sql" >/dev/null
psql_l -f "$WORK/trim.sql" >"$WORK/trim.out"
psql_l -c "SELECT kinesis.delete_stream('lc_trim')" >/dev/null
trim_pass_ms=$(awk '$1 == "pass" && /truncated/ { print $2; exit }' "$WORK/trim.out")
trim_passes=$(awk '$1 == "pass" { sub(/^pass [^ ]+ /, ""); printf "%s%s", sep, $0; sep = "; " }' "$WORK/trim.out")
trim_dead=$(awk '$1 == "dead" { print $2 }' "$WORK/trim.out")
trim_size=$(awk '$1 == "size" { $1 = ""; sub(/^ /, ""); print }' "$WORK/trim.out")
read -r trim_old_stored trim_stored <<<"$(awk '$1 == "stored" { print $2, $3 }' "$WORK/trim.out")"
read -r trim_old_read trim_read <<<"$(awk '$1 == "read" { print $2, $3 }' "$WORK/trim.out")"
fi

# --- consumers: subscribe_to_shard latency, consume + checkpoint --------------

if want consumers; then
as_user createdb consumers
psql_c() { as_user psql -X -q -At -v ON_ERROR_STOP=1 -d consumers "$@"; }
psql_c -c "CREATE EXTENSION kinesis"
psql_c <scripts/bench/consumers.sql >/dev/null
now_us() { date +%s%6N; }

# Latency under load: a stream of 4 shards and a registered consumer.
# pgbench clients put batches into shards 1-3 (explicit hash keys) for the
# whole run; a prober session puts a record into shard 0 every 20 ms for
# 15 s, each in its own transaction, its data the time before the put; a
# subscriber session loops on subscribe_to_shard(shard 0,
# AFTER_SEQUENCE_NUMBER continuation, wait_ms 5000) and takes the time
# when a call returns.  Both times are the server's clock_timestamp(), so
# the latency (put call, commit, wake-up, read) is exact.  Three points,
# each on a new stream:
#   provisioned: the 3 load shards at their Kinesis write limit (1,000
#     records/s each: 30 batches of 100 a second), the load a Kinesis
#     stream of this size accepts and that its ~70 ms (enhanced fan-out)
#     figure is quoted for;
#   saturated: 4 clients putting batches of 500 as fast as the machine
#     takes them (about 50 times the shards' limit);
#   saturated, probe async: the same, the probe committing with
#     synchronous_commit = off, so its latency no longer includes waiting
#     for the WAL flush behind the load's WAL (what is left is delivery).
# Alongside the prober, a baseline prober INSERTs the same record into a
# plain table and commits, at the same pace and synchronous_commit: what a
# commit costs under that load without kinesis.
LAT_SECS=15 LAT_INTERVAL=0.02 LAT_CLIENTS=4
build_put_lat() {
	local batch=$1 elems="" keys="" hashes="" i
	for i in $(seq 1 "$batch"); do
		elems+="${elems:+,}\"\\\\x$DATA_HEX\""
		keys+="${keys:+,}k$i-$RANDOM$RANDOM"
		hashes+="${hashes:+,}${lat_load_hashes[$((i % ${#lat_load_hashes[@]}))]}"
	done
	echo "SELECT count(*) FROM kinesis.put_records(:stream, '{$elems}'::bytea[], '{$keys}'::text[], '{$hashes}'::numeric[]);" |
		script "put_lat_$batch.sql"
}

# lat_run NAME BATCH RATE(0: as fast as possible) PROBE_SYNC: one point,
# its result lines in $WORK/lat_NAME.txt
lat_run() {
	local name=$1 batch=$2 rate=$3 sync=$4 stream="lat_$1" put rate_opt=() sub_pid load_pid plain_pid
	local n p50 p90 p99 max puts put_p50 put_p99 put_max del_p50 del_p99 del_max calls empty tps lost
	local plain_p50 plain_p99 plain_max
	psql_c -c "TRUNCATE lat_samples, lat_puts, lat_calls, lat_plain" \
		-c "SELECT kinesis.create_stream('$stream', 4)" \
		-c "SELECT kinesis.register_stream_consumer('$stream', 'probe_reader')" >/dev/null
	read -r lat_shard lat_hash <<<"$(psql_c -F ' ' -c "SELECT shard_id, starting_hash_key
	    FROM kinesis.list_shards('$stream') ORDER BY starting_hash_key LIMIT 1")"
	mapfile -t lat_load_hashes < <(psql_c -c "SELECT starting_hash_key
	    FROM kinesis.list_shards('$stream') ORDER BY starting_hash_key OFFSET 1")
	put=$(build_put_lat "$batch")
	[ "$rate" = 0 ] || rate_opt=(-R "$rate")
	echo "put -> subscribe_to_shard latency, $name (${LAT_SECS} s)..."
	psql_q -c "CHECKPOINT" >/dev/null
	psql_c -c "CALL bench_subscriber('$stream', 'probe_reader', '$lat_shard', $((LAT_SECS + 30)))" &
	sub_pid=$!
	sleep 0.5
	as_user pgbench -n -M prepared -c "$LAT_CLIENTS" -j "$LAT_CLIENTS" -T $((LAT_SECS + 3)) "${rate_opt[@]}" \
		-D stream="$stream" -f "$put" consumers >"$WORK/lat_pgbench_$name.out" 2>&1 &
	load_pid=$!
	sleep 1
	psql_c -c "SET synchronous_commit = $sync" -c "CALL bench_prober(NULL, NULL, $LAT_SECS, $LAT_INTERVAL)" &
	plain_pid=$!
	psql_c -c "SET synchronous_commit = $sync" -c "CALL bench_prober('$stream', $lat_hash, $LAT_SECS, $LAT_INTERVAL)"
	wait "$plain_pid"
	wait "$sub_pid"
	if ! wait "$load_pid"; then
		cat "$WORK/lat_pgbench_$name.out" >&2
		echo "pgbench failed during the latency test" >&2
		exit 1
	fi
	read -r n p50 p90 p99 max <<<"$(psql_c -F ' ' -c "SELECT count(*),
	    round(percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
	    round(percentile_disc(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 2),
	    round(percentile_disc(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
	    round(max(ms)::numeric, 2) FROM lat_samples")"
	read -r puts put_p50 put_p99 put_max <<<"$(psql_c -F ' ' -c "SELECT count(*),
	    round(percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
	    round(percentile_disc(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
	    round(max(ms)::numeric, 2) FROM lat_puts")"
	# the part after the prober's COMMIT returned (negative when the
	# subscriber had it first)
	read -r del_p50 del_p99 del_max <<<"$(psql_c -F ' ' -c "SELECT
	    round(percentile_disc(0.5) WITHIN GROUP (ORDER BY s.ms - p.ms)::numeric, 2),
	    round(percentile_disc(0.99) WITHIN GROUP (ORDER BY s.ms - p.ms)::numeric, 2),
	    round(max(s.ms - p.ms)::numeric, 2) FROM lat_samples s JOIN lat_puts p USING (sent_us)")"
	read -r calls empty <<<"$(psql_c -F ' ' -c "SELECT calls, empty_calls FROM lat_calls")"
	read -r plain_p50 plain_p99 plain_max <<<"$(psql_c -F ' ' -c "SELECT
	    round(percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
	    round(percentile_disc(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
	    round(max(ms)::numeric, 2) FROM lat_plain")"
	tps=$(awk '/^tps = / { print $3; exit }' "$WORK/lat_pgbench_$name.out")
	if [ "$n" = "$puts" ]; then lost=0; else lost="$((puts - n)) (MISMATCH)"; fi
	printf '%s\n' "put -> subscribe_to_shard, $name: p50 $p50 ms, p90 $p90 ms, p99 $p99 ms, max $max ms (n=$n)" \
		"  load $(awk -v t="$tps" -v b="$batch" 'BEGIN { printf "%.1fk", t * b / 1000 }') rows/s into the 3 other shards;" \
		"  the probe's put_record + commit (synchronous_commit $sync): p50 $put_p50 ms, p99 $put_p99 ms, max $put_max ms;" \
		"  (baseline alongside: a plain INSERT + commit: p50 $plain_p50 ms, p99 $plain_p99 ms, max $plain_max ms);" \
		"  from its commit returning to receipt: p50 $del_p50 ms, p99 $del_p99 ms, max $del_max ms;" \
		"  probes lost: $lost; $calls subscribe_to_shard calls, $empty of them empty" >"$WORK/lat_$name.txt"
}
lat_run provisioned 100 30 on
lat_run saturated 500 0 on
lat_run saturated_async 500 0 off

# consume + checkpoint: 200,000 records of 200 bytes put into 8 shards
# (partition keys k<batch>-<i>), then applications from TRIM_HORIZON over
# them, one after the other, each with its workers (bench_consume_worker)
# until every shard is checkpointed at its last record, or CONS_MAX_SECS:
# 4 workers calling acquire_leases before every batch (the loop of the
# README), 4 calling it once a second (the KCL renews on a timer), and for
# reference a single worker (no other worker to contend with).  Then the
# results table must hold each record put exactly once per application,
# with its partition key and data.
CONS_SHARDS=8 CONS_LIMIT=1000 CONS_BATCHES=400 CONS_MAX_SECS=20
echo "loading $((CONS_BATCHES * 500)) records into $CONS_SHARDS shards for consume..."
psql_c <<SQL >/dev/null
SELECT kinesis.create_stream('cons', $CONS_SHARDS);
INSERT INTO loaded
SELECT p.shard_id, p.sequence_number, k.keys[p.ordinality]
  FROM generate_series(1, $CONS_BATCHES) b,
       LATERAL (SELECT ARRAY(SELECT 'k' || b || '-' || i FROM generate_series(1, 500) i) AS keys) k,
       LATERAL kinesis.put_records('cons', array_fill('\\x$DATA_HEX'::bytea, ARRAY[500]), k.keys) p;
INSERT INTO shard_last SELECT shard_id, max(sequence_number) FROM loaded GROUP BY shard_id;
VACUUM ANALYZE;
SQL
cons_loaded=$(psql_c -c "SELECT count(*) FROM loaded WHERE sequence_number IS NOT NULL")

# consume_run APP WORKERS RENEW_MS: runs WORKERS workers of a new
# application APP and writes its result lines to $WORK/consume_APP.txt
consume_run() {
	local app=$1 workers=$2 renew=$3 t0 t1 p pids=() secs rate once how
	local rows distinct matched unknown batches refused deadlocks idle acquires server_s per_worker
	psql_c -c "SELECT kinesis.create_application('$app', 'cons')" >/dev/null
	psql_q -c "CHECKPOINT" >/dev/null
	how="acquire_leases $([ "$renew" = 0 ] && echo "before every batch" || echo "every $renew ms")"
	echo "consume + checkpoint ($workers worker(s), consume limit $CONS_LIMIT, $how)..."
	t0=$(now_us)
	for w in $(seq 1 "$workers"); do
		psql_c -c "CALL bench_consume_worker('$app', 'worker-$w', $CONS_LIMIT, $renew, $CONS_MAX_SECS)" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || { echo "a consume worker failed" >&2; exit 1; }
	done
	t1=$(now_us)
	read -r rows distinct matched unknown <<<"$(psql_c -F ' ' <<SQL
SELECT (SELECT count(*) FROM consumed WHERE app = '$app'),
       (SELECT count(*) FROM (SELECT DISTINCT shard_id, sequence_number FROM consumed WHERE app = '$app') d),
       (SELECT count(*) FROM loaded l
         WHERE EXISTS (SELECT FROM consumed c
                        WHERE c.app = '$app' AND c.shard_id = l.shard_id
                          AND c.sequence_number = l.sequence_number AND c.partition_key = l.partition_key
                          AND c.data = '\\x$DATA_HEX'::bytea)),
       (SELECT count(*) FROM consumed c
         WHERE c.app = '$app'
           AND NOT EXISTS (SELECT FROM loaded l
                            WHERE c.shard_id = l.shard_id AND c.sequence_number = l.sequence_number
                              AND c.partition_key = l.partition_key AND c.data = '\\x$DATA_HEX'::bytea));
SQL
)"
	read -r batches refused deadlocks idle acquires server_s <<<"$(psql_c -F ' ' -c "SELECT sum(batches),
	    sum(refused), sum(deadlocks), sum(idle), sum(acquires),
	    round(extract(epoch FROM max(finished) - min(started))::numeric, 2)
	    FROM worker_stats WHERE app = '$app'")"
	per_worker=$(psql_c -c "SELECT string_agg(worker || ' ' || records, ', ' ORDER BY worker)
	    FROM worker_stats WHERE app = '$app'")
	if [ "$rows" = "$cons_loaded" ] && [ "$distinct" = "$cons_loaded" ] && [ "$matched" = "$cons_loaded" ]; then
		once=OK
	elif [ "$rows" = "$distinct" ] && [ "$rows" = "$matched" ] && [ "$unknown" = 0 ]; then
		once="INCOMPLETE ($((cons_loaded - matched)) not consumed by the time limit; none twice)"
	else
		once="MISMATCH ($((cons_loaded - matched)) missing, $((rows - distinct)) duplicated, $unknown not put)"
	fi
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
	rate=$(awk -v n="$rows" -v s="$secs" 'BEGIN { printf "%.1fk", n / s / 1000 }')
	printf '%s\n' "consume + checkpoint, $workers worker$([ "$workers" = 1 ] || echo s), $how: $rate records/s ($rows records in $secs s$(
		[ "$rows" = "$cons_loaded" ] || echo ", stopped by the ${CONS_MAX_SECS} s limit"))" \
		"  ($CONS_SHARDS shards, consume limit $CONS_LIMIT, each batch inserted into a table and checkpointed in one" \
		"  transaction; $batches batches, $acquires acquire_leases calls; rolled back and retried: $refused refused" \
		"  checkpoints (KN003, lease moved), $deadlocks deadlocks (40P01); $idle idle polls; $server_s s on the server;" \
		"  $per_worker)" \
		"  each record exactly once: $rows rows, $distinct distinct, $matched of $cons_loaded put: $once" |
		as_user tee "$WORK/consume_$app.txt" >/dev/null
}
consume_run cons_every 4 0
consume_run cons_timed 4 1000
consume_run cons_single 1 0
fi

# --- report -----------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
rows() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.0f", t * n }'; }

# compare LABEL ROWS_PER_TX KINESIS_TPS BASELINE_TPS TARGET
compare() {
	printf '%-44s %14s %14s %8s %8s\n' "$1" "$(rows "$3" "$2")" "$(rows "$4" "$2")" \
		"$(ratio "$3" "$4")" "$5"
}

# by_shards LABEL TPS_1 TPS_64 TPS_1000
by_shards() {
	printf '%-44s %14s %14s %14s %8s\n' "$1" "$(rows "$2" 1)" "$(rows "$3" 1)" \
		"$(rows "$4" 1)" "$(ratio "$4" "$2")"
}

if want throughput; then
echo
printf '%-44s %14s %14s %8s %8s\n' "workload" "kinesis rows/s" "baseline" "ratio" "target"
compare "put_records x500 vs multi-row INSERT" 500 "$tps_put_records" "$tps_insert_500" ">=0.85x"
compare "put_records x500 vs pgq.insert_event x500" 500 "$tps_put_records" "$tps_pgq_500" ">=1.5x"
compare "put_record vs INSERT, autocommit" 1 "$tps_put_record" "$tps_insert_1" ">=0.9x"
compare "read_records vs PK range scan" 10000 "$tps_read_records" "$tps_pk_scan" ">=0.9x"
compare "  (vs PK range scan with a bigint key)" 10000 "$tps_read_records" "$tps_pk_bigint" ""
compare "get_records vs PK range scan" 10000 "$tps_get_records" "$tps_pk_scan" ">=0.6x"
echo
printf '%-44s %14s %14s %14s %8s\n' "shards" "1" "64" "1000" "1000/1"
by_shards "put_record calls/s" "${tps_put_n[1]}" "${tps_put_n[64]}" "${tps_put_n[1000]}"
by_shards "  (INSERT into as many partitions, rows/s)" "${tps_ins_n[1]}" "${tps_ins_n[64]}" "${tps_ins_n[1000]}"
by_shards "get_shard_iterator + get_records(50) calls/s" "${tps_get_n[1]}" "${tps_get_n[64]}" "${tps_get_n[1000]}"
fi

if want lifecycle; then
kilo() { awk -v r="$1" 'BEGIN { printf "%.1fk", r / 1000 }'; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1000 }'; }
at() { awk -v a="$1" -v t0="$split_t0" 'BEGIN { printf "%.1f", (a - t0) / 1e6 }'; }
committed=$((split_tx * SPLIT_BATCH))
if [ "$split_read" = "$committed" ] && [ "$split_distinct" = "$committed" ]; then
	lost=OK
else
	lost=MISMATCH
fi
fill_rate=$(awk -v n="$TRIM_RECORDS" -v a="$fill_t0" -v b="$fill_t1" 'BEGIN { printf "%.0f", n / ((b - a) / 1e6) }')
echo
echo "stream lifecycle (before: 1 s after the start to update_shard_count; during: to the end of split_shard)"
printf '%s\n' "split under load: $(kilo "$split_before") rows/s before, $(kilo "$split_during") during, $(kilo "$split_after") after;" \
	"  longest stall ${split_stall} ms (target < 1000 ms); update_shard_count 4->8 took $(ms "$usc0" "$usc1") ms," \
	"  split_shard took $(ms "$ss0" "$ss1") ms" \
	"  (stall ended ${split_stall_at} s into the run; calls at $(at "$usc0") s and $(at "$ss0") s; longest stall" \
	"  overlapping them ${split_rstall} ms; longest put_records ${split_maxlat} ms; $split_shards)" \
	"  records read back from every shard: $split_read ($split_distinct distinct; $split_stored in the table)" \
	"  of $committed committed ($split_tx transactions x $SPLIT_BATCH): $lost"
printf '%s\n' "trim 10M expired records: fill $(kilo "$fill_rate") rows/s; trim pass $(awk -v m="$trim_pass_ms" \
	'BEGIN { if (m == "") print "none"; else printf "%.2f s", m / 1000 }'); dead tuples left $trim_dead;" \
	"  table size $trim_size (was $trim_size_before)" \
	"  (old records left: $trim_old_stored in the table, $trim_old_read read back; $trim_stored newer records)" \
	"  (passes: $trim_passes)"
fi

if want consumers; then
kilo() { awk -v r="$1" 'BEGIN { printf "%.1fk", r / 1000 }'; }
echo
echo "consumers (target: put -> subscribe_to_shard p99 <= 10 ms under load)"
cat "$WORK/lat_provisioned.txt" "$WORK/lat_saturated.txt" "$WORK/lat_saturated_async.txt"
cat "$WORK/consume_cons_every.txt" "$WORK/consume_cons_timed.txt" "$WORK/consume_cons_single.txt"
fi
