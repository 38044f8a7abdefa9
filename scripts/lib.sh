# Helpers shared by the project's scripts; `source` it, do not run it.

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The path of a PostgreSQL program, from PATH or Debian's versioned folders.
pg_bin() {
  local found
  found=$(command -v "$1" 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$found" ]] && echo "$found"
}

# Runs a shell command as the owner of a throwaway cluster in folder $1: the postgres user
# when we are root (initdb refuses root), else ourselves.
as_cluster_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    chown -R postgres: "$1"
    su postgres -s /bin/sh -c "$2"
  else
    sh -c "$2"
  fi
}

# Starts the three built services on free loopback ports with data in folder $1 (more
# run.sh options may follow), waits until the gateway answers, and sets `gateway` (host:port)
# and `system_pid`. Logs go to $1/system.log; each service's pid to $1/<service>.pid.
start_system() {
  local data=$1
  shift
  gateway=127.0.0.1:$(free_port)
  scripts/run.sh --no-build --data "$data" --gateway "$gateway" \
    --crypto "127.0.0.1:$(free_port)" --storage "127.0.0.1:$(free_port)" "$@" \
    2>"$data/system.log" &
  system_pid=$!
  local _
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "http://$gateway/" 2>/dev/null && return 0
    kill -0 "$system_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "the system did not come up; its log:" >&2
  tail -n 40 "$data/system.log" >&2
  return 1
}
