#!/usr/bin/env bash
# Runs every test of the project (`make test`; CI's `.ci/run` calls the same):
#   proto lint, Rust formatting and lints, unit + contract + end-to-end tests (SQLite and a real
#   PostgreSQL), the real-browser test against the three services, and the offline deploy checks.
# It installs what it needs from the project's own files (npm packages, Chromium from Debian,
# a Python venv for the deploy checks) and finds or starts PostgreSQL (scripts/find-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
cleanup=()
on_exit() {
  local command
  for command in "${cleanup[@]}"; do eval "$command" || true; done
}
trap on_exit EXIT

step "web: npm packages and build"
scripts/build-web.sh

step "buf lint"
(cd web && npm run --silent lint:proto)

step "cargo fmt --check and clippy"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings

step "PostgreSQL for the tests (the machine's or a throwaway one, plus one demanding TLS and a password)"
pg_dir_file=$(mktemp)
cleanup+=("rm -f '$pg_dir_file'")
database_url=$(SHARER_PG_DIR_FILE=$pg_dir_file scripts/find-postgres.sh)
if [[ -s "$pg_dir_file" ]]; then
  cleanup+=("scripts/find-postgres.sh stop '$(cat "$pg_dir_file")'")
fi
export SHARER_TEST_DATABASE_URL=$database_url
tls_env=$(scripts/start-postgres-tls.sh)
set -a; eval "$tls_env"; set +a
cleanup+=("scripts/find-postgres.sh stop '$SHARER_TEST_TLS_PG_DIR'")

step "cargo test (unit, storage contract on SQLite and PostgreSQL, end to end)"
cargo test --locked --workspace

step "browser test (headless Chromium) against the three services"
scripts/ensure-chromium.sh
cargo build --locked -p sharer-crypto -p sharer-storage -p sharer-gateway -p sharer-mtls
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
gateway=127.0.0.1:$(free_port)
data=$(mktemp -d)
cleanup+=("rm -rf '$data'")
scripts/run.sh --profile debug --no-build --data "$data" --gateway "$gateway" \
  --crypto "127.0.0.1:$(free_port)" --storage "127.0.0.1:$(free_port)" 2>"$data/system.log" &
system_pid=$!
cleanup=("kill -TERM $system_pid 2>/dev/null; wait $system_pid 2>/dev/null" "${cleanup[@]}")
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://$gateway/" 2>/dev/null && break
  sleep 0.1
done
(cd web && SHARER_URL="http://$gateway" npm run --silent test:browser) || {
  echo "system log:" >&2; tail -n 40 "$data/system.log" >&2; exit 1;
}

step "deploy checks (offline: schemas, hardening, policy matrix)"
bash deploy/checks/run.sh

step "all tests passed"
