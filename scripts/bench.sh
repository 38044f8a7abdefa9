#!/usr/bin/env bash
# Benchmark of the whole system as deployed shape: release builds, mutual TLS inside, storage on
# a durable PostgreSQL (a throwaway database on the server scripts/find-postgres.sh finds).
# Prints create+reveal pairs per second at several concurrencies and each service's peak
# memory. Loopback only; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_SECONDS:-10}
cargo build --release --locked -p sharer-crypto -p sharer-storage -p sharer-gateway -p sharer-mtls
cargo build --release --locked -p sharer-gateway --example load
scripts/build-web.sh >/dev/null

cleanup=()
trap 'for c in "${cleanup[@]}"; do eval "$c" || true; done' EXIT
pg_dir_file=$(mktemp)
server_url=$(SHARER_PG_DIR_FILE=$pg_dir_file scripts/find-postgres.sh)
[[ -s "$pg_dir_file" ]] && cleanup+=("scripts/find-postgres.sh stop '$(cat "$pg_dir_file")'")
database="sharer_bench_$$"
psql "$server_url" -XAtqc "CREATE DATABASE $database"
cleanup+=("psql '$server_url' -XAtqc 'DROP DATABASE IF EXISTS $database WITH (FORCE)'")
database_url="${server_url%/*}/$database"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
gateway=127.0.0.1:$(free_port)
data=$(mktemp -d)
cleanup=("rm -rf '$data'" "${cleanup[@]}")
DATABASE_URL=$database_url scripts/run.sh --no-build --data "$data" --gateway "$gateway" \
  --crypto "127.0.0.1:$(free_port)" --storage "127.0.0.1:$(free_port)" 2>"$data/system.log" &
system=$!
cleanup=("kill -TERM $system 2>/dev/null; wait $system 2>/dev/null" "${cleanup[@]}")
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://$gateway/" 2>/dev/null && break; sleep 0.1; done

echo "# Secret Sharer: create+reveal pairs through gateway -> crypto + storage (mTLS, PostgreSQL)"
echo "# $(nproc) cores; ${seconds}s per row; content 64 bytes unless noted"
target/release/examples/load --url "http://$gateway" --concurrency 1 --connections 1 --seconds 3
for concurrency in 16 64 128; do
  target/release/examples/load --url "http://$gateway" --concurrency "$concurrency" --seconds "$seconds"
done
target/release/examples/load --url "http://$gateway" --concurrency 64 --seconds "$seconds" --size 65536

for name in sharer-gateway sharer-crypto sharer-storage; do
  pid=$(pgrep -n -f "release/$name" || true)
  [[ -n "$pid" ]] && echo "$name peak_rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$pid/status")"
done
