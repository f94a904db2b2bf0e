#!/usr/bin/env bash
# cpu_vs_nginx.sh — where the c=64 throughput gap to nginx goes, in CPU per request (valid on a busy
# machine, where req/s is not): flywheel serving the spam GBDT (/v1 predict, store log on, every
# prediction logged) and nginx answering a static 200 of the same body, each under wrk -t2 -c64 for
# SECONDS, alternating, PAIRS pairs. Per request, for each side: the server's user and system CPU
# (all its threads / worker processes, the log's ingest included), wrk's CPU, the server's syscalls
# (perf stat raw_syscalls:sys_enter) and context switches; the median of each over the pairs.
# With 2 cores shared by wrk and the server, throughput ≈ 2 cores / (server + wrk CPU per request)
# when both are busy: the ratio of those sums bounds flywheel/nginx.
# It waits up to QUIET_WAIT_S (900) seconds for a 1-minute load average under 0.5 and refuses to
# measure on a busier machine (exit 3) unless FORCE=1 (then the load is printed with the figures).
# The last line also gives the server CPU per request that 0.8 of nginx would need at this wrk cost.
# Usage: flock /tmp/fw-bench.lock bash bench/serve/cpu_vs_nginx.sh [SECONDS] [PAIRS]
#        env FLYWHEEL_BIN (default build/flywheel), SPAM_CSV, FORCE=1, QUIET_WAIT_S,
#        CONFIG=serve.yaml (passed to flywheel serve --config: e.g. `serving: {listeners: per_thread}`)
set -u
cd "$(dirname "$0")/../.."
secs=${1:-5}; pairs=${2:-3}
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
quiet() { awk -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN{exit !(l < 0.5)}'; }
if [[ ${FORCE:-0} != 1 ]]; then
  for _ in $(seq 1 $(( ${QUIET_WAIT_S:-900} / 10 ))); do quiet && break; sleep 10; done
  quiet || { echo "REFUSED: load $(cut -d' ' -f1-3 /proc/loadavg) after ${QUIET_WAIT_S:-900} s (FORCE=1 measures anyway)"; exit 3; }
fi
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
FW=18410; NGX=18411
spam_home "$BIN" "$tmp/home" || exit 1
spam_bodies "$tmp"
"$BIN" serve --port $FW --threads 2 --home "$tmp/home" --alias-poll 0 ${CONFIG:+--config "$CONFIG"} >/dev/null 2>"$tmp/fw.err" & fwpid=$!; pids+=($fwpid)
wait_port $FW || { echo "flywheel did not start: $(cat "$tmp/fw.err")"; exit 1; }
resp=$(curl -s -XPOST -H "Content-Type: application/json" --data-binary @"$tmp/v1.json" "http://127.0.0.1:$FW/v1/models/spam:predict")
mkdir -p "$tmp/www"; printf '%s' "$resp" > "$tmp/www/p"
cat > "$tmp/nginx.conf" <<NG
worker_processes 2; daemon off; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000;
  server { listen 127.0.0.1:$NGX; location / { root $tmp/www; try_files /p =404; default_type application/json; } } }
NG
nginx -c "$tmp/nginx.conf" -p "$tmp" & ngpid=$!; pids+=($ngpid)
wait_port $NGX || { echo "nginx did not start"; exit 1; }
tick=$(getconf CLK_TCK)
# the server's processes: flywheel's one, nginx's master and workers
procs() { if [[ $1 == fw ]]; then echo "$fwpid"; else echo "$ngpid $(pgrep -P "$ngpid" | tr '\n' ' ')"; fi; }
# "user_ticks sys_ticks ctx_switches" summed over the processes' threads
usage() {
  local u=0 s=0 c=0 p t
  for p in $(procs "$1"); do
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$p/stat"); u=$((u + u1)); s=$((s + s1))
    for t in /proc/$p/task/*; do
      c=$((c + $(awk '/ctxt_switches/ {n += $2} END {print n + 0}' "$t/status" 2>/dev/null || echo 0)))
    done
  done
  echo "$u $s $c"
}
log_m() { curl -s "http://127.0.0.1:$FW/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
drain_log() { for _ in $(seq 1 600); do [[ $(log_m flywheel_log_spool_records) == 0 ]] && return; sleep 0.1; done; }
run() { # run fw|nginx -> "req user_us sys_us wrk_us syscalls ctx" per request
  local side=$1 port path lua=()
  if [[ $side == fw ]]; then port=$FW; path=/v1/models/spam:predict; lua=(-s "$tmp/v1.lua"); else port=$NGX; path=/; fi
  read -r u0 s0 c0 < <(usage "$side")
  perf stat -x, -e raw_syscalls:sys_enter -p "$(procs "$side" | tr ' ' ',' | sed 's/,*$//')" -o "$tmp/perf.$side" &
  local pp=$!
  /usr/bin/time -f '%U %S' -o "$tmp/wrk.time" wrk -t2 -c64 -d"${secs}s" "${lua[@]}" "http://127.0.0.1:$port$path" > "$tmp/wrk.out"
  kill -INT $pp; wait $pp 2>/dev/null
  [[ $side == fw ]] && drain_log # the log's ingest of these requests counts for them
  read -r u1 s1 c1 < <(usage "$side")
  local req sys
  req=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
  sys=$(awk -F, '/raw_syscalls/ {print $1}' "$tmp/perf.$side")
  awk -v r="$req" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v c=$((c1 - c0)) -v k="$tick" -v sc="${sys:-0}" \
      -v w="$(awk '{print $1 + $2}' "$tmp/wrk.time")" -v d="$secs" \
      'BEGIN{printf "%.0f %.2f %.2f %.2f %.2f %.3f\n", r / d, u / k * 1e6 / r, s / k * 1e6 / r, w * 1e6 / r, sc / r, c / r}'
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  $(nproc) cores  body ${#resp} B  ${secs}s x $pairs pairs  $($BIN --version 2>/dev/null | head -1)"
printf '%-6s %9s %9s %9s %9s %9s %9s\n' side req/s user_us sys_us wrk_us syscalls ctxsw
for i in $(seq "$pairs"); do
  if ((i % 2)); then order="fw nginx"; else order="nginx fw"; fi
  for side in $order; do
    read -r r u s w sc c < <(run "$side")
    printf '%-6s %9s %9s %9s %9s %9s %9s\n' "$side" "$r" "$u" "$s" "$w" "$sc" "$c" | tee -a "$tmp/rows.$side"
  done
done
med() { sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
for side in fw nginx; do
  line=$side
  for col in 2 3 4 5 6 7; do line="$line $(awk -v c=$col '{print $c}' "$tmp/rows.$side" | med)"; done
  echo "$line" >> "$tmp/med"
done
echo "median per request:"
awk '{printf "%-6s %9.0f %9.2f %9.2f %9.2f %9.2f %9.3f  server+wrk CPU %.2f us\n", $1, $2, $3, $4, $5, $6, $7, $3 + $4 + $5}' "$tmp/med"
awk 'NR==1{f=$3+$4+$5; fr=$2; fw=$5} NR==2{n=$3+$4+$5; nr=$2} END{printf "RATIO req/s flywheel/nginx %.2f; CPU bound (nginx server+wrk / flywheel server+wrk) %.2f; 0.8 of nginx needs flywheel server CPU <= %.2f us a request (with its wrk at %.2f)\n", fr/nr, n/f, n/0.8 - fw, fw}' "$tmp/med"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
