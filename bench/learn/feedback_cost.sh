#!/usr/bin/env bash
# feedback_cost.sh — "learning from feedback adds <= 5 us per event and leaves predict p99 unchanged"
# (issue 18): bench/learn/feedback_cost.c runs the real server on the linear spam model with
# `learn.online: true` (on) and without a learn section (off), each run a fresh copy of one trained
# home and the same fixed work: WARM warm-up events, then EVENTS measured events over CONNS clients,
# each a predict of one row then its label. Printed: the server's CPU per event on - off (utime +
# stime, including the drain until every label is learned and the log stored), the same per thread
# name (schedstat of /proc/PID/task/*, with wake-ups), predict p50/p99. Pairs alternate the side that
# goes first; medians and min..max over PAIRS (>= 3). Timings depend on load: one command,
#   PAIRS=5 flock /tmp/fw-bench.lock bash bench/learn/feedback_cost.sh   (EVENTS=60000 CONNS=32 WARM=6000)
# waits for load < 0.5 (FORCE=1 runs anyway; then trust the per-thread CPU, not the p99 ratio).
# LEARN_YAML='learn: {online: true, models: [spam], snapshot: {updates: 1000000000, interval: 0}}'
# measures a variant of the on side (here: no snapshots). The instruction counts (load-independent,
# no lock): bench/learn/feedback_instr.sh.
# B=DIR: the build directory (default build).
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
bench_wait_quiet
B=${B:-build}
SPAM=${SPAM_CSV:-../shared/datasets/spam.csv}
[[ -f $SPAM ]] || SPAM=/work/shared/datasets/spam.csv
[[ -f $B/libflywheel.a && -x $B/flywheel ]] || { echo "feedback_cost.sh: $B/ missing (run make)"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
gcc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$work/feedback_cost" bench/learn/feedback_cost.c -ljansson -lpthread -lm
echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short=12 HEAD)  load: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"
"$work/feedback_cost" "$PWD/$B/flywheel" "$work" "$SPAM" "${PAIRS:-3}" "${EVENTS:-60000}" "${CONNS:-32}" "${WARM:-6000}"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
