#!/usr/bin/env bash
# make demo: a throwaway cluster with kinesis preloaded, a short psql
# session that shows streams working, then the cluster is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cluster.sh

WORK=$(make_workdir)
cp scripts/demo.sql "$WORK/"
trap 'cluster_stop "$WORK"; rm -rf "$WORK"' EXIT
cluster_start "$WORK"
echo "Started a throwaway PostgreSQL 15 cluster in $WORK (user $CLUSTER_USER)."
as_user psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE EXTENSION kinesis"
as_user psql -X -q -v ON_ERROR_STOP=1 -d postgres -f "$WORK/demo.sql"
echo
echo "Demo finished; the cluster is stopped and removed."
