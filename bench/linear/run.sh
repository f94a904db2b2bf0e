#!/usr/bin/env bash
# run.sh [BUILD_DIR] — logistic regression, flywheel vs liblinear (`liblinear-train -s 0`), on
# spam.csv (label `type`) and a generated 1,000,000 x 50 binary set. Same split (80/20, fixed
# seed), same standardized features (written in libsvm format for liblinear), same objective
# (C=1: C Σ loss + ½||w||²; liblinear -B 1 also regularizes its bias term, flywheel does not).
# Also Fashion-MNIST's 10,000 test images (784 pixels, 10 classes): flywheel fits a multinomial
# model, liblinear -s 0 one-vs-rest (its only multiclass mode for -s 0), same C.
# Cases: CASES="spam synth fashion10k" (the default).
# Prints flywheel's fit time, liblinear's wall time (which includes reading its text input), an
# estimate of liblinear's parse + setup time (the same run with -e 1e9, which stops after the first
# iteration), accuracies and the ratio. Extra flywheel params: FW_PARAMS="tol=1e-4 threads=2".
# CPU-heavy (a few minutes): run it in the background.
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh   # waits for load < 0.5 or refuses; FORCE=1 runs anyway
bench_wait_quiet
B=${1:-build-bench}
make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
mkdir -p "$B/bench"
gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc -o "$B/bench/bench_linear" \
    bench/linear/bench_linear.c "$B/libflywheel.a" -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson \
    -lmicrohttpd -lpthread -lm
SPAM=${SPAM:-../shared/datasets/spam.csv}
[ -f "$SPAM" ] || SPAM=/work/shared/datasets/spam.csv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
run_case() {
    local name=$1; shift
    echo "== $name"
    "$B/bench/bench_linear" "$@" "$work" ${FW_PARAMS:-} | tee "$work/fw.txt"
    local t0 t1 t2 t3
    t0=$(now); liblinear-train -s 0 -B 1 -c 1 -q "$work/train.svm" "$work/ll.model" >/dev/null; t1=$(now)
    t2=$(now); liblinear-train -s 0 -B 1 -c 1 -e 1e9 -q "$work/train.svm" "$work/ll0.model" >/dev/null; t3=$(now)
    local acc
    acc=$(liblinear-predict "$work/test.svm" "$work/ll.model" "$work/pred.txt" | sed -E 's/Accuracy = ([0-9.]+)%.*/\1/')
    local fw_t fw_a
    fw_t=$(sed -n 's/^flywheel_fit_s=//p' "$work/fw.txt")
    fw_a=$(sed -n 's/^flywheel_accuracy=//p' "$work/fw.txt")
    awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v ft="$fw_t" -v fa="$fw_a" -v la="$acc" 'BEGIN{
        ll = b - a; ll0 = d - c; solver = ll - ll0; if (solver < 0.001) solver = 0.001;
        printf "liblinear_wall_s=%.3f (includes parsing libsvm text)\n", ll;
        printf "liblinear_parse_and_first_iter_s=%.3f  liblinear_solver_estimate_s=%.3f\n", ll0, solver;
        printf "liblinear_accuracy=%.4f flywheel_accuracy=%.4f\n", la / 100, fa;
        printf "ratio flywheel_fit/liblinear_wall=%.3f  flywheel_fit/liblinear_solver_estimate=%.3f\n", ft / ll, ft / solver;
    }'
}
FASHION=${FASHION:-../shared/datasets/fashion_mnist_test.csv.gz}
[ -f "$FASHION" ] || FASHION=/work/shared/datasets/fashion_mnist_test.csv.gz
for c in ${CASES:-spam synth fashion10k}; do
    case $c in
    spam) run_case spam spam "$SPAM" ;;
    synth) run_case synth_1M_x_50 synth "${N:-1000000}" "${D:-50}" ;;
    fashion10k) zcat "$FASHION" >"$work/fashion10k.csv"
        run_case fashion10k_multiclass multiclass "$work/fashion10k.csv" ;;
    *) echo "unknown case $c" >&2 ;;
    esac
done
