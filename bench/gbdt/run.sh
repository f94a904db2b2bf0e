#!/usr/bin/env bash
# run.sh [BUILD_DIR] [CASES...] — gbdt benchmark: flywheel's gbdt vs XGBoost 1.7 (python3-xgboost,
# tree_method=hist, nthread=2), 100 trees, depth 6, learning rate 0.3, on the same bytes:
# bench_gbdt prep/synth writes {train,test}.bin (fixed 80/20 split, seed 42; categoricals as
# ordinal codes), then each side trains on them under /usr/bin/time -v. Prints train seconds, the
# test metric (binary: AUC, multiclass: accuracy, regression: RMSE), batch predict throughput,
# single-row latency, peak RSS and the ratios flywheel/xgboost; the same in process CPU seconds
# (ratio_cpu: steadier than wall time when other jobs share the two cores). PAIRS=N (default 3)
# alternating pairs per case; the train-time ratios are the median over them.
# Cases: spam diamonds fashion10k fashion synth (default: spam diamonds fashion10k synth).
# CPU-heavy (minutes): run it in the background.
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh   # waits for load < 0.5 or refuses; FORCE=1 runs anyway
bench_wait_quiet
B=${1:-build-bench}
shift || true
CASES=${*:-spam diamonds fashion10k synth}
make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
mkdir -p "$B/bench"
gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc -o "$B/bench/bench_gbdt" \
    bench/gbdt/bench_gbdt.c "$B/libflywheel.a" -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson \
    -lmicrohttpd -lpthread -lm
D=../shared/datasets
[ -d "$D" ] || D=/work/shared/datasets
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
val() { sed -n "s/^$1=\([0-9.eE+-]*\).*/\1/p" "$2" | head -n 1; }
fw_side() { /usr/bin/time -v "$B/bench/bench_gbdt" fit "$work" "$task" ${FW_PARAMS:-} >"$work/fw.txt" 2>"$work/fw.time"; }
xgb_side() { /usr/bin/time -v $PY bench/gbdt/peer_xgboost.py "$work" "$task" >"$work/xgb.txt" 2>"$work/xgb.time"; }
run_case() {
    local name=$1 task=$2 metric=$3
    echo "== $name ($task)"
    # PAIRS pairs (default 3), the side that goes first alternating; the details printed are the
    # last pair's, the train-time ratio is the median over the pairs
    local i ratios=() cratios=() fbusy=() xbusy=()
    for i in $(seq 1 "${PAIRS:-3}"); do
        if ((i % 2)); then fw_side; xgb_side; else xgb_side; fw_side; fi
        ratios+=("$(awk -v a="$(val flywheel_train_s "$work/fw.txt")" -v b="$(val xgboost_train_s "$work/xgb.txt")" 'BEGIN{printf "%.4f", a/b}')")
        cratios+=("$(awk -v a="$(val flywheel_train_cpu_s "$work/fw.txt")" -v b="$(val xgboost_train_cpu_s "$work/xgb.txt")" 'BEGIN{printf "%.4f", a/b}')")
        # cores busy during the fit: train CPU seconds / train wall seconds (of $(nproc) cores)
        fbusy+=("$(awk -v c="$(val flywheel_train_cpu_s "$work/fw.txt")" -v w="$(val flywheel_train_s "$work/fw.txt")" 'BEGIN{printf "%.3f", c/w}')")
        xbusy+=("$(awk -v c="$(val xgboost_train_cpu_s "$work/xgb.txt")" -v w="$(val xgboost_train_s "$work/xgb.txt")" 'BEGIN{printf "%.3f", c/w}')")
        echo "pair $i ($(((i % 2)) && echo flywheel first || echo xgboost first)): flywheel_train_s=$(val flywheel_train_s "$work/fw.txt") xgboost_train_s=$(val xgboost_train_s "$work/xgb.txt") ratio=${ratios[-1]} cpu_ratio=${cratios[-1]} busy fw=${fbusy[-1]} xgb=${xbusy[-1]} load=$(cut -d' ' -f1 /proc/loadavg)"
    done
    echo "median over ${PAIRS:-3} alternating pairs: train_time fw/xgb=$(printf '%s\n' "${ratios[@]}" | bench_median)  train_cpu fw/xgb=$(printf '%s\n' "${cratios[@]}" | bench_median)"
    local fb xb
    fb=$(printf '%s\n' "${fbusy[@]}" | bench_median); xb=$(printf '%s\n' "${xbusy[@]}" | bench_median)
    awk -v f="$fb" -v x="$xb" -v n="$(nproc)" 'BEGIN{printf "cores busy during the fit (train CPU s / train wall s, median): flywheel %.2f of %d (%.0f%%), xgboost %.2f of %d (%.0f%%; its OpenMP threads spin while waiting, which counts as busy)\n", f, n, 100*f/n, x, n, 100*x/n}'
    cat "$work/fw.txt" "$work/xgb.txt"
    local fr xr
    fr=$(rss "$work/fw.time"); xr=$(rss "$work/xgb.time")
    echo "flywheel_peak_rss_mb=$((fr / 1024)) xgboost_peak_rss_mb=$((xr / 1024))"
    # CPU seconds (user + system) of each whole process: a check on wall times on a busy machine
    cpu() { awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$1"; }
    echo "flywheel_process_cpu_s=$(cpu "$work/fw.time") xgboost_process_cpu_s=$(cpu "$work/xgb.time") (load average: $(cut -d' ' -f1 /proc/loadavg))"
    awk -v ft="$(val flywheel_train_s "$work/fw.txt")" -v xt="$(val xgboost_train_s "$work/xgb.txt")" \
        -v fm="$(val flywheel_metric_$metric "$work/fw.txt")" -v xm="$(val xgboost_metric_$metric "$work/xgb.txt")" \
        -v fp="$(val flywheel_predict_rows_per_s "$work/fw.txt")" -v xp="$(val xgboost_predict_rows_per_s "$work/xgb.txt")" \
        -v fr="$fr" -v xr="$xr" -v m="$metric" \
        -v ftc="$(val flywheel_train_cpu_s "$work/fw.txt")" -v xtc="$(val xgboost_train_cpu_s "$work/xgb.txt")" \
        -v fpc="$(val flywheel_predict_rows_per_cpu_s "$work/fw.txt")" -v xpc="$(val xgboost_predict_rows_per_cpu_s "$work/xgb.txt")" \
        -v fp1="$(val flywheel_predict_1thread_rows_per_s "$work/fw.txt")" -v xp1="$(val xgboost_predict_1thread_rows_per_s "$work/xgb.txt")" \
        -v fp1c="$(val flywheel_predict_1thread_rows_per_cpu_s "$work/fw.txt")" -v xp1c="$(val xgboost_predict_1thread_rows_per_cpu_s "$work/xgb.txt")" 'BEGIN{
        printf "ratio train_time fw/xgb=%.3f  %s fw-xgb=%+.5f (rel %+.3f%%)  predict_throughput fw/xgb=%.2f  peak_rss fw/xgb=%.3f\n",
            ft / xt, m, fm - xm, 100 * (fm - xm) / xm, fp / xp, fr / xr
        printf "ratio_cpu train_cpu fw/xgb=%.3f  predict_rows_per_cpu_s fw/xgb=%.2f\n", ftc / xtc, fpc / xpc
        printf "ratio_1thread predict_rows_per_s fw/xgb=%.2f  per_cpu_s fw/xgb=%.2f\n", fp1 / xp1, fp1c / xp1c }'
}
for c in $CASES; do
    case $c in
    spam) "$B/bench/bench_gbdt" prep "$work" "$D/spam.csv" type - binary; run_case spam binary auc ;;
    diamonds) "$B/bench/bench_gbdt" prep "$work" "$D/diamonds.csv" price - regression; run_case diamonds regression rmse ;;
    fashion10k) "$B/bench/bench_gbdt" prep "$work" "$D/fashion_mnist_test.csv.gz" label - multiclass; run_case fashion10k multiclass accuracy ;;
    fashion) "$B/bench/bench_gbdt" prep "$work" "$D/fashion_mnist_train.csv.gz" label "$D/fashion_mnist_test.csv.gz" multiclass; run_case fashion multiclass accuracy ;;
    synth) "$B/bench/bench_gbdt" synth "$work" "${N:-1000000}" "${DIM:-50}"; run_case synth_1M_x_50 binary auc ;;
    *) echo "unknown case $c" >&2 ;;
    esac
done
