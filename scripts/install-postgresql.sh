#!/usr/bin/env bash
# Provides PostgreSQL's server programs (initdb, pg_ctl, postgres) for the recorder-on-PostgreSQL test
# (test/homeassistant/import-postgres.test.ts): Debian's `postgresql` package (PostgreSQL 15 on Debian
# 12), installed with apt-get when missing (this needs root). The test starts its own throwaway
# cluster in a temporary directory on a free port, as the `postgres` user when run as root (initdb
# refuses root); a cluster the package may have started itself is not used.
#
# Progress goes to stderr; stdout carries `export PATH=...` (the server's bin directory) for
# `eval "$(scripts/install-postgresql.sh)"`. Any failure exits non-zero: CI must not go on without it.
set -euo pipefail
log() { printf '[install-postgresql] %s\n' "$*" >&2; }

find_bin() { # the newest /usr/lib/postgresql/<major>/bin holding initdb, or nothing
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return; fi
  done
}

bin=$(find_bin)
if [ -z "$bin" ]; then
  [ "$(id -u)" = 0 ] || { echo "install-postgresql: PostgreSQL is not installed and installing it needs root (apt-get install postgresql)" >&2; exit 2; }
  log "postgresql: installing with apt-get (about 30 s)"
  start=$(date +%s)
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
  bin=$(find_bin)
  [ -n "$bin" ] || { echo "install-postgresql: apt-get installed postgresql but no initdb/pg_ctl/postgres is in /usr/lib/postgresql/*/bin" >&2; exit 1; }
  log "postgresql: installed in $(( $(date +%s) - start )) s"
else
  log "postgresql: installed"
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "install-postgresql: no postgres user (the test runs the server as postgres when run as root)" >&2; exit 1
fi
log "$("$bin/postgres" --version)"
echo "export PATH=\"$bin:\$PATH\""
