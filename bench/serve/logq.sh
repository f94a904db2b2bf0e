#!/usr/bin/env bash
# logq.sh — does the prediction log keep up? Serves the spam GBDT (100 trees, depth 6) with the
# store log on, drives /v1 predict with wrk at 64 connections for SECONDS, samples /metrics every
# 0.5 s and prints the peak queue depth and spool backlog, drops, records appended and stored per
# second, the store's lag; then waits for the queue and the spool to drain and prints how long that
# took (the backlog the SQLite ingest still had to store).
# Usage: flock /tmp/fw-bench.lock bash bench/serve/logq.sh [seconds]   env FLYWHEEL_BIN, SPAM_CSV, HOME_DIR
# (HOME_DIR: reuse a home where spam is trained and promoted, to skip training; SERVE_ARGS: extra
# `flywheel serve` arguments, e.g. "--config log.yaml" to try serving.log.batch sizes.)
set -u
cd "$(dirname "$0")/../.."
secs=${1:-10}
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
PORT=18195
H=${HOME_DIR:-$tmp/home}
[[ -f $H/flywheel.db ]] || spam_home "$BIN" "$H" || exit 1
spam_bodies "$tmp"
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  binary: $("$BIN" --version 2>/dev/null | head -1)"
"$BIN" serve --port $PORT --threads 2 --home "$H" --alias-poll 0 ${SERVE_ARGS:-} >/dev/null 2>"$tmp/fw.err" & fwpid=$!; pids+=($fwpid)
wait_port $PORT
metric() { awk -v k="$1" '$1==k{print $2}' <<<"$2"; }
m0=$(curl -s "http://127.0.0.1:$PORT/metrics"); w0=$(metric flywheel_log_written_total "$m0")
wrk -t2 -c64 -d"${secs}s" -s "$tmp/v1.lua" "http://127.0.0.1:$PORT/v1/models/spam:predict" > "$tmp/wrk.out" & wp=$!
s0=$(metric flywheel_log_stored_total "$m0")
peak=0; speak=0; series=""; t0=$EPOCHREALTIME
while kill -0 $wp 2>/dev/null; do
  mm=$(curl -s "http://127.0.0.1:$PORT/metrics")
  d=$(metric flywheel_log_queue_depth "$mm"); d=${d%.*}; sp=$(metric flywheel_log_spool_records "$mm"); sp=${sp%.*}
  ((${d:-0} > peak)) && peak=$d; ((${sp:-0} > speak)) && speak=$sp; series+=" ${d:-?}/${sp:--}"; sleep 0.5
done
t1=$EPOCHREALTIME
m1=$(curl -s "http://127.0.0.1:$PORT/metrics")
w1=$(metric flywheel_log_written_total "$m1"); d1=$(metric flywheel_log_queue_depth "$m1")
s1=$(metric flywheel_log_stored_total "$m1"); sp1=$(metric flywheel_log_spool_records "$m1"); lag1=$(metric flywheel_log_store_lag_seconds "$m1")
while :; do
  mm=$(curl -s "http://127.0.0.1:$PORT/metrics"); d=$(metric flywheel_log_queue_depth "$mm"); sp=$(metric flywheel_log_spool_records "$mm")
  [[ ${d%.*} == 0 && ${sp:-0} == 0 ]] && break; sleep 0.1
done
t2=$EPOCHREALTIME
m2=$(curl -s "http://127.0.0.1:$PORT/metrics")
rps=$(awk '/Requests\/sec/{print $2}' "$tmp/wrk.out")
printf 'wrk c=64 %s s: %s req/s\n' "$secs" "$rps"
printf 'log queue: peak depth %s (capacity %s), depth at wrk end %s, dropped %s, write errors %s\n' "$peak" \
  "$(metric flywheel_log_queue_capacity "$m2")" "$d1" "$(metric flywheel_log_dropped_total "$m2")" "$(metric flywheel_log_write_errors_total "$m2")"
echo "queue depth / spool records every 0.5 s:$series"
awk -v a="$w0" -v b="$w1" -v sa="${s0:-0}" -v sb="${s1:-0}" -v sp="${sp1:--}" -v lag="${lag1:-0}" -v speak="$speak" \
    -v t0="$t0" -v t1="$t1" -v t2="$t2" -v rps="$rps" 'BEGIN{
  printf "records appended during wrk: %d (%.0f /s vs %.0f req/s); stored in the store: %d (%.0f /s)\n", b-a, (b-a)/(t1-t0), rps, sb-sa, (sb-sa)/(t1-t0)
  printf "spool at wrk end: %s records, the store %.1f s behind (peak %d records); drained in %.2f s after wrk\n", sp, lag, speak, t2-t1}'
printf 'server RSS %s MiB; load at end: %s\n' "$(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$fwpid/status)" "$(cut -d' ' -f1-3 /proc/loadavg)"
