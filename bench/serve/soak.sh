#!/usr/bin/env bash
# soak.sh — the soak of issue 14: `flywheel serve` on the spam GBDT with the production log (spool +
# SQLite store) under wrk at c=32 for SECS (default 600), no restarts. Samples the server's RSS every
# 10 s and prints the trace; at the end: requests, errors (non-2xx), socket errors and timeouts, the
# log's accounting (answered vs written + dropped) and the RSS growth from the 60-second mark to the
# end (goal: 0 errors, 0 timeouts, growth < 5%). Refuses a 1-minute load average above 0.5 unless
# FORCE=1 (a busy machine makes timeouts that are not the server's).
# Usage: flock /tmp/fw-bench.lock bash bench/serve/soak.sh [SECS]
#        env FLYWHEEL_BIN (default build/flywheel), CONNS (32), HOME_DIR (a home with spam trained)
set -u
cd "$(dirname "$0")/../.."
secs=${1:-600}
conns=${CONNS:-32}
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
source bench/quiet.sh
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
PORT=18198
bench_wait_quiet
H=${HOME_DIR:-$tmp/home}
[[ -f $H/flywheel.db ]] || spam_home "$BIN" "$H" || exit 1
spam_bodies "$tmp"
m() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  binary: $("$BIN" --version 2>/dev/null | head -1)  ${secs}s at c=$conns"
"$BIN" serve --port $PORT --threads 2 --home "$H" --alias-poll 0 >/dev/null 2>"$tmp/fw.err" & fw=$!; pids+=($fw)
wait_port $PORT || { echo "flywheel did not start: $(cat "$tmp/fw.err")"; exit 1; }
wrk -t2 -c"$conns" -d"${secs}s" --timeout 2s --latency -s "$tmp/v1.lua" "http://127.0.0.1:$PORT/v1/models/spam:predict" > "$tmp/wrk.out" & wk=$!; pids+=($wk)
t0=$EPOCHSECONDS
: > "$tmp/rss"
while kill -0 $wk 2>/dev/null; do
  rss=$(awk '/^VmRSS/{print $2}' /proc/$fw/status 2>/dev/null)
  [[ -n $rss ]] && echo "$((EPOCHSECONDS - t0)) $rss" >> "$tmp/rss"
  sleep 10
done
wait $wk
kill -0 $fw 2>/dev/null || { echo "FAIL: the server died during the soak: $(tail -5 "$tmp/fw.err")"; exit 1; }
read -r rps p50 p99 tmo errs reqs sockerr < <(awk '
  function us(x) { if (x ~ /us$/) {sub(/us/,"",x); return x} if (x ~ /ms$/) {sub(/ms/,"",x); return x*1000} if (x ~ /s$/) {sub(/s/,"",x); return x*1e6} return x }
  /Requests\/sec/{r=$2} / 50%/{a=us($2)} / 99%/{b=us($2)}
  /Socket errors/{gsub(",",""); t=$NF; s=$4+$6+$8} /Non-2xx/{e=$5} / requests in /{n=$1}
  END{printf "%s %.0f %.0f %d %d %d %d\n", r, a, b, t+0, e+0, n, s+0}' "$tmp/wrk.out")
for _ in $(seq 1 1200); do [[ $(m flywheel_log_spool_records) == 0 ]] && break; sleep 0.5; done
w=$(m flywheel_log_written_total); d=$(m flywheel_log_dropped_total); st=$(m flywheel_log_stored_total)
echo "rss trace (s kB): $(tr '\n' ' ' < "$tmp/rss")"
printf "%d requests, %.0f req/s, p50 %d us, p99 %d us, non-2xx %d, socket errors %d, timeouts %d; load at end %s\n" \
  "$reqs" "$rps" "$p50" "$p99" "$errs" "$sockerr" "$tmo" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf "log: %s written + %s dropped of %s answered; %s stored\n" "${w%.*}" "${d%.*}" "$reqs" "${st%.*}"
printf "memory: log queue peak %s of %s bytes (%s records dropped at the bound); SQLite heap %s bytes (peak %s)\n" \
  "$(m flywheel_log_queue_peak_bytes)" "$(m flywheel_log_queue_capacity_bytes)" "$(m flywheel_log_queue_memory_dropped_total)" \
  "$(m flywheel_store_memory_bytes)" "$(m flywheel_store_memory_peak_bytes)"
awk -v errs="$errs" -v tmo="$tmo" -v se="$sockerr" '
  $1 >= 60 && !b {b=$2; bt=$1} {last=$2; lt=$1}
  END { if (!b) {print "too short for the RSS check (< 60 s)"; exit 1}
        g = 100 * (last - b) / b
        printf "RSS %d kB at %d s -> %d kB at %d s: growth %.2f%% (goal < 5%%)\n", b, bt, last, lt, g
        ok = g < 5 && errs == 0 && tmo == 0 && se == 0
        print ok ? "soak: PASS" : "soak: FAIL"; exit !ok }' "$tmp/rss"
