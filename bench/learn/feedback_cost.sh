#!/usr/bin/env bash
# feedback_cost.sh — "learning from feedback adds <= 5 us per event and leaves predict p99 unchanged"
# (issue 18): bench/learn/feedback_cost.c runs the real server on the linear spam model with
# `learn.online: true` (on) and without a learn section (off), each run a fresh copy of one trained
# home, CONNS clients each predicting one row then sending its label; the server's CPU per event
# (utime + stime, including the drain until every label is learned) and predict p50/p99. Pairs
# alternate the side that goes first; medians of PAIRS (>= 3). Timings depend on load: one command,
#   flock /tmp/fw-bench.lock bash bench/learn/feedback_cost.sh          (PAIRS=3 DUR=5 CONNS=32)
# waits for load < 0.5 (FORCE=1 runs anyway; then trust the CPU figure, not the p99 ratio).
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
"$work/feedback_cost" "$PWD/$B/flywheel" "$work" "$SPAM" "${PAIRS:-3}" "${DUR:-5}" "${CONNS:-32}"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
