#!/usr/bin/env bash
# log_drops.sh — the prediction log under a c=64 load, then idle (not a test): the real spam GBDT
# served with the store log (the production configuration: disk spool, store ingest when the CPU is
# free), wrk at 64 connections for SECS seconds, then every log counter broken down (queue full /
# queue memory bound / spool full / disk errors / write errors) when the load stops, and the store's
# ingest rate while it drains the spool with no load (rows stored per second of wall time, and per
# CPU second of the server process). ROUNDS rounds in one server (drops are counted per round).
# Usage: flock /tmp/fw-bench.lock bash bench/serve/log_drops.sh [SECS] [ROUNDS]
#        env FLYWHEEL_BIN (default build/flywheel), SPAM_CSV, FORCE=1 (run at load >= 0.5)
set -u
cd "$(dirname "$0")/../.."
secs=${1:-10}; rounds=${2:-2}
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
load() { cut -d' ' -f1 /proc/loadavg; }
if [[ ${FORCE:-0} != 1 ]]; then
  for _ in $(seq 60); do awk -v l="$(load)" 'BEGIN{exit !(l < 0.5)}' && break; sleep 5; done
  awk -v l="$(load)" 'BEGIN{exit !(l < 0.5)}' || { echo "log_drops.sh: load $(load) >= 0.5 (FORCE=1 to run anyway)"; exit 1; }
fi
FW=18195; H=$tmp/home
spam_home "$BIN" "$H" 1 || exit 1
spam_bodies "$tmp"
"$BIN" serve --port $FW --threads 2 --home "$H" --alias-poll 0 >/dev/null 2>"$tmp/fw.err" & fwpid=$!; pids+=($fwpid)
wait_port $FW || { echo "flywheel did not start: $(cat "$tmp/fw.err")"; exit 1; }
m() { curl -s "http://127.0.0.1:$FW/metrics"; }
get() { awk -v k="$1" '$1 == k {printf "%d", $2}' <<<"$2"; }
cpu() { awk '{print ($14 + $15) / '"$(getconf CLK_TCK)"'}' "/proc/$fwpid/stat"; }
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  binary: $("$BIN" --version 2>/dev/null | head -1)"
for r in $(seq "$rounds"); do
  a=$(m)
  wrk -t2 -c64 -d"${secs}s" -s "$tmp/v1.lua" "http://127.0.0.1:$FW/v1/models/spam:predict" >"$tmp/wrk" 2>&1
  b=$(m)
  d() { echo $(( $(get "$1" "$b") - $(get "$1" "$a") )); }
  printf 'round %d: %s req/s; written %d, stored %d, pending %d (%s s behind); dropped %d = queue %d (of which memory bound %d) + spool full %d + disk errors %d; store write errors %d\n' \
    "$r" "$(awk '/Requests\/sec/{print $2}' "$tmp/wrk")" "$(d flywheel_log_written_total)" "$(d flywheel_log_stored_total)" \
    "$(get flywheel_log_spool_records "$b")" "$(awk '$1 == "flywheel_log_store_lag_seconds" {printf "%.1f", $2}' <<<"$b")" \
    "$(d flywheel_log_dropped_total)" \
    $(( $(d flywheel_log_dropped_total) - $(d flywheel_log_spool_dropped_total) - $(d flywheel_log_append_errors_total) )) \
    "$(d flywheel_log_queue_memory_dropped_total)" "$(d flywheel_log_spool_dropped_total)" "$(d flywheel_log_append_errors_total)" \
    "$(d flywheel_log_write_errors_total)"
  # the drain with no load: the store's ingest rate
  s0=$(get flywheel_log_stored_total "$b"); c0=$(cpu); t0=$(date +%s.%N)
  for _ in $(seq 1 1200); do [[ $(m | awk '$1 == "flywheel_log_spool_records" {print $2}') == 0 ]] && break; sleep 0.1; done
  t1=$(date +%s.%N); c1=$(cpu); s1=$(get flywheel_log_stored_total "$(m)")
  awk -v n=$((s1 - s0)) -v w="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" \
    'BEGIN{printf "  drain: %d rows in %.1f s = %.0f rows/s wall, %.0f rows per server CPU-s\n", n, w, n / w, (c > 0 ? n / c : 0)}'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
