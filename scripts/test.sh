#!/usr/bin/env bash
# Runs every test of the project (`make test`; CI's `.ci/run` calls the same):
#   proto lint, Rust formatting and lints, unit + contract + end-to-end tests (SQLite and a real
#   PostgreSQL), the real-browser test against the three services, and the offline deploy checks.
# It installs what it needs from the project's own files (npm packages, Chromium from Debian,
# a Python venv for the deploy checks) and finds or starts PostgreSQL (scripts/find-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

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
data=$(mktemp -d)
cleanup+=("rm -rf '$data'")
start_system "$data" --profile debug
cleanup=("kill -TERM $system_pid 2>/dev/null; wait $system_pid 2>/dev/null" "${cleanup[@]}")
(cd web && SHARER_URL="http://$gateway" npm run --silent test:browser) || {
  echo "system log:" >&2; tail -n 40 "$data/system.log" >&2; exit 1;
}

step "deploy checks (offline: schemas, hardening, policy matrix)"
bash deploy/checks/run.sh

step "all tests passed"
