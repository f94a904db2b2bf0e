#!/usr/bin/env bash
# cluster.sh — owns running the whole replicated serving set on one machine (docs/SCALING.md,
# "Replicas behind HAProxy"): a PostgreSQL home, N `flywheel serve` replicas sharing it, HAProxy
# in front (scripts/ha/haproxy.cfg). Every daemon is started here and stopped by its PID; the state
# lives in one directory /tmp/fw-ha.XXXXXX. Used by tests/scale and bench/scale, and for trying it.
#
#   cluster.sh start [--replicas N] [--home URL] [--config FILE]
#        starts PostgreSQL (initdb + pg_ctl in a temp dir on a free port: tests/support/pg.sh),
#        unless --home names an existing postgresql:// home; N replicas (default 3) on free ports,
#        each with its own FLYWHEEL_LOCAL_DIR (spool: what a machine of its own would have); then
#        HAProxy on a free port. Prints, and writes to DIR/cluster.env (shell assignments):
#          dir=DIR  url=http://127.0.0.1:PORT (HAProxy)  home=postgresql://...  stats=http://.../stats
#          replicas=N  r1=http://127.0.0.1:PORT ...   ha_pid=PID
#        --config: a serve config (serving: ...) for the replicas; the default one sets
#        drain_delay_s: 1 (SIGTERM: out of rotation before the listener closes).
#   cluster.sh stop DIR              SIGTERM to HAProxy and every replica (they drain), PostgreSQL
#                                    stopped (immediate shutdown), DIR removed (KEEP=1 keeps it)
#   cluster.sh kill DIR I            kill -9 of replica I (1-based)
#   cluster.sh term DIR I            SIGTERM of replica I, waits until it has exited
#   cluster.sh restart DIR I         starts replica I again: same port, same local directory (its
#                                    spool of the killed process is recovered), waits for it
#   cluster.sh pg-restart DIR        PostgreSQL immediate shutdown (as a crash), then started again
#   cluster.sh pids DIR              "haproxy PID", "rI PID" per live replica, "postgres PID"
# Environment: FLYWHEEL_BIN (default build/flywheel of this tree), FW_HA_THREADS (each replica's
# --threads; default: the server's own), FW_HA_NBTHREAD (HAProxy's nbthread; default: one per CPU).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
FW=${FLYWHEEL_BIN:-$root/build/flywheel}
die() { echo "cluster.sh: $*" >&2; exit 1; }
# free_port [TAKEN...]: a port free now, below the kernel's ephemeral range — a port 0 bind handed
# out a port from that range, and before HAProxy bound it a replica's outgoing connection to
# PostgreSQL had taken it as its own source port (test_ha, session 17: "cannot bind socket") —,
# and none of TAKEN (the ports picked before, not yet bound)
free_port() {
  python3 - "$@" <<'PY'
import random, socket, sys
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
taken = {int(a) for a in sys.argv[1:]}
for _ in range(2000):
    p = random.randint(max(1024, lo - 12000), lo - 1)
    if p in taken:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    sys.exit(0)
sys.exit("no free port below the ephemeral range")
PY
}
check_dir() { [[ ${1:-} == /tmp/fw-ha.* && -f $1/cluster.env ]] || die "'${1:-}' is not a cluster.sh directory"; }
alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# start_replica DIR I: starts replica I on its recorded port, waits for its listening line (30 s)
start_replica() {
  local dir=$1 i=$2 rd=$1/r$2 port
  port=$(cat "$rd/port")
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  local threads=()
  [[ -n ${FW_HA_THREADS:-} ]] && threads=(--threads "$FW_HA_THREADS")
  : >"$rd/out.log"
  FLYWHEEL_LOCAL_DIR=$rd/local setsid "$FW" serve --config "$dir/serve.yaml" --home "$home" --port "$port" \
    "${threads[@]}" >>"$rd/out.log" 2>>"$rd/err.log" </dev/null &
  echo $! >"$rd/pid"
  for _ in $(seq 1 300); do
    grep -q "listening on" "$rd/out.log" 2>/dev/null && return 0
    alive "$(cat "$rd/pid")" || break
    sleep 0.1
  done
  tail -n 20 "$rd/err.log" >&2
  die "replica $i did not start (log: $rd/err.log)"
}

# stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS
stop_pid() {
  local pid=$1 t=$2
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((t * 10))); do alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

cmd=${1:-}; shift || true
case $cmd in
start)
  n=3 home= config=
  while (($#)); do
    case $1 in
      --replicas) n=${2:?--replicas N}; shift 2 ;;
      --home) home=${2:?--home URL}; shift 2 ;;
      --config) config=${2:?--config FILE}; shift 2 ;;
      *) die "unknown option '$1' (start [--replicas N] [--home URL] [--config FILE])" ;;
    esac
  done
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 64)) || die "--replicas wants 1..64, got '$n'"
  [[ -x $FW ]] || die "no flywheel binary at $FW (make, or set FLYWHEEL_BIN)"
  command -v haproxy >/dev/null || die "haproxy is not installed (apt-get install haproxy; scripts/install-deps.sh)"
  dir=$(mktemp -d /tmp/fw-ha.XXXXXX)
  chmod 755 "$dir"
  pg_dir=
  # a start that fails stops what it started (KEEP=1 keeps the directory, logs included)
  trap 'if [[ -f $dir/cluster.env ]]; then "$0" stop "$dir"; else [[ -n $pg_dir ]] && "$root/tests/support/pg.sh" stop "$pg_dir"; rm -rf "$dir"; fi' EXIT
  if [[ -z $home ]]; then
    pg=$("$root/tests/support/pg.sh" start) || { rm -rf "$dir"; die "PostgreSQL did not start"; }
    pg_dir=${pg#* }
    home=${pg% *}/postgres
  fi
  [[ $home == postgresql://* || $home == postgres://* ]] || die "--home must be a postgresql:// URL"
  if [[ -n $config ]]; then cp "$config" "$dir/serve.yaml"
  else printf 'serving:\n  host: 127.0.0.1\n  drain_delay_s: 1\n' >"$dir/serve.yaml"; fi
  ha_port=$(free_port) || die "no free port"; st_port=$(free_port "$ha_port") || die "no free port"
  {
    echo "dir=$dir"; echo "url=http://127.0.0.1:$ha_port"; echo "home=$home"
    echo "stats=http://127.0.0.1:$st_port/stats"; echo "replicas=$n"; echo "pg_dir=$pg_dir"
  } >"$dir/cluster.env"
  # the schema, once, before several processes would race to create it
  "$FW" models list --home "$home" >/dev/null 2>"$dir/schema.log" || { cat "$dir/schema.log" >&2; die "cannot open $home"; }
  for i in $(seq 1 "$n"); do
    mkdir -p "$dir/r$i/local"
    free_port "$ha_port" "$st_port" $(cat "$dir"/r*/port 2>/dev/null) >"$dir/r$i/port" || die "no free port"
    echo "r$i=http://127.0.0.1:$(cat "$dir/r$i/port")" >>"$dir/cluster.env"
    start_replica "$dir" "$i"
  done
  {
    cat "$here/haproxy.cfg"
    for i in $(seq 1 "$n"); do echo "    server r$i 127.0.0.1:$(cat "$dir/r$i/port")"; done
  } >"$dir/haproxy.cfg"
  if [[ -n ${FW_HA_NBTHREAD:-} ]]; then sed -i "s/^    maxconn 4096$/    maxconn 4096\n    nbthread $FW_HA_NBTHREAD/" "$dir/haproxy.cfg"; fi
  export FW_HA_DIR=$dir FW_HA_BIND=127.0.0.1:$ha_port FW_HA_STATS=127.0.0.1:$st_port
  haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 || { cat "$dir/haproxy.log" >&2; die "haproxy refused the configuration"; }
  setsid haproxy -db -f "$dir/haproxy.cfg" >>"$dir/haproxy.log" 2>&1 </dev/null &
  echo $! >"$dir/haproxy.pid"
  echo "ha_pid=$(cat "$dir/haproxy.pid")" >>"$dir/cluster.env"
  # up: HAProxy answers, and every replica passed its checks (rise 2)
  for _ in $(seq 1 300); do
    up=$(curl -sf "http://127.0.0.1:$st_port/stats;csv" 2>/dev/null | awk -F, '$1=="replicas" && $2 ~ /^r[0-9]+$/ && $18=="UP"' | wc -l) || up=0
    ((up == n)) && break
    alive "$(cat "$dir/haproxy.pid")" || { cat "$dir/haproxy.log" >&2; die "haproxy exited"; }
    sleep 0.1
  done
  ((up == n)) || die "only $up of $n replicas up behind HAProxy after 30 s"
  trap - EXIT
  cat "$dir/cluster.env" ;;
stop)
  dir=${1:-}; check_dir "$dir"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  stop_pid "$(cat "$dir/haproxy.pid" 2>/dev/null)" 5
  for i in $(seq 1 "$replicas"); do
    pid=$(cat "$dir/r$i/pid" 2>/dev/null || true)
    alive "$pid" && kill -TERM "$pid" 2>/dev/null || true
  done
  for i in $(seq 1 "$replicas"); do stop_pid "$(cat "$dir/r$i/pid" 2>/dev/null || true)" 30; done
  [[ -n $pg_dir ]] && "$root/tests/support/pg.sh" stop "$pg_dir"
  [[ ${KEEP:-} == 1 ]] || rm -rf "$dir" ;;
kill|term|restart)
  dir=${1:-}; i=${2:-}; check_dir "$dir"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  [[ $i =~ ^[0-9]+$ ]] && ((i >= 1 && i <= replicas)) || die "replica '$i' is not 1..$replicas"
  pid=$(cat "$dir/r$i/pid")
  case $cmd in
    kill) kill -KILL "$pid" 2>/dev/null || true
          for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done ;;
    term) stop_pid "$pid" 60 ;;
    restart) alive "$pid" && die "replica $i (pid $pid) is still running"
             start_replica "$dir" "$i" ;;
  esac ;;
pg-restart)
  dir=${1:-}; check_dir "$dir"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  [[ -n $pg_dir ]] || die "PostgreSQL was not started by cluster.sh (--home)"
  "$root/tests/support/pg.sh" pause "$pg_dir"
  "$root/tests/support/pg.sh" resume "$pg_dir" ;;
pids)
  dir=${1:-}; check_dir "$dir"
  # shellcheck disable=SC1091
  . "$dir/cluster.env"
  pid=$(cat "$dir/haproxy.pid" 2>/dev/null || true); alive "$pid" && echo "haproxy $pid"
  for i in $(seq 1 "$replicas"); do pid=$(cat "$dir/r$i/pid" 2>/dev/null || true); alive "$pid" && echo "r$i $pid"; done
  if [[ -n $pg_dir && -f $pg_dir/data/postmaster.pid ]]; then echo "postgres $(head -n 1 "$pg_dir/data/postmaster.pid")"; fi ;;
*) echo "usage: cluster.sh start [--replicas N] [--home URL] [--config FILE] | stop DIR | kill DIR I | term DIR I |" \
        "restart DIR I | pg-restart DIR | pids DIR" >&2; exit 2 ;;
esac
