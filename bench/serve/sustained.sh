#!/usr/bin/env bash
# sustained.sh — sustained load with the prediction log in the store vs the log off: `flywheel serve`
# on the spam GBDT (100 trees, depth 6) at c=32 for SECS (default 300) with wrk (-t2, --timeout 2s),
# once with the store log (the production configuration: spool + SQLite ingest) and once with
# `--log /dev/null` (the same queue and writer, no store), alternating, PAIRS pairs (default 3).
# Prints per run: req/s, p50, p99 (wrk --latency), timeouts and errors, and for the store
# run whether the log is complete: requests answered vs records written + dropped, the spool
# backlog at the end and how long it took to drain; per pair the p99 ratio store / off; then the
# median ratio (goal <= 2, with 0 timeouts and every record stored or counted as dropped). For the
# store run also the records stored during the load, their rate and the log threads' CPU time per
# record (ingest: the idle ingester, the catch-up thread and the checkpointer; the writer).
# Refuses to start with a 1-minute load average above 0.5 unless FORCE=1 (figures taken on a busy
# machine are printed with its load average; say how far to trust them).
# Usage: flock /tmp/fw-bench.lock bash bench/serve/sustained.sh [SECS]
#        env FLYWHEEL_BIN (default build/flywheel), PAIRS, CONNS (32), HOME_DIR (a home with spam
#        trained and promoted: skips training), SERVE_ARGS (extra serve arguments for both sides)
set -u
cd "$(dirname "$0")/../.."
secs=${1:-300}
pairs=${PAIRS:-3}
conns=${CONNS:-32}
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
PORT=18197
load1() { cut -d' ' -f1 /proc/loadavg; }
if [[ ${FORCE:-0} != 1 ]]; then
  for _ in $(seq 1 60); do awk -v l="$(load1)" 'BEGIN{exit !(l <= 0.5)}' && break; sleep 10; done
  awk -v l="$(load1)" 'BEGIN{exit !(l <= 0.5)}' || { echo "load $(load1) > 0.5 for 10 minutes: refusing (FORCE=1 to run anyway)"; exit 2; }
fi
H=${HOME_DIR:-$tmp/home}
[[ -f $H/flywheel.db ]] || spam_home "$BIN" "$H" || exit 1
spam_bodies "$tmp"
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  binary: $("$BIN" --version 2>/dev/null | head -1)  ${secs}s at c=$conns, $pairs pairs"
m() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
# run SIDE -> prints one line, sets P99_US
run() {
  local side=$1 extra=()
  [[ $side == off ]] && extra=(--log /dev/null)
  "$BIN" serve --port $PORT --threads 2 --home "$H" --alias-poll 0 "${extra[@]}" ${SERVE_ARGS:-} >/dev/null 2>"$tmp/fw.err" & local fw=$!; pids+=($fw)
  wait_port $PORT || { echo "flywheel did not start: $(cat "$tmp/fw.err")"; exit 1; }
  local l0; l0=$(cut -d' ' -f1-3 /proc/loadavg)
  wrk -t2 -c"$conns" -d"${secs}s" --timeout 2s --latency -s "$tmp/v1.lua" "http://127.0.0.1:$PORT/v1/models/spam:predict" > "$tmp/wrk.out"
  local l1; l1=$(cut -d' ' -f1-3 /proc/loadavg)
  read -r rps p50 p99 tmo errs reqs < <(awk '
    function us(x) { if (x ~ /us$/) {sub(/us/,"",x); return x} if (x ~ /ms$/) {sub(/ms/,"",x); return x*1000} if (x ~ /s$/) {sub(/s/,"",x); return x*1e6} return x }
    /Requests\/sec/{r=$2} / 50%/{a=us($2)} / 99%/{b=us($2)}
    /Socket errors/{gsub(",",""); t=$NF} /Non-2xx/{e=$5} / requests in /{n=$1}
    END{printf "%s %.0f %.0f %d %d %d\n", r, a, b, t+0, e+0, n}' "$tmp/wrk.out")
  local extra_out=""
  if [[ $side == store ]]; then
    local w d sp t0=$EPOCHREALTIME st0 ing
    w=$(m flywheel_log_written_total); d=$(m flywheel_log_dropped_total); sp=$(m flywheel_log_spool_records)
    st0=$(m flywheel_log_stored_total)
    # CPU seconds of the log's threads over the run (ingest = idle ingester + catch-up + checkpointer)
    ing=$(for t in /proc/$fw/task/*; do awk -v n="$(cat $t/comm)" '{print n, $14 + $15}' $t/stat; done | awk -v tck="$(getconf CLK_TCK)" \
      '$1 ~ /^fw-log-(ingest|catchup|ckpt)$/ {i += $2} $1 == "fw-log-writer" {w += $2} END {printf "%.2f %.2f", i / tck, w / tck}')
    for _ in $(seq 1 1200); do [[ $(m flywheel_log_spool_records) == 0 ]] && break; sleep 0.5; done
    local drain; drain=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
    extra_out=$(printf "  log: %s written + %s dropped of %s answered; spool %s at the end, drained in %s s; stored %s" \
      "${w%.*}" "${d%.*}" "$reqs" "${sp%.*}" "$drain" "$(m flywheel_log_stored_total)")
    extra_out+=$(awk -v st="${st0%.*}" -v secs="$secs" -v w="${w%.*}" -v c="$ing" 'BEGIN { split(c, a, " ");
      printf "\n      during the load: %d stored (%.0f/s); ingest CPU %.1f s = %.1f us per stored record; writer CPU %.1f s = %.2f us per written record",
             st, st / secs, a[1], st ? a[1] * 1e6 / st : 0, a[2], w ? a[2] * 1e6 / w : 0 }')
  fi
  kill $fw; wait $fw 2>/dev/null
  printf "%-5s %8.0f req/s  p50 %6d us  p99 %7d us  timeouts %d  errors %d  load %s -> %s%s\n" \
    "$side" "$rps" "$p50" "$p99" "$tmo" "$errs" "$l0" "$l1" "$extra_out"
  P99_US=$p99
}
ratios=()
for i in $(seq 1 "$pairs"); do
  if ((i % 2)); then run store; a=$P99_US; run off; b=$P99_US; else run off; b=$P99_US; run store; a=$P99_US; fi
  r=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}')
  echo "pair $i: p99 store/off = $r"
  ratios+=("$r")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR]=$1} END{printf "median p99 ratio store/off over %d pairs: %s (goal <= 2)\n", NR, v[int((NR+1)/2)]}'
