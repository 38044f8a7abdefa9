#!/usr/bin/env bash
# Starts the whole system on this machine: crypto, storage and the gateway with the page, on
# loopback. Embedded defaults: a development key file and SQLite under the data folder; with
# DATABASE_URL set, storage uses PostgreSQL. Ctrl-C (or SIGTERM) stops all three cleanly.
#
#   scripts/run.sh [--profile release|debug] [--data DIR] [--gateway ADDR] [--crypto ADDR]
#                  [--storage ADDR] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release data=.data build=yes
gateway=127.0.0.1:8080 crypto=127.0.0.1:50051 storage=127.0.0.1:50052
while [[ $# -gt 0 ]]; do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --gateway) gateway=$2; shift 2 ;;
    --crypto) crypto=$2; shift 2 ;;
    --storage) storage=$2; shift 2 ;;
    --no-build) build=no; shift ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [[ $build == yes ]]; then
  scripts/build-web.sh
  cargo_flags=(--locked -p sharer-crypto -p sharer-storage -p sharer-gateway)
  [[ $profile == release ]] && cargo_flags+=(--release)
  cargo build "${cargo_flags[@]}"
fi
bin=target/$profile
mkdir -p "$data"
chmod 700 "$data"

pids=()
stop_all() {
  trap - INT TERM EXIT
  if [[ ${#pids[@]} -gt 0 ]]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

SHARER_CRYPTO_LISTEN=$crypto SHARER_LOCAL_KEK_FILE=$data/dev-kek.key "$bin/sharer-crypto" &
pids+=($!)
SHARER_STORAGE_LISTEN=$storage SHARER_SQLITE_PATH=$data/secrets.sqlite3 "$bin/sharer-storage" &
pids+=($!)
SHARER_GATEWAY_LISTEN=$gateway SHARER_CRYPTO_URL=http://$crypto SHARER_STORAGE_URL=http://$storage \
  SHARER_WEB_DIR=web/dist "$bin/sharer-gateway" &
pids+=($!)

echo "Secret Sharer: open http://$gateway (Ctrl-C stops it)" >&2
# Whichever service ends first (a crash, or a signal) ends the whole system.
wait -n "${pids[@]}" || true
