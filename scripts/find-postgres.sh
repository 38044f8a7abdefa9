#!/usr/bin/env bash
# Finds a PostgreSQL server for the tests and prints its URL on stdout:
#   1. $DATABASE_URL, if set and reachable;
#   2. the machine's server at 127.0.0.1:5432 (trust auth);
#   3. a throwaway cluster started here (initdb as the postgres user, own port and socket dir),
#      stopped again by `scripts/find-postgres.sh stop DIR`.
# Fails with a clear message when none can be had.
set -euo pipefail

log() { echo "find-postgres: $*" >&2; }

reachable() {
  command -v psql >/dev/null || return 0 # cannot check; let the tests report it
  PGCONNECT_TIMEOUT=3 psql "$1" -XAtqc 'select 1' >/dev/null 2>&1
}

source "$(dirname "$0")/lib.sh"

if [[ "${1:-}" == "stop" ]]; then
  dir=${2:?usage: find-postgres.sh stop DIR}
  pg_ctl=$(pg_bin pg_ctl)
  as_cluster_owner "$dir" "'$pg_ctl' -D '$dir/data' -m fast stop" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit 0
fi

if [[ -n "${DATABASE_URL:-}" ]]; then
  if reachable "$DATABASE_URL"; then
    log "using DATABASE_URL"
    echo "$DATABASE_URL"
    exit 0
  fi
  log "DATABASE_URL is set but does not answer; trying others"
fi

local_url="postgres://postgres@127.0.0.1:5432/postgres"
if reachable "$local_url"; then
  log "using the server at 127.0.0.1:5432"
  echo "$local_url"
  exit 0
fi

initdb=$(pg_bin initdb || true)
pg_ctl=$(pg_bin pg_ctl || true)
if [[ -z "$initdb" || -z "$pg_ctl" ]]; then
  log "no PostgreSQL reachable (DATABASE_URL, 127.0.0.1:5432) and no initdb/pg_ctl to start one;"
  log "install PostgreSQL (apt-get install postgresql) or set DATABASE_URL"
  exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/sharer-pg.XXXXXX")
port=$(free_port)
run_as_owner() { as_cluster_owner "$dir" "$1"; }
log "starting a throwaway cluster in $dir on 127.0.0.1:$port"
if ! run_as_owner "'$initdb' -D '$dir/data' -A trust -U postgres --no-sync >'$dir/initdb.log' 2>&1" \
  || ! run_as_owner "'$pg_ctl' -D '$dir/data' -w -l '$dir/server.log' \
       -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c max_connections=200\" start >/dev/null"; then
  log "could not start a throwaway cluster; logs in $dir"
  exit 1
fi
echo "$dir" >"${SHARER_PG_DIR_FILE:-/dev/null}"
echo "postgres://postgres@127.0.0.1:$port/postgres"
