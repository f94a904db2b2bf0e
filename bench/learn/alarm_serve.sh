#!/usr/bin/env bash
# alarm_serve.sh — "from a performance alarm to a gated challenger serving 100% of traffic: <= 60 s
# for up to 1M rows of data" (issue 18), on the real binary: bench/learn/alarm_serve.c builds a
# 1M-row labelled served history in the store, serves the champion with
# `learn: {on_alarm: [performance], promote: auto}`, injects a concept change through the HTTP API
# until the performance alarm fires, and times alarm -> retrain (its steps) -> gate -> promotion ->
# the last answer of the old version, with a load of ~RATE predictions a second all along (failed
# requests counted). One run; its wall times depend on the load (printed before and after).
#   flock /tmp/fw-bench.lock bash bench/learn/alarm_serve.sh [N_HISTORY (1000000)] [RATE (500)]
# (B=DIR: the build directory, default build; FORCE=1 runs at load >= 0.5 and says so)
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
bench_wait_quiet
B=${B:-build}
[[ -f $B/libflywheel.a && -x $B/flywheel ]] || { echo "alarm_serve.sh: $B/ missing (run make)"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
gcc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$work/alarm_serve" bench/learn/alarm_serve.c "$B/libflywheel.a" \
    -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm
echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short=12 HEAD)  load: $(cut -d' ' -f1-3 /proc/loadavg)  cores: $(nproc)"
"$work/alarm_serve" "$PWD/$B/flywheel" "$work" "${1:-1000000}" "${2:-500}"
rc=$?
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
