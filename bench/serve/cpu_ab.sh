#!/usr/bin/env bash
# cpu_ab.sh — server CPU per /v1 request at c=64, two flywheel builds A and B, each on its own home
# (the spam GBDT, store log on: every prediction logged, the log drained before the CPU is read),
# wrk -t2 -c64 for SECS, sides alternating, PAIRS pairs; per request: user and system CPU of all the
# server's threads, syscalls (perf stat raw_syscalls:sys_enter), context switches. CPU per request
# moves less with other jobs than req/s does; the load average is printed.
# CONFIG=serve.yaml is passed to both servers (--config): e.g. `monitoring: {enabled: false}` and
# `serving: {log: {path: /dev/null}}` leave the request threads' own work.
# Usage: flock /tmp/fw-bench.lock bash bench/serve/cpu_ab.sh A_BIN B_BIN [SECS] [PAIRS]
set -u
cd "$(dirname "$0")/../.."
A=$1; B=$2; secs=${3:-5}; pairs=${4:-3}
source bench/serve/common.sh
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
spam_bodies "$tmp"
declare -A pid port
port[a]=18420; port[b]=18421
for side in a b; do
  bin=$A; [[ $side == b ]] && bin=$B
  spam_home "$bin" "$tmp/home.$side" || exit 1
  "$bin" serve --port "${port[$side]}" --threads 2 --home "$tmp/home.$side" --alias-poll 0 ${CONFIG:+--config "$CONFIG"} >/dev/null 2>"$tmp/err.$side" &
  pid[$side]=$!; pids+=($!)
  wait_port "${port[$side]}" || { echo "$side did not start: $(cat "$tmp/err.$side")"; exit 1; }
  # something else on the port (another run of this script) answers wait_port while ours has exited
  sleep 0.5; kill -0 "${pid[$side]}" 2>/dev/null || { echo "$side exited (port ${port[$side]} taken?): $(cat "$tmp/err.$side")"; exit 1; }
  wrk -t2 -c64 -d1s -s "$tmp/v1.lua" "http://127.0.0.1:${port[$side]}/v1/models/spam:predict" >/dev/null
done
tick=$(getconf CLK_TCK)
usage() { local p=${pid[$1]} c=0 t; read -r u s < <(awk '{print $14, $15}' "/proc/$p/stat")
  for t in /proc/$p/task/*; do c=$((c + $(awk '/ctxt_switches/ {n += $2} END {print n + 0}' "$t/status" 2>/dev/null || echo 0))); done
  echo "$u $s $c"; }
log_m() { curl -s "http://127.0.0.1:${port[$1]}/metrics" | awk -v k="$2" '$1 == k {print $2}'; }
# (no spool, e.g. a file log: nothing to wait for)
drain() { for _ in $(seq 1 600); do [[ $(log_m "$1" flywheel_log_spool_records) =~ ^0?$ ]] && return; sleep 0.1; done; }
run() { # run SIDE -> "req/s user_us sys_us syscalls ctxsw" per request
  local side=$1
  read -r u0 s0 c0 < <(usage "$side")
  perf stat -x, -e raw_syscalls:sys_enter -p "${pid[$side]}" -o "$tmp/perf" & local pp=$!
  wrk -t2 -c64 -d"${secs}s" -s "$tmp/v1.lua" "http://127.0.0.1:${port[$side]}/v1/models/spam:predict" > "$tmp/wrk.out"
  drain "$side"
  kill -INT $pp; wait $pp 2>/dev/null
  read -r u1 s1 c1 < <(usage "$side")
  local req sc
  req=$(awk '/requests in/ {print $1}' "$tmp/wrk.out"); sc=$(awk -F, '/raw_syscalls/ {print $1}' "$tmp/perf")
  awk -v r="$req" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v c=$((c1 - c0)) -v k="$tick" -v sc="${sc:-0}" -v d="$secs" \
    'BEGIN{printf "%.0f %.2f %.2f %.2f %.3f\n", r / d, u / k * 1e6 / r, s / k * 1e6 / r, sc / r, c / r}'
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  A=$A  B=$B  ${secs}s x $pairs pairs"
printf '%-4s %9s %9s %9s %9s %9s\n' side req/s user_us sys_us syscalls ctxsw
for i in $(seq "$pairs"); do
  if ((i % 2)); then order="a b"; else order="b a"; fi
  for side in $order; do
    read -r r u s sc c < <(run "$side")
    printf '%-4s %9s %9s %9s %9s %9s\n' "$side" "$r" "$u" "$s" "$sc" "$c" | tee -a "$tmp/rows.$side"
  done
done
med() { sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
echo "median per request:"
for side in a b; do line=$side; for col in 2 3 4 5 6; do line="$line $(awk -v c=$col '{print $c}' "$tmp/rows.$side" | med)"; done; echo "$line"; done |
  awk '{printf "%-4s %9s %9s %9s %9s %9s  CPU %.2f us\n", $1, $2, $3, $4, $5, $6, $3 + $4; cpu[$1] = $3 + $4} END {printf "B/A server CPU per request: %.3f\n", cpu["b"] / cpu["a"]}'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
