#!/usr/bin/env bash
# Benchmark of the whole system as deployed shape: release builds, mutual TLS inside, storage on
# a durable PostgreSQL (a throwaway database on the server scripts/find-postgres.sh finds).
# Prints create+reveal pairs per second at several concurrencies and each service's peak
# memory. Loopback only; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

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

data=$(mktemp -d)
cleanup=("rm -rf '$data'" "${cleanup[@]}")
DATABASE_URL=$database_url start_system "$data"
cleanup=("kill -TERM $system_pid 2>/dev/null; wait $system_pid 2>/dev/null" "${cleanup[@]}")

echo "# Secret Sharer: create+reveal pairs through gateway -> crypto + storage (mTLS, PostgreSQL)"
echo "# $(nproc) cores; ${seconds}s per row; content 64 bytes unless noted"
target/release/examples/load --url "http://$gateway" --concurrency 1 --connections 1 --seconds 3
for concurrency in 16 64 128; do
  target/release/examples/load --url "http://$gateway" --concurrency "$concurrency" --seconds "$seconds"
done
target/release/examples/load --url "http://$gateway" --concurrency 64 --seconds "$seconds" --size 65536

for name in gateway crypto storage; do
  pid=$(cat "$data/$name.pid")
  echo "sharer-$name peak_rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$pid/status")"
done
