#!/usr/bin/env bash
# vs_nginx_parts.sh — where issue 14's throughput gap to nginx goes: wrk -t2 -c64 against nginx
# answering a static 200 of the reply's size and against three flywheel servers of the same spam
# GBDT (100 trees of depth 6, 57 inputs, 2 threads) that differ in one part each:
#   full        the default: store log on (spool + ingest into log.db: every prediction logged),
#               monitoring on
#   nolog       --log /dev/null (the prediction log written nowhere), monitoring on
#   nolognomon  --log /dev/null and `monitoring: {enabled: false}`
# Sides alternate in a rotating order, PAIRS rounds of SECS seconds each; per side the median
# req/s, its ratio to nginx's median, and the server's CPU per request (all its threads; for full
# the ingest of the round's records is waited for and counted). The difference full − nolog is the
# log's cost, nolog − nolognomon monitoring's; nolognomon/nginx is what the request itself (HTTP,
# decode, 100 trees, reply) leaves of nginx's throughput.
# Waits up to QUIET_WAIT_S (900) s for a load average < 0.5 (FORCE=1 measures anyway).
# Usage: flock /tmp/fw-bench.lock bash bench/serve/vs_nginx_parts.sh   env SECS (5), PAIRS (5),
#        FLYWHEEL_BIN (build/flywheel), SPAM_CSV, FORCE=1, QUIET_WAIT_S, LISTENERS (shared|per_thread)
set -u
cd "$(dirname "$0")/../.."
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
secs=${SECS:-5}; pairs=${PAIRS:-5}
source bench/quiet.sh
QUIET_WAIT_S=${QUIET_WAIT_S:-900} bench_wait_quiet
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
spam_home "$BIN" "$tmp/home" || exit 1
spam_bodies "$tmp"
# LISTENERS=per_thread: every flywheel side with serving.listeners: per_thread (docs/SERVING.md)
printf 'serving:\n  listeners: %s\n' "${LISTENERS:-shared}" > "$tmp/base.yaml"
printf 'serving:\n  listeners: %s\nmonitoring:\n  enabled: false\n' "${LISTENERS:-shared}" > "$tmp/nomon.yaml"
declare -A PORT PID
start() { local name=$1 port=$2; shift 2
  "$BIN" serve --port "$port" --threads 2 --home "$tmp/home" --alias-poll 0 "$@" >/dev/null 2>"$tmp/$name.err" &
  PID[$name]=$!; pids+=($!); PORT[$name]=$port
  wait_port "$port" || { echo "$name did not start: $(cat "$tmp/$name.err")"; exit 1; }
}
start full 18421 --config "$tmp/base.yaml"
start nolog 18422 --log /dev/null --config "$tmp/base.yaml"
start nolognomon 18423 --log /dev/null --config "$tmp/nomon.yaml"
resp=$(curl -s -XPOST -H "Content-Type: application/json" --data-binary @"$tmp/v1.json" "http://127.0.0.1:18421/v1/models/spam:predict")
mkdir -p "$tmp/www"; printf '%s' "$resp" > "$tmp/www/p"
cat > "$tmp/nginx.conf" <<NG
worker_processes 2; daemon off; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000;
  server { listen 127.0.0.1:18424; location / { root $tmp/www; try_files /p =404; default_type application/json; } } }
NG
nginx -c "$tmp/nginx.conf" -p "$tmp" & PID[nginx]=$!; pids+=($!); PORT[nginx]=18424
wait_port 18424 || { echo "nginx did not start"; exit 1; }
tick=$(getconf CLK_TCK)
cpu_ticks() { local t=0 q; for q in $1 $(pgrep -P "$1"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$q/stat"))); done; echo $t; }
spool() { curl -s "http://127.0.0.1:${PORT[full]}/metrics" | awk '$1 == "flywheel_log_spool_records" {print $2}'; }
sides=(nginx full nolog nolognomon)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  $(nproc) cores  body ${#resp} B  ${secs}s x $pairs rounds  listeners ${LISTENERS:-shared}"
for i in $(seq "$pairs"); do
  for k in 0 1 2 3; do
    side=${sides[$(( (k + i - 1) % 4 ))]}
    if [[ $side == nginx ]]; then path=/; lua=(); else path=/v1/models/spam:predict; lua=(-s "$tmp/v1.lua"); fi
    c0=$(cpu_ticks "${PID[$side]}")
    wrk -t2 -c64 -d"${secs}s" "${lua[@]}" "http://127.0.0.1:${PORT[$side]}$path" > "$tmp/wrk.out"
    if [[ $side == full ]]; then for _ in $(seq 1 600); do [[ $(spool) == 0 ]] && break; sleep 0.1; done; fi
    c1=$(cpu_ticks "${PID[$side]}")
    req=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
    awk -v s="$side" -v r="$req" -v d="$secs" -v c=$((c1 - c0)) -v k="$tick" \
        'BEGIN{printf "%-11s %8.0f req/s  server CPU %6.2f us/req\n", s, r / d, c / k * 1e6 / r}' | tee -a "$tmp/rows"
  done
done
ng=$(awk '$1 == "nginx" {print $2}' "$tmp/rows" | bench_median)
echo "median over $pairs rounds:"
for side in "${sides[@]}"; do
  r=$(awk -v s="$side" '$1 == s {print $2}' "$tmp/rows" | bench_median)
  c=$(awk -v s="$side" '$1 == s {print $6}' "$tmp/rows" | bench_median)
  awk -v s="$side" -v r="$r" -v c="$c" -v n="$ng" 'BEGIN{printf "%-11s %8.0f req/s  %.3f of nginx  server CPU %6.2f us/req\n", s, r, r / n, c}'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
