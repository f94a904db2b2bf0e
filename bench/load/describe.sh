#!/usr/bin/env bash
# describe.sh [BUILD_DIR] — issue 13's "loading speed as users meet it": `flywheel describe FILE`
# end to end (load + profile + report, its whole process) against pandas.read_csv of the same file
# (the call's own time, and the whole python process including `import pandas`), PAIRS (default 3)
# pairs with the side that goes first alternating; prints each pair's ratios and the medians.
# FILE defaults to Fashion-MNIST's training CSV (60,000 x 785, .gz). Target: describe <= 0.5x the
# read_csv call. Waits for a quiet machine (bench/quiet.sh; FORCE=1 runs anyway). Run it under the
# shared lock:  flock /tmp/fw-bench.lock bash bench/load/describe.sh build-bench
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
bench_wait_quiet
B=${1:-build-bench}
D=../shared/datasets
[ -d "$D" ] || D=/work/shared/datasets
F=${FILE:-$D/fashion_mnist_train.csv.gz}
make -s -j2 BUILD="$B" "$B/flywheel" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat "$F" >/dev/null # page cache warm-up for both sides
PY=/usr/bin/python3
fw_side() {
    /usr/bin/time -f "wall=%e user=%U sys=%S" -o "$work/fw.time" "$B/flywheel" describe "$F" >/dev/null
}
pd_side() {
    /usr/bin/time -f "wall=%e user=%U sys=%S" -o "$work/pd.time" $PY -c "
import sys, time
import pandas as pd
t = time.perf_counter()
d = pd.read_csv(sys.argv[1])
print('read_csv_s=%.3f' % (time.perf_counter() - t))" "$F" >"$work/pd.txt"
}
v() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2" | head -n 1; }
echo "file=$F (load average: $(bench_load1))"
call=() proc=()
for i in $(seq 1 "${PAIRS:-3}"); do
    if ((i % 2)); then fw_side; pd_side; else pd_side; fw_side; fi
    fw=$(v wall "$work/fw.time") rc=$(v read_csv_s "$work/pd.txt") pw=$(v wall "$work/pd.time")
    fcpu=$(awk -v u="$(v user "$work/fw.time")" -v s="$(v sys "$work/fw.time")" 'BEGIN{printf "%.2f", u + s}')
    call+=("$(awk -v a="$fw" -v b="$rc" 'BEGIN{printf "%.4f", a / b}')")
    proc+=("$(awk -v a="$fw" -v b="$pw" 'BEGIN{printf "%.4f", a / b}')")
    echo "pair $i ($( ((i % 2)) && echo flywheel first || echo pandas first)): describe wall=${fw}s cpu=${fcpu}s read_csv=${rc}s pandas_process wall=${pw}s ratio_call=${call[-1]} ratio_process=${proc[-1]} load=$(bench_load1)"
done
echo "median over ${PAIRS:-3} alternating pairs: describe/read_csv=$(printf '%s\n' "${call[@]}" | bench_median)  describe/pandas_process=$(printf '%s\n' "${proc[@]}" | bench_median)  (target <= 0.5 of the call)"
