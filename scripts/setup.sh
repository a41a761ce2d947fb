#!/usr/bin/env bash
# Installs what `make demo` and `make test` need beyond Go on a Debian/Ubuntu machine: the
# PostgreSQL server binaries (any of 14-17, Debian's layout, as the charm expects inside its
# workload container) and make. Safe to run again: it installs only what is missing. As root
# it installs with apt-get; otherwise it prints the one command to run and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()

have_postgres() {
	local v
	for v in 14 15 16 17; do
		[[ -x /usr/lib/postgresql/$v/bin/postgres ]] && return 0
	done
	return 1
}
have_postgres || missing+=(postgresql)
command -v make >/dev/null || missing+=(make)

if ! command -v go >/dev/null; then
	# Debian's golang package is older than go.mod asks for: Go comes from go.dev.
	want=$(awk '$1 == "go" { print $2; exit }' go.mod)
	echo "setup: Go $want or newer is needed and is not on PATH (https://go.dev/doc/install)" >&2
	exit 1
fi

if ((${#missing[@]} == 0)); then
	exit 0
fi

if ! command -v apt-get >/dev/null; then
	echo "setup: missing ${missing[*]}; install PostgreSQL 14-17 (Debian's /usr/lib/postgresql/N/bin layout) and make" >&2
	exit 1
fi

if [[ $(id -u) != 0 ]]; then
	echo "setup: missing ${missing[*]}; run:" >&2
	echo "  sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}'" >&2
	exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The postgresql package may start Debian's own cluster on 127.0.0.1:5432; units listen on
# other loopback addresses, so it does not get in the way.
apt-get install -y -qq "${missing[@]}" >/dev/null
have_postgres || {
	echo "setup: the postgresql package installed no server of version 14-17 under /usr/lib/postgresql" >&2
	exit 1
}
