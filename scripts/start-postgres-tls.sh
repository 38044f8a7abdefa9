#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster that demands what production does: TLS and a password
# (scram-sha-256), for the storage tests of the password file and of verified TLS. Prints
# shell assignments (SHARER_TEST_TLS_DATABASE_URL, ..._PASSWORD_FILE, ..._CA_FILE,
# SHARER_TEST_TLS_PG_DIR); `scripts/find-postgres.sh stop DIR` stops it and removes it.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
log() { echo "start-postgres-tls: $*" >&2; }
initdb=$(pg_bin initdb) || { log "initdb not found"; exit 1; }
pg_ctl=$(pg_bin pg_ctl) || { log "pg_ctl not found"; exit 1; }
command -v openssl >/dev/null || { log "openssl not found (apt-get install openssl)"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/sharer-pg-tls.XXXXXX")
port=$(free_port)
python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$dir/password"

# A CA, and a server certificate for 127.0.0.1 and localhost signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sharer test PostgreSQL CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" \
  -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
rm -f "$dir/ca.key" "$dir/server.csr"
chmod 600 "$dir/server.key" "$dir/password"

as_owner() { as_cluster_owner "$dir" "$1"; }
log "starting a TLS + password cluster in $dir on 127.0.0.1:$port"
if ! as_owner "'$initdb' -D '$dir/data' -A scram-sha-256 -U postgres --pwfile='$dir/password' \
       --no-sync >'$dir/initdb.log' 2>&1"; then
  log "initdb failed; see $dir/initdb.log"; exit 1
fi
printf 'hostssl all all 127.0.0.1/32 scram-sha-256\n' >"$dir/data/pg_hba.conf"
if ! as_owner "'$pg_ctl' -D '$dir/data' -w -l '$dir/server.log' -o \"-p $port -k '$dir' \
       -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file='$dir/server.pem' \
       -c ssl_key_file='$dir/server.key'\" start >/dev/null"; then
  log "could not start; see $dir/server.log"; exit 1
fi
# The tests (run as this user) read the password and CA; only the server key stays private.
chmod 644 "$dir/password" "$dir/ca.pem"

echo "SHARER_TEST_TLS_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres?sslmode=require"
echo "SHARER_TEST_TLS_DATABASE_PASSWORD_FILE=$dir/password"
echo "SHARER_TEST_TLS_DATABASE_CA_FILE=$dir/ca.pem"
echo "SHARER_TEST_TLS_PG_DIR=$dir"
