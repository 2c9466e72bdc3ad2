#!/usr/bin/env bash
# make bench: throughput of kinesis against baselines measured in the same
# run on the same throwaway cluster: plain INSERT into an equivalent
# partitioned table, PgQ's insert_event, and primary-key range scans.
# 200-byte records, 8 client connections (pgbench), durable settings
# (fsync and synchronous_commit on).  Prints rows/s and ratios; asserts
# nothing.  BENCH_SECONDS sets the length of each point (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

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

-- 200 bytes of incompressible data
CREATE TABLE payload AS SELECT decode(string_agg(md5(i::text), ''), 'hex') AS d
  FROM generate_series(1, 13) i;
UPDATE payload SET d = substr(d, 1, 200);
SQL

DATA_HEX=$(psql_q -c "SELECT encode(d, 'hex') FROM payload")

# --- writes -----------------------------------------------------------------

# write a pgbench script from standard input
script() {
	as_user tee "$WORK/$1" >/dev/null
	echo "$WORK/$1"
}

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
