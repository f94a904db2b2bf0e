#!/usr/bin/env bash
# batch_workers.sh — `flywheel batch` with 2 workers (--partition 0/2 and 1/2 run at the same time,
# 1 scorer thread each, then `batch merge`) against 1 worker (1 scorer thread) on the same input:
# the synthetic set of bench/train (peers.py synth: N rows x DIM, default 1,000,000 x 50; a gbdt of
# 100 trees trained on its N/4-row test file scores the N-row train file). PAIRS (3) alternating
# pairs; per pair the wall time of each side (2 workers: launch to merged file), the speed-up
# 1-worker / 2-workers and the CPU seconds of each side; the median speed-up (target >= 1.8). Also
# checks the merged output is byte-identical to the 1-worker output. Per pair it also prints where
# each process's time went (FLYWHEEL_BATCH_LOG=1: model load, open — of which worker 1's count of
# partition 0's lines —, scoring, finish, commit; the merge's copy and fsync), wall ms with CPU ms.
# Waits (up to 10 min) for load < 0.5, else refuses, unless FORCE=1.
# Small try: N=20000 DIM=10 FORCE=1 bench/scale/batch_workers.sh
# The quiet run: flock /tmp/fw-bench.lock bench/scale/batch_workers.sh
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
N=${N:-1000000}
DIM=${DIM:-50}
PAIRS=${PAIRS:-3}
PY=/usr/bin/python3
make -s -j2 build/flywheel >/dev/null
FW=$PWD/build/flywheel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PY bench/train/peers.py synth "$work" "$N" "$DIM"
"$FW" train "$work/test.csv" --label y --models gbdt --seed 42 --quiet --no-register --home "$work/h" \
    --out "$work/m" --param gbdt.n_estimators=100 --param gbdt.early_stopping_rounds=0 >/dev/null
bench_wait_quiet
now() { date +%s.%N; }
cpu_of() { awk '{print $1 + $2}' "$1"; }
one() {
    rm -f "$work/one.csv"
    local t0 t1
    t0=$(now)
    FLYWHEEL_BATCH_LOG=1 /usr/bin/time -f "%U %S" -o "$work/one.time" "$FW" batch --model "$work/m/test.fwm" --input "$work/train.csv" \
        --output "$work/one.csv" --threads 1 --quiet --timestamp 1700000000000 --home "$work/h" 2>"$work/one.log"
    t1=$(now)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}') $(cpu_of "$work/one.time")"
}
two() {
    rm -f "$work"/two.csv*
    local t0 t1 i
    t0=$(now)
    for i in 0 1; do
        FLYWHEEL_BATCH_LOG=1 /usr/bin/time -f "%U %S" -o "$work/two$i.time" "$FW" batch --model "$work/m/test.fwm" --input "$work/train.csv" \
            --output "$work/two.csv" --partition "$i/2" --threads 1 --quiet --timestamp 1700000000000 --home "$work/h" \
            2>"$work/two$i.log" &
    done
    wait
    tp=$(now)
    FLYWHEEL_BATCH_LOG=1 "$FW" batch merge --output "$work/two.csv" --partitions 2 2>"$work/merge.log" >/dev/null
    t1=$(now)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}') $(awk '{s += $1 + $2} END {print s}' "$work"/two?.time) $(awk -v a="$t0" -v b="$tp" 'BEGIN{printf "%.3f", b - a}')"
}
# the phase lines of one process, shortened: "load 12.3 | open 40.1 (cpu 35.2; skip 30.0/28.1) | score ..."
phases() {
    sed -n 's/^batch phases: //p' "$1" | sed -E 's/^partition [0-9]+\/[0-9]+: //; s/ of which skip of [0-9]+ earlier lines / skip /;
        s/^commit of [^:]*: rename \+ directory fsync/commit/; s/^merge of [0-9]+ parts: //; s/model load/load/' | paste -sd'|' -
}
echo "== ${N} x ${DIM}, gbdt 100 trees, load average $(bench_load1)"
speedups=()
speedups_p=()
identical=1
for i in $(seq 1 "$PAIRS"); do
    if ((i % 2)); then read -r w1 c1 < <(one); read -r w2 c2 wp < <(two)
    else read -r w2 c2 wp < <(two); read -r w1 c1 < <(one); fi
    cmp -s "$work/one.csv" "$work/two.csv" || identical=0
    s=$(awk -v a="$w1" -v b="$w2" 'BEGIN{printf "%.3f", a / b}')
    sp=$(awk -v a="$w1" -v b="$wp" 'BEGIN{printf "%.3f", a / b}')
    speedups+=("$s")
    speedups_p+=("$sp")
    echo "pair $i: 1 worker ${w1}s (cpu ${c1}s) | 2 workers ${w2}s (cpu ${c2}s; both partitions committed at ${wp}s, the rest is the merge) | speed-up ${s} (to the committed partitions ${sp}) (load $(bench_load1))"
    echo "  ms: 1 worker: $(phases "$work/one.log")"
    echo "  ms: worker 0: $(phases "$work/two0.log")"
    echo "  ms: worker 1: $(phases "$work/two1.log")"
    echo "  ms: merge: $(phases "$work/merge.log")"
done
echo "median speed-up 2 workers / 1 worker: $(printf '%s\n' "${speedups[@]}" | bench_median) (target >= 1.8)"
echo "median speed-up to the committed partitions (before batch merge): $(printf '%s\n' "${speedups_p[@]}" | bench_median)"
if ((identical)); then echo "merged 2-worker output == 1-worker output: byte-identical"; else echo "merged output DIFFERS"; fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
((identical))
