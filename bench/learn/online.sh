#!/usr/bin/env bash
# online.sh [BUILD_DIR] — one online pass of logistic regression: flywheel's FTRL-proximal learner
# (the linear family's online solver, which `learn.online` in the server uses) against
# scikit-learn's SGDClassifier(loss="log_loss").partial_fit — the peer this machine can run —
# on the same rows: Fwumious Wabbit's "eat-rate" data (bench/learn/online_bench.c; N rows,
# default 1,000,000; 3 one-hot features a row). Vowpal Wabbit is not packaged in Debian 12: its
# published figure on that data (outbrain/fwumious_wabbit benchmark/README.md at 277b513: 10M rows,
# `vw` training from its cache in 65.98 s wall at 152.4% CPU on a 2.9 GHz 4-core Mac, AdaGrad) is
# printed beside ours: 10,000,000 / (65.98 x 1.524) = 99,449 examples per CPU-second.
# CPU time of the learning thread (flywheel) and of the partial_fit call (sklearn), 3 pairs
# alternating sides, medians and the ratio; the load average is printed with the figures.
# CPU-heavy: run under `flock /tmp/fw-bench.lock bench/learn/online.sh`; FORCE=1 on a busy machine.
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
bench_wait_quiet
B=${1:-build-bench}
N=${N:-1000000}
make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
mkdir -p "$B/bench"
gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc -o "$B/bench/online_bench" \
    bench/learn/online_bench.c "$B/libflywheel.a" -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson \
    -lmicrohttpd -lpthread -lm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/peer.py" <<'EOF'
import sys, time, numpy as np, scipy.sparse as sp
from sklearn.linear_model import SGDClassifier
r = np.fromfile(sys.argv[1], dtype=np.int32).reshape(-1, 3)
n = r.shape[0]
cols = np.stack([r[:, 0], 1000 + r[:, 1], 2000 + r[:, 0] * 1000 + r[:, 1]], axis=1).ravel()
X = sp.csr_matrix((np.ones(3 * n), cols, np.arange(0, 3 * n + 1, 3)), shape=(n, 1002000))
y = r[:, 2]
m = SGDClassifier(loss="log_loss", alpha=1e-6, learning_rate="optimal")
t0 = time.thread_time()
m.partial_fit(X, y, classes=np.array([0, 1]))
t1 = time.thread_time()
k = min(n, 100000)
p = np.clip(m.predict_proba(X[:k])[:, 1], 1e-15, 1 - 1e-15)
ll = -np.mean(np.where(y[:k] == 1, np.log(p), np.log(1 - p)))
print("sklearn_cpu_s=%.4f" % (t1 - t0))
print("sklearn_examples_per_cpu_s=%.0f" % (n / (t1 - t0)))
print("sklearn_log_loss=%.4f" % ll)
EOF
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3; do
    if [ $((i % 2)) = 1 ]; then
        "$B/bench/online_bench" "$N" "$work/rows.bin" >"$work/fw$i.txt"
        /usr/bin/python3 "$work/peer.py" "$work/rows.bin" >"$work/sk$i.txt"
    else
        /usr/bin/python3 "$work/peer.py" "$work/rows.bin" >"$work/sk$i.txt"
        "$B/bench/online_bench" "$N" "$work/rows.bin" >"$work/fw$i.txt"
    fi
done
med() { for i in 1 2 3; do sed -n "s/^$2=//p" "$work/$1$i.txt"; done | bench_median; }
fw1=$(med fw flywheel_batch1_examples_per_cpu_s)
fw32=$(med fw flywheel_batch32_examples_per_cpu_s)
sk=$(med sk sklearn_examples_per_cpu_s)
echo "rows=$N (3 non-zeros each), one pass, CPU time of the learning thread, median of 3"
echo "flywheel_ftrl_batch1_examples_per_cpu_s=$fw1 log_loss=$(sed -n 's/^flywheel_batch1_log_loss=//p' "$work/fw1.txt")"
echo "flywheel_ftrl_batch32_examples_per_cpu_s=$fw32 log_loss=$(sed -n 's/^flywheel_batch32_log_loss=//p' "$work/fw1.txt")"
echo "sklearn_sgd_partial_fit_examples_per_cpu_s=$sk log_loss=$(sed -n 's/^sklearn_log_loss=//p' "$work/sk1.txt")"
echo "vw_published_examples_per_cpu_s=99449 (fwumious_wabbit benchmark/README.md, other machine)"
awk -v a="$fw1" -v b="$fw32" -v s="$sk" 'BEGIN{
    printf "ratio flywheel_batch1/sklearn=%.2f flywheel_batch32/sklearn=%.2f\n", a / s, b / s;
    printf "ratio flywheel_batch1/vw_published=%.2f flywheel_batch32/vw_published=%.2f\n", a / 99449, b / 99449 }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
