#!/usr/bin/env bash
# run.sh [BUILD_DIR] — CSV loading benchmark: flywheel's loader (fw_data_load, 1 and 2 threads)
# vs pandas.read_csv (Debian's python3-pandas, C engine) on a generated 1,000,000 x 50 numeric
# CSV (bench_load gen: every 5th column integers, the rest reals with 6 decimals, ~440 MB).
# The file is generated once and kept in bench/out/ (git-ignored). Each side reports the best of
# REPEATS (default 3) runs, after one untimed warm-up read that puts the file in the page cache.
# Peak RSS of each whole process comes from /usr/bin/time -v.
# Env: ROWS (1000000), COLS (50), REPEATS (3); FILE=path loads that file instead (e.g. the
# Fashion-MNIST training CSV, .gz or decompressed: FILE=../shared/datasets/fashion_mnist_train.csv.gz). CPU-heavy (a minute or two): run it in the
# background under the shared lock:  flock /tmp/fw-bench.lock bash bench/load/run.sh build-x
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh   # waits for load < 0.5 or refuses; FORCE=1 runs anyway
bench_wait_quiet
B=${1:-build-bench}
ROWS=${ROWS:-1000000}
COLS=${COLS:-50}
REPEATS=${REPEATS:-3}
make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
mkdir -p "$B/bench" bench/out
gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc -o "$B/bench/bench_load" \
    bench/load/bench_load.c "$B/libflywheel.a" -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson \
    -lmicrohttpd -lpthread -lm
F=bench/out/numeric_${ROWS%000000}m_$COLS.csv
[ "$ROWS" = 1000000 ] || F=bench/out/numeric_${ROWS}_$COLS.csv
[ -n "${FILE:-}" ] && F=$FILE
if [ ! -s "$F" ]; then
    echo "generating $F"
    "$B/bench/bench_load" gen "$F" "$ROWS" "$COLS"
fi
echo "file=$F bytes=$(stat -L -c %s "$F") (load average: $(cut -d' ' -f1 /proc/loadavg))"
cat "$F" >/dev/null # page cache warm-up for both sides
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
secs() { sed -n 's/^seconds=\([0-9.]*\).*/\1/p' "$1"; }
for t in 1 2; do
    /usr/bin/time -v "$B/bench/bench_load" load "$F" "$t" "$REPEATS" >"$work/fw$t.txt" 2>"$work/fw$t.time"
    echo "flywheel_threads=$t $(cat "$work/fw$t.txt") peak_rss_mb=$(($(rss "$work/fw$t.time") / 1024))"
done
/usr/bin/time -v /usr/bin/python3 - "$F" "$REPEATS" >"$work/pd.txt" 2>"$work/pd.time" <<'EOF'
import sys, time
import pandas as pd
path, reps = sys.argv[1], int(sys.argv[2])
best = 1e30
for _ in range(reps):
    t0 = time.perf_counter()
    df = pd.read_csv(path)
    best = min(best, time.perf_counter() - t0)
print("seconds=%.3f rows=%d cols=%d" % (best, df.shape[0], df.shape[1]))
EOF
echo "pandas_read_csv $(cat "$work/pd.txt") peak_rss_mb=$(($(rss "$work/pd.time") / 1024))"
awk -v a="$(secs "$work/fw1.txt")" -v b="$(secs "$work/fw2.txt")" -v p="$(secs "$work/pd.txt")" 'BEGIN{
    printf "ratio flywheel/pandas time: 1 thread=%.3f  2 threads=%.3f  (< 1 = flywheel faster)\n", a / p, b / p }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
