#!/usr/bin/env bash
# run.sh [BUILD_DIR] — batch prediction benchmark (issue 6), flywheel vs a Python peer, same run:
#   data      gen.py writes spam-shaped CSVs (57 spam feature columns + id; spam rows resampled with
#             noise) of 100k and 1M rows, cached in BUILD_DIR/bench/batch; BIG=1 adds 10M rows
#             (the 1M file 10 times, 2.5 GB) for the memory check;
#   model     spam, `flywheel train --models gbdt` 100 trees depth 6 (lr 0.3); the peer trains
#             XGBoost with the same parameters (hist, nthread=2) on the same file;
#   e2e       CSV in -> CSV out: `flywheel batch --threads 2` vs peer_xgboost.py (pandas read_csv ->
#             XGBoost predict (nthread=2) -> to_csv), both writing id, label, score, version, time;
#   scoring   bench_score (fw_bundle_predict_block, 2 threads, rows in memory) vs XGBoost predict
#             on the same rows in memory (fresh DMatrix) and inplace_predict;
#   memory    peak RSS (/usr/bin/time -v) of flywheel batch at 100k, 1M (and 10M) rows.
# Prints key=value lines and the ratios. Run it under the shared lock:
#   flock /tmp/fw-bench.lock bash bench/batch/run.sh
# Uses Debian's /usr/bin/python3 (pandas, xgboost: scripts/install-deps.sh --bench).
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh   # waits for load < 0.5 or refuses; FORCE=1 runs anyway
bench_wait_quiet
B=${1:-build-bench}
PY=/usr/bin/python3
SPAM=../shared/datasets/spam.csv
[ -f "$SPAM" ] || SPAM=/work/shared/datasets/spam.csv
make -s -j2 BUILD="$B" "$B/flywheel" "$B/libflywheel.a" >/dev/null
D="$B/bench/batch"
mkdir -p "$D"
gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc -o "$D/bench_score" bench/batch/bench_score.c \
    "$B/libflywheel.a" -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lmicrohttpd -lpthread -lm
sizes="100000 1000000"
[ "${BIG:-0}" = 1 ] && sizes="$sizes 10000000"
for n in 100000 1000000; do
    [ -s "$D/in_$n.csv" ] || $PY bench/batch/gen.py "$n" "$D/in_$n.csv" 42
done
if [ "${BIG:-0}" = 1 ] && [ ! -s "$D/in_10000000.csv" ]; then # 10x for the memory check: the 1M rows 10 times
    { head -n 1 "$D/in_1000000.csv"; for i in 1 2 3 4 5 6 7 8 9 10; do tail -n +2 "$D/in_1000000.csv"; done; } >"$D/in_10000000.csv"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
wall() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }'; }
cpu() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$1"; }
val() { sed -n "s/^$1=\([0-9.eE+-]*\).*/\1/p" "$2" | head -n 1; }

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD)"
"$B/flywheel" train "$SPAM" --label type --models gbdt --param gbdt.n_estimators=100 --param gbdt.max_depth=6 \
    --param gbdt.learning_rate=0.3 --name spam --home "$work/home" --out "$work/model" --quiet >"$work/train.log" 2>&1 ||
    { cat "$work/train.log"; exit 1; }

echo "== memory: flywheel batch peak RSS as the input grows"
for n in $sizes; do
    /usr/bin/time -v "$B/flywheel" batch --model spam --input "$D/in_$n.csv" --output "$work/fw_$n.csv" --id id \
        --threads 2 --home "$work/home" --quiet 2>"$work/fw_$n.time"
    rows=$(($(wc -l <"$work/fw_$n.csv") - 1))
    echo "flywheel_batch rows=$n written=$rows wall_s=$(wall "$work/fw_$n.time") cpu_s=$(cpu "$work/fw_$n.time") peak_rss_mb=$(($(rss "$work/fw_$n.time") / 1024)) (load $(cut -d' ' -f1 /proc/loadavg))"
    [ "$n" = 1000000 ] || rm -f "$work/fw_$n.csv"
done

echo "== end to end, 1M rows: CSV in -> CSV out (best of 3 / best of 2; wall and process CPU seconds)"
best=; best_cpu=
for rep in 1 2 3; do
    /usr/bin/time -v "$B/flywheel" batch --model spam --input "$D/in_1000000.csv" --output "$work/fw_e2e.csv" --id id \
        --threads 2 --home "$work/home" --quiet 2>"$work/e2e.time"
    w=$(wall "$work/e2e.time"); c=$(cpu "$work/e2e.time")
    echo "flywheel_e2e_run wall_s=$w cpu_s=$c (load $(cut -d' ' -f1 /proc/loadavg))"
    best=$(awk -v a="${best:-1e9}" -v b="$w" 'BEGIN { print (b < a) ? b : a }')
    best_cpu=$(awk -v a="${best_cpu:-1e9}" -v b="$c" 'BEGIN { print (b < a) ? b : a }')
done
/usr/bin/time -v $PY bench/batch/peer_xgboost.py "$SPAM" "$D/in_1000000.csv" "$work/py.csv" e2e 2 >"$work/py.txt" 2>"$work/py.time"
cat "$work/py.txt"
echo "python_peak_rss_mb=$(($(rss "$work/py.time") / 1024)) (whole script, training included) (load $(cut -d' ' -f1 /proc/loadavg))"
echo "flywheel_e2e_s=$best flywheel_e2e_cpu_s=$best_cpu (whole process: start, model load, read, score, write, fsync)"
awk -v f="$best" -v p="$(val python_e2e_s "$work/py.txt")" -v fc="$best_cpu" -v pc="$(val python_e2e_cpu_s "$work/py.txt")" \
    'BEGIN { printf "ratio end_to_end python/flywheel wall=%.2f cpu=%.2f (target >= 3)\n", p / f, pc / fc }'

echo "== scoring, 1M rows in memory, 2 threads"
"$D/bench_score" "$work/model/spam.fwm" "$D/in_1000000.csv" 2 | tee "$work/score.txt"
awk -v f="$(val flywheel_predict_s "$work/score.txt")" -v x="$(val xgboost_predict_s "$work/py.txt")" \
    -v xi="$(val xgboost_inplace_predict_s "$work/py.txt")" -v fc="$(val flywheel_predict_cpu_s "$work/score.txt")" \
    -v xc="$(val xgboost_predict_cpu_s "$work/py.txt")" -v xic="$(val xgboost_inplace_predict_cpu_s "$work/py.txt")" \
    'BEGIN { printf "ratio scoring throughput flywheel/xgboost_predict wall=%.2f cpu=%.2f; flywheel/xgboost_inplace_predict wall=%.2f cpu=%.2f (target >= 1.5)\n", x / f, xc / fc, xi / f, xic / fc }'
m1=$(rss "$work/fw_100000.time"); m2=$(rss "$work/fw_1000000.time")
awk -v a="$m1" -v b="$m2" 'BEGIN { printf "ratio peak_rss 1M/100k=%.2f (flat: ~1)\n", b / a }'
[ -f "$work/fw_10000000.time" ] && awk -v a="$m2" -v b="$(rss "$work/fw_10000000.time")" 'BEGIN { printf "ratio peak_rss 10M/1M=%.2f\n", b / a }'
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
