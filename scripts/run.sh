#!/usr/bin/env bash
# Starts the whole system on this machine: crypto, storage and the gateway with the page, on
# loopback. Embedded defaults: a development key file and SQLite under the data folder; with
# DATABASE_URL set, storage uses PostgreSQL. The services talk mutual TLS with certificates
# from a throwaway CA made at each start. Ctrl-C (or SIGTERM) stops all three cleanly.
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
  cargo_flags=(--locked -p sharer-crypto -p sharer-storage -p sharer-gateway -p sharer-mtls)
  [[ $profile == release ]] && cargo_flags+=(--release)
  cargo build "${cargo_flags[@]}"
fi
bin=target/$profile
mkdir -p "$data"
chmod 700 "$data"
"$bin/sharer-dev-certs" "$data/tls"
tls_env() { # workload -> the TLS variables for it
  echo "SHARER_TLS_MODE=mutual SHARER_TLS_CA_FILE=$data/tls/ca.pem" \
    "SHARER_TLS_CERT_FILE=$data/tls/$1.pem SHARER_TLS_KEY_FILE=$data/tls/$1.key"
}

pids=() gateway_pid=
# The gateway drains first, while crypto and storage still answer its calls in flight.
stop_all() {
  trap - INT TERM EXIT
  if [[ -n "$gateway_pid" ]]; then
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  if [[ ${#pids[@]} -gt 0 ]]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
# Each service's log lines start with its name.
label() { sed -u "s/^/$1 | /" >&2; }
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

env $(tls_env crypto) SHARER_CRYPTO_LISTEN=$crypto SHARER_LOCAL_KEK_FILE=$data/dev-kek.key \
  "$bin/sharer-crypto" > >(label "crypto ") 2>&1 &
pids+=($!)
echo $! >"$data/crypto.pid"
env $(tls_env storage) SHARER_STORAGE_LISTEN=$storage SHARER_SQLITE_PATH=$data/secrets.sqlite3 \
  "$bin/sharer-storage" > >(label "storage") 2>&1 &
pids+=($!)
echo $! >"$data/storage.pid"
env $(tls_env gateway) SHARER_GATEWAY_LISTEN=$gateway SHARER_CRYPTO_URL=https://$crypto \
  SHARER_STORAGE_URL=https://$storage SHARER_WEB_DIR=web/dist "$bin/sharer-gateway" \
  > >(label "gateway") 2>&1 &
gateway_pid=$!
pids+=($gateway_pid)
echo "$gateway_pid" >"$data/gateway.pid"

echo "Secret Sharer: open http://$gateway (Ctrl-C stops it)" >&2
# Whichever service ends first ends the whole system, with that service's exit status.
status=0
wait -n "${pids[@]}" || status=$?
if [[ $status -ne 0 ]]; then
  echo "run.sh: a service exited with status $status; stopping the others" >&2
fi
stop_all
exit "$status"
