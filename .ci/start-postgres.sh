#!/usr/bin/env bash
# Starts a throwaway Postgres on 127.0.0.1 for the real-server test pass and prints
# the DATABASE_URL to use. initdb refuses to run as root, so it runs as `postgres`.
set -euo pipefail
PGPORT="${PGPORT:-55432}"
PGDATA_DIR="${PGDATA_DIR:-/tmp/mirrorsmith-pg}"
BIN="$(dirname "$(command -v initdb || echo /usr/local/bin/initdb)")"
[ -x "$BIN/initdb" ] || BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
if [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' status" >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
  exit 0
fi
rm -rf "$PGDATA_DIR"
mkdir -p "$PGDATA_DIR"
[ "$(id -u)" = 0 ] && chown postgres "$PGDATA_DIR"
as_pg "'$BIN/initdb' -D '$PGDATA_DIR' -U postgres --auth=trust -E UTF8 >/dev/null"
as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' -o '-c listen_addresses=127.0.0.1 -p $PGPORT -k /tmp -c fsync=off -c max_connections=200' -l '$PGDATA_DIR/server.log' -w start >/dev/null"
echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
