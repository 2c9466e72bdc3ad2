#!/usr/bin/env bash
# Builds the extension warning-free and installs it into PostgreSQL 15
# (with sudo when not root).
set -euo pipefail
cd "$(dirname "$0")/.."

make -s PG_CFLAGS_EXTRA= all
if [ "$(id -u)" -eq 0 ]; then
	make -s install >/dev/null
else
	sudo make -s install >/dev/null
fi
