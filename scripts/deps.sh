#!/usr/bin/env bash
# Installs the Debian packages that building, testing, the demo and the
# benchmark need, but only those that are missing.  Works as root and as a
# normal user with sudo.  Idempotent: a second run installs nothing.
set -euo pipefail

packages=(
	postgresql-15
	postgresql-server-dev-15
	postgresql-contrib
	postgresql-15-cron
	postgresql-15-pgtap
	postgresql-15-pgq3
	libtap-parser-sourcehandler-pgtap-perl
	libipc-run-perl
	make
	gcc
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "deps: missing packages (${missing[*]}) and neither root nor sudo" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
