#!/usr/bin/env bash
# pg.sh — a throwaway PostgreSQL for the tests (the postgresql:// store back end).
#   tests/support/pg.sh start      initdb + pg_ctl in a new temp dir, on a free port of 127.0.0.1;
#                                  prints "URL DIR" (URL: postgresql://postgres@127.0.0.1:PORT)
#   tests/support/pg.sh stop DIR   stops that server by the PID in its postmaster.pid, removes DIR
#   tests/support/pg.sh pause DIR  stops it the same way (an outage: immediate shutdown) keeping DIR
#   tests/support/pg.sh resume DIR starts it again on the same port
# initdb refuses to run as root: as root the server runs as the `postgres` user (Debian's
# postgresql package creates it) with the temp dir chowned to it. No fsync (a test server: its
# data dies with it; commits are still written before they are acknowledged, so an immediate
# shutdown — pause — loses none), trust authentication on 127.0.0.1 only, no Unix socket outside DIR.
# FW_PG_DURABLE=1 keeps PostgreSQL's defaults fsync=on and full_page_writes=on (benchmarks).
set -euo pipefail
nosync="-c fsync=off -c full_page_writes=off"
[[ ${FW_PG_DURABLE:-0} == 1 ]] && nosync=""
bindir=${FW_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[[ -x $bindir/initdb && -x $bindir/pg_ctl ]] || { echo "pg.sh: no PostgreSQL server binaries (Debian: apt-get install postgresql)" >&2; exit 2; }
as=()
if [[ $(id -u) == 0 ]]; then
  id postgres >/dev/null 2>&1 || { echo "pg.sh: running as root needs the postgres user (apt-get install postgresql)" >&2; exit 2; }
  as=(runuser -u postgres --)
fi
case ${1:-} in
start)
  dir=$(mktemp -d /tmp/fw-pg.XXXXXX)
  chmod 755 "$dir"
  [[ ${#as[@]} -gt 0 ]] && chown postgres: "$dir"
  "${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
  for attempt in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    if "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $nosync -c max_connections=200" \
        start >/dev/null 2>&1; then
      echo "$port" > "$dir/port"
      echo "postgresql://postgres@127.0.0.1:$port $dir"
      exit 0
    fi
  done
  cat "$dir/server.log" >&2; rm -rf "$dir"; exit 1 ;;
resume)
  dir=${2:?pg.sh resume DIR}; port=$(cat "$dir/port")
  "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 $nosync -c max_connections=200" \
    start >/dev/null ;;
stop|pause)
  dir=${2:?pg.sh stop DIR}
  [[ $dir == /tmp/fw-pg.* ]] || { echo "pg.sh: $dir is not a pg.sh directory" >&2; exit 2; }
  if [[ -f $dir/data/postmaster.pid ]]; then
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    kill -QUIT "$pid" 2>/dev/null || true   # immediate shutdown of that server only
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  [[ $1 == stop ]] && rm -rf "$dir"
  exit 0 ;;
*) echo "usage: pg.sh start | stop DIR | pause DIR | resume DIR" >&2; exit 2 ;;
esac
