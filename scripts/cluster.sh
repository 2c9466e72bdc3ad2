# Sourced by the test, demo and benchmark scripts: a throwaway PostgreSQL 15
# cluster run by an unprivileged user, reachable through a Unix socket in
# its own directory (so it never collides with another server's port).
#
#   as_user CMD...           run CMD as the cluster's user
#   cluster_start DIR [CONF] initdb DIR, append CONF lines, start it
#   cluster_stop DIR         stop it (immediate, it is throwaway)
#   PGHOST/PGPORT            exported by cluster_start for psql & co.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PGXS_DIR=$(dirname "$(dirname "$(dirname "$("$PG_BIN/pg_config" --pgxs)")")")
export PATH="$PG_BIN:$PATH"

# PostgreSQL refuses to run as root: use the postgres account then.
if [ "$(id -u)" -eq 0 ]; then
	CLUSTER_USER=postgres
	if ! id -u "$CLUSTER_USER" >/dev/null 2>&1; then
		useradd --system --create-home --shell /bin/bash "$CLUSTER_USER"
	fi
else
	CLUSTER_USER=$(id -un)
fi

as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$CLUSTER_USER" -- env PATH="$PATH" "$@"
	else
		"$@"
	fi
}

# A fresh directory owned by the cluster user.
make_workdir() {
	local dir
	dir=$(mktemp -d /tmp/kinesis.XXXXXX)
	chmod 755 "$dir"
	[ "$(id -u)" -eq 0 ] && chown "$CLUSTER_USER" "$dir"
	echo "$dir"
}

cluster_start() {
	local dir=$1 conf=${2:-}
	as_user initdb -D "$dir/data" -A trust -E UTF8 --locale=C.UTF-8 -U postgres >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; return 1; }
	as_user tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = 5432
shared_preload_libraries = 'kinesis'
max_prepared_transactions = 10
log_min_messages = warning
$conf
CONF
	as_user pg_ctl -D "$dir/data" -l "$dir/server.log" -c -w -t 60 start >/dev/null ||
		{ cat "$dir/server.log"; return 1; }
	export PGHOST=$dir PGPORT=5432 PGUSER=postgres
}

cluster_stop() {
	local dir=$1
	as_user pg_ctl -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
}
