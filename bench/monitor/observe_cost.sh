#!/usr/bin/env bash
# observe_cost.sh [BUILD_DIR] — CPU ns per fw_monitor_observe (issue 17's budget: <= 2 us per
# prediction for 50 columns), blocks closed and tested on the observing thread included: 3 runs of
# bench/monitor/observe_cost.c (1 and 2 threads), the median printed with the load average. An
# absolute figure, no peer: the CPU time per observation is what to read on a busy machine.
# TIME=1: with the server's default windows by time (block_s 300: a clock read per observation).
#   flock /tmp/fw-bench.lock bash bench/monitor/observe_cost.sh
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
bench_wait_quiet
B=${1:-build-bench}
make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc bench/monitor/observe_cost.c "$B/libflywheel.a" \
    -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm -o "$B/observe_cost"
for t in 1 2; do
    cpu=$(for i in 1 2 3; do THREADS=$t COLS=${COLS:-50} "$B/observe_cost" | sed 's/.*cpu_ns_per_obs=\([0-9]*\).*/\1/'; done | bench_median)
    echo "threads=$t cols=${COLS:-50}${TIME:+ time=$TIME}: median CPU ns per observation $cpu (load average $(bench_load1))"
done
