#!/usr/bin/env bash
# perf.sh [BUILD_DIR] — CPU cost of the live-performance tracker (bench/monitor/bench_perf.c): process
# CPU ns per fw_perf_observe and per fw_perf_label, ms per realized window (bootstrap + slices),
# the median of 3 runs. CPU time, not wall clock: meaningful on a busy machine (the load average is
# printed with every figure). There is no peer to compare with in the same process (the tracker is
# new); the figure to hold it against is issue 17's 2 us per prediction for 50 columns. Waits for
# load < 0.5 or refuses (FORCE=1 runs anyway). Run it under the shared lock:
#   flock /tmp/fw-bench.lock bash bench/monitor/perf.sh
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
bench_wait_quiet
B=${1:-build-bench}
make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
D="$B/bench/monitor"
mkdir -p "$D"
gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc -o "$D/bench_perf" bench/monitor/bench_perf.c \
    "$B/libflywheel.a" -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD)"
for k in observe label window; do
    : >"$D/$k.txt"
done
for run in 1 2 3; do
    out=$("$D/bench_perf" 200000)
    for k in observe label window; do
        echo "$out" | sed -n "s/^$k [a-z_]*=\([0-9.]*\).*/\1/p" >>"$D/$k.txt"
    done
done
echo "observe_ns=$(bench_median <"$D/observe.txt") label_ns=$(bench_median <"$D/label.txt") window_ms=$(bench_median <"$D/window.txt") (load $(cut -d' ' -f1 /proc/loadavg))"
