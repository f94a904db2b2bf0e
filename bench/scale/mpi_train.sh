#!/usr/bin/env bash
# mpi_train.sh — Flywheel's MPI training (np = 2, build-mpi/flywheel under mpirun, 1 thread a rank)
# against XGBoost's own distributed training (xgboost.dask, LocalCluster of 2 worker processes x 1
# thread: peer_xgb_dask.py) on the same CSV files: the synthetic benchmark set of bench/train
# (peers.py synth: N x DIM binary, default 800,000 x 50, test N/4), ROUNDS trees (100) of depth 6,
# eta 0.3, no early stopping, on both sides.
#   1. np = 1 and every np = 2 run write their artifact: all must be byte-identical (else exit 1).
#   2. PAIRS (3) alternating pairs, the side that goes first alternating; per pair the wall time of
#      the whole command (flywheel: load, prepare, fit, evaluate, report; XGBoost: read_csv +
#      DaskDMatrix + train + test AUC, cluster start-up excluded) and of the fit alone (flywheel's
#      FLYWHEEL_TIMINGS fit phase; xgb.dask.train), the ratios flywheel / XGBoost, and their medians;
#      also flywheel's load phase (np = 2: each rank parses its half of the CSV, then the exchange).
# The load average goes with every figure; refuses a busy machine (load >= 0.5) unless FORCE=1.
# Small data for a try: N=20000 DIM=10 FORCE=1 bench/scale/mpi_train.sh
# The quiet run: flock /tmp/fw-bench.lock bench/scale/mpi_train.sh
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
N=${N:-800000}
DIM=${DIM:-50}
ROUNDS=${ROUNDS:-100}
PAIRS=${PAIRS:-3}
PY=/usr/bin/python3
make -s -j2 mpi >/dev/null
FW=$PWD/build-mpi/flywheel
[ -x "$FW" ] || { echo "mpi_train.sh: $FW missing (apt-get install openmpi-bin libopenmpi-dev; make mpi)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PY bench/train/peers.py synth "$work" "$N" "$DIM"
bench_wait_quiet
now() { date +%s.%N; }
fw_run() { # fw_run NP TAG: prints "wall fit load" (load: rank 0's load phase, wall)
    local np=$1 tag=$2 t0 t1
    t0=$(now)
    FLYWHEEL_TIMINGS=1 mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -np "$np" \
        "$FW" train "$work/train.csv" --label y --test "$work/test.csv" --models gbdt --seed 42 \
        --threads 1 --quiet --no-register --home "$work/home-$tag" --out "$work/out-$tag" \
        --param gbdt.n_estimators="$ROUNDS" --param gbdt.max_depth=6 --param gbdt.learning_rate=0.3 \
        --param gbdt.early_stopping_rounds=0 >"$work/$tag.out" 2>"$work/$tag.err" || {
        echo "flywheel np=$np failed:" >&2; tail -5 "$work/$tag.err" >&2; exit 1; }
    t1=$(now)
    local fit load
    fit=$(grep -m1 'flywheel timings' "$work/$tag.err" | sed -n 's/.* fit=\([0-9.]*\)\/.*/\1/p')
    load=$(grep -m1 'flywheel timings' "$work/$tag.err" | sed -n 's/.* load=\([0-9.]*\)\/.*/\1/p')
    awk -v a="$t0" -v b="$t1" -v f="$fit" -v l="$load" 'BEGIN{printf "%.3f %s %s\n", b - a, f, l}'
}
xgb_run() { # prints "total fit auc"
    $PY bench/scale/peer_xgb_dask.py "$work/train.csv" "$work/test.csv" y "$ROUNDS" >"$work/xgb.out" 2>"$work/xgb.err" || {
        echo "xgboost.dask failed:" >&2; grep -v '^INFO' "$work/xgb.err" | tail -5 >&2; exit 1; }
    local v
    v() { sed -n "s/^$1=//p" "$work/xgb.out"; }
    echo "$(v total_s) $(v fit_s) $(v test_auc)"
}

echo "== ${N} x ${DIM}, ${ROUNDS} trees, load average $(bench_load1)"
read -r w1 f1 l1 < <(fw_run 1 np1)
echo "flywheel np=1: wall ${w1}s fit ${f1}s load-phase ${l1}s (load $(bench_load1))"
identical=1
ratios_w=() ratios_f=()
for i in $(seq 1 "$PAIRS"); do
    if ((i % 2)); then
        read -r fw fwf fwl < <(fw_run 2 "np2-$i")
        read -r xw xf xauc < <(xgb_run)
    else
        read -r xw xf xauc < <(xgb_run)
        read -r fw fwf fwl < <(fw_run 2 "np2-$i")
    fi
    cmp -s "$work/out-np1/train.fwm" "$work/out-np2-$i/train.fwm" || identical=0
    rw=$(awk -v a="$fw" -v b="$xw" 'BEGIN{printf "%.3f", a / b}')
    rf=$(awk -v a="$fwf" -v b="$xf" 'BEGIN{printf "%.3f", a / b}')
    ratios_w+=("$rw")
    ratios_f+=("$rf")
    echo "pair $i: flywheel np=2 wall ${fw}s fit ${fwf}s load-phase ${fwl}s (each rank parses half the CSV) | xgboost.dask total ${xw}s fit ${xf}s auc ${xauc}" \
         "| ratio wall ${rw} fit ${rf} (load $(bench_load1))"
done
echo "flywheel test AUC (np=2): $($PY -c 'import json, sys; r = json.load(open(sys.argv[1]))
print(next(m["metrics"]["roc_auc"] for m in r["models"] if m["name"] == "gbdt"))' "$work/out-np2-1/report.json")"
echo "median ratio flywheel/xgboost.dask: whole command $(printf '%s\n' "${ratios_w[@]}" | bench_median)," \
     "fit $(printf '%s\n' "${ratios_f[@]}" | bench_median) (target <= 1.0)"
if ((identical)); then echo "np=1 and np=2 artifacts: byte-identical"; else echo "np=1 and np=2 artifacts DIFFER"; fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
((identical))
