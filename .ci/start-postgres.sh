#!/usr/bin/env bash
# Starts a throwaway Postgres on 127.0.0.1 for the real-server test pass and prints
# the DATABASE_URL to use (the only line on stdout). initdb refuses to run as root,
# so as root it runs as the `postgres` user, created here when missing.
# Binaries: $PG_BIN if set, else the initdb on PATH (e.g. /usr/local/bin), else
# /usr/local/bin, else the newest Debian /usr/lib/postgresql/*/bin (.ci/run installs
# the `postgresql` package when none of these exists).
set -euo pipefail
PGPORT="${PGPORT:-55432}"
PGDATA_DIR="${PGDATA_DIR:-/tmp/mirrorsmith-pg}"

find_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  local onpath
  if onpath="$(command -v initdb 2>/dev/null)"; then dirname "$onpath"; return; fi
  if [ -x /usr/local/bin/initdb ]; then echo /usr/local/bin; return; fi
  local debian
  debian="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [ -n "$debian" ] && echo "$debian"
}
BIN="$(find_bin || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ] || [ ! -x "$BIN/pg_ctl" ]; then
  echo "start-postgres: no initdb/pg_ctl found (PG_BIN, PATH, /usr/local/bin, /usr/lib/postgresql/*/bin); apt-get install postgresql" >&2
  exit 1
fi

if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  if getent group postgres >/dev/null 2>&1; then group=(-g postgres); else group=(--user-group); fi
  useradd --system "${group[@]}" --home-dir /var/lib/postgresql --no-create-home --shell /bin/bash postgres
fi
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

if [ -f "$PGDATA_DIR/postmaster.pid" ] && as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' status" >/dev/null 2>&1; then
  echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
  exit 0
fi
rm -rf "$PGDATA_DIR"
mkdir -p "$PGDATA_DIR"
if [ "$(id -u)" = 0 ]; then chown postgres "$PGDATA_DIR"; fi
as_pg "'$BIN/initdb' -D '$PGDATA_DIR' -U postgres --auth=trust -E UTF8 >/dev/null"
as_pg "'$BIN/pg_ctl' -D '$PGDATA_DIR' -o '-c listen_addresses=127.0.0.1 -p $PGPORT -k /tmp -c fsync=off -c max_connections=200' -l '$PGDATA_DIR/server.log' -w start >/dev/null"
echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
