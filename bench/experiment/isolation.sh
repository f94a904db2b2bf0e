#!/usr/bin/env bash
# isolation.sh [BUILD_DIR] — issue 19: "a shadow or canary that crashes, hangs or runs 10x slower
# costs the champion's traffic no errors and <= 5% p99". Open-loop load at a fixed rate well below
# saturation (bench/experiment/openloop.c: Poisson arrivals, latency from the SCHEDULED send time,
# so a stalled server is charged for the requests it made wait), one server (--threads 2) per case:
#   champion   — RATE req/s on /v1/models/spam/aliases/production:predict (champion-only traffic on
#                the same HTTP threads): its p99 is "the champion's p99";
#   background — RATE req/s, in the windows labelled `case` on /v1/models/spam:predict (the route the
#                canary rollout splits: 10% to the canary, never rolled back — rollback margins are
#                set out of reach, so the cost is measured in steady state), in the windows
#                labelled `none` on the champion's alias route (no canary traffic at all).
# The windows (WINDOW_MS, default 500; the first GUARD_MS 50 of each not counted) alternate in pairs
# (PAIRS, default 50 per case; order random per pair) INSIDE one server, so both sides share its
# process, its cores and the machine's load of the same second. Printed per case: the champion's
# p99 case / none two ways, each with a 95% bootstrap interval (pairs resampled): median window
# (each window's p99, the median over a side's windows — a stall of the machine spoils a window,
# not the figure: the primary figure) and pooled (the p99 of all a side's requests); the p50 ratio;
# failures on both routes.
# Cases (test build's FLYWHEEL_TEST_CANARY_FAULT):
#   a/a          — no split configured: both sides are the same traffic (the measure's own spread);
#   hang         — the canary never answers (timeout_ms 100);
#   slow         — every canary answer 9x the baseline's p50 later (10x slower; timeout_ms 1000);
#   slow-inline  — the same, timeout_ms 0: the canary on the HTTP thread (what isolation replaces):
#                  the positive control, a valid measure shows it clearly above 1.
#   crash        — the canary fails every request with a 500 (error=1: answered again by the champion).
# Waits for load < 0.5 (bench/quiet.sh; FORCE=1 runs anyway), takes /tmp/fw-bench.lock around each
# case's timed run only (~55 s each; ~5 min in all). RATE (default 2000 per stream: ~10% of one
# HTTP thread), CONNS (16 per stream, opened 5 ms apart so both HTTP threads accept some),
# RT (default 1): the load generator and, once its connections are open, every server thread run
# SCHED_FIFO (chrt 20), so other processes' CPU does not reach the measured latencies (without
# it, at load 7, the champion's p99 is ~125 ms of run-queue waits); PIN=1 also pins the server to
# CPU 0 and the load generator to CPU 1 (taskset).
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
RATE=${RATE:-2000}
CONNS=${CONNS:-16}
WINDOW_MS=${WINDOW_MS:-500}
GUARD_MS=${GUARD_MS:-50}
PAIRS=${PAIRS:-50}
CASES=${CASES:-"a/a hang slow slow-inline crash"}
source bench/experiment/canary_serve.sh   # $BIN, $T, $M (spam 1 and 2), start, stop; waits for quiet
echo '{"production":"1","staging":"2"}' > "$M/spam/aliases.json"
printf '{"instances":[{"a":3,"b":1}]}' > "$T/body.json"
cc -O2 -Wall -Wextra -Werror -o "$T/openloop" bench/experiment/openloop.c -lm || exit 1
SRV_PIN= GEN_PIN=
if [[ ${PIN:-} == 1 ]]; then SRV_PIN="taskset -c 0" GEN_PIN="taskset -c 1"; fi
RT=${RT:-1}
[[ $RT == 1 ]] && GEN_PIN="chrt -f 20 $GEN_PIN"

CHAMP=/v1/models/spam/aliases/production:predict SPLIT=/v1/models/spam:predict
cfg() { # cfg NAME TIMEOUT_MS: a config file with (TIMEOUT_MS set) or without (empty) the split
  if [[ -z $2 ]]; then printf 'serving:\n  alias_poll_s: 0\n' > "$T/$1.yaml"
  else printf 'serving:\n  alias_poll_s: 0\n  splits:\n    - {model: spam, kind: canary, challenger: spam@staging, steps: [10, 100], tick_s: 1, min_requests: 1000000000, timeout_ms: %s, rollback: {errors: 1, p99: 100, srm: 1e-12}}\n' "$2" > "$T/$1.yaml"; fi
}
cfg none ""
cfg iso 1000
cfg hang 100
cfg inline 0
# threads_cpu: the server's CPU seconds by thread name ("MHD-worker=4.21 fw-canary=0.27 ...")
threads_cpu() {
  local t
  for t in /proc/$pid/task/*; do echo "$(tr ' ' _ < "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done |
    awk -v hz="$(getconf CLK_TCK)" '{c[$1] += $2} END{for (n in c) printf "%s=%.2f ", n, c[n] / hz}'
}
# measure NAME CONFIG FAULT PAIRS SEED: one server, the open-loop run (side A = none, B = case)
measure() {
  SRV_PREFIX=$SRV_PIN start "$T/$2.yaml" "$3" >&2
  local rt=
  [[ $RT == 1 ]] && rt="chrt -a -f -p 20 $pid"
  OPENLOOP_AFTER_CONNECT=$rt flock /tmp/fw-bench.lock $GEN_PIN "$T/openloop" "$P" "$RATE" "$CONNS" "$WINDOW_MS" "$GUARD_MS" "$4" "$5" "$T/body.json" \
    "$CHAMP" "$CHAMP" "$SPLIT" > "$T/$1.out"
  echo "server CPU seconds by thread over the run: $(threads_cpu)" >> "$T/$1.out"
  if grep -q rollback "$T/err"; then echo "  ($1: the canary was rolled back: $(grep rollback "$T/err" | head -1))"; fi
  stop
}
echo "== $(date -u +%FT%TZ) load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD), 2 HTTP threads, open loop ${RATE}+${RATE} req/s, ${CONNS}+${CONNS} connections, ${PAIRS} pairs of ${WINDOW_MS} ms windows per case${PIN:+, pinned (server CPU 0, load CPU 1)}"
measure base none "" 4 1
base50=$(awk '/^side A/{for (i = 1; i <= NF; i++) if ($i == "p50") print $(i + 1)}' "$T/base.out")
delay=$(awk -v p="$base50" 'BEGIN{d = int(9 * p); print (d < 100 ? 100 : d)}')
echo "baseline champion p50 ${base50} us: the slow canary answers ${delay} us later"
seed=11
for c in $CASES; do
  case $c in
    a/a) conf=none fault= ;;
    hang) conf=hang fault=hang ;;
    slow) conf=iso fault=delay_us=$delay ;;
    slow-inline) conf=inline fault=delay_us=$delay ;;
    crash) conf=iso fault=error=1 ;;
    *) echo "unknown case $c"; continue ;;
  esac
  l0=$(cut -d' ' -f1 /proc/loadavg)
  measure "${c//\//}" "$conf" "$fault" "$PAIRS" $((seed++))
  o=$T/${c//\//}.out
  sed 's/^side A/  none/; s/^side B/  case/; /^RESULT/d; s/^champion/  champion/; s/^window/  window/; s/^server/  server/' "$o"
  set -- $(awk '/^RESULT/{print $2, $3, $4, $8, $9, $10, $11, $12, $13, $14}' "$o")
  echo "-- $c: champion p99 case/none: median window ${8}x (95% ${9}-${10}), pooled ${1}x (95% ${2}-${3}); failed: champion ${4}/${5}, split route ${6}/${7} (none/case); load ${l0} -> $(cut -d' ' -f1 /proc/loadavg)"
done
echo "== done $(date -u +%FT%TZ) load average $(cut -d' ' -f1-3 /proc/loadavg) (target: each isolated case <= 1.05, 0 failed; slow-inline clearly > 1)"
