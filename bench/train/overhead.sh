#!/usr/bin/env bash
# overhead.sh [BUILD_DIR] — the whole `flywheel train` command with XGBoost's settings against the
# script a user would write instead, on a generated N x D numeric binary CSV (default 500,000 x 50,
# kept in bench/out/):
#   flywheel: train FILE --label y --models gbdt --param gbdt.n_estimators=100 max_depth=6
#             learning_rate=0.3 early_stopping_rounds=0 --threads 2 (split, fit, evaluate,
#             importance, latency, profile, register in a fresh home);
#   peer:     pandas.read_csv + an 80/20 split + XGBoost hist (100 rounds, depth 6, eta 0.3,
#             nthread 2) + test ROC AUC + save_model.
# The sides alternate for PAIRS pairs (default 3); printed: each run's wall and process CPU
# seconds, flywheel's per-step breakdown (FLYWHEEL_TIMINGS=1: wall/CPU of each step), the share of
# the command spent around the fit (everything but load, fit and refit), and the median over the
# pairs of the per-pair ratios flywheel/peer. Targets (issue 13): whole command <= 1.0x the peer,
# the surroundings <= 20% of it. Waits for a load average below 0.5 (bench/quiet.sh; FORCE=1 runs
# anyway). CPU-heavy: nice flock /tmp/fw-bench.lock bash bench/train/overhead.sh build-bench
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
B=${1:-build-bench}
N=${N:-500000}
D=${D:-50}
PAIRS=${PAIRS:-3}
PY=/usr/bin/python3
make -s -j2 BUILD="$B" "$B/flywheel" >/dev/null
mkdir -p bench/out
F=bench/out/overhead_${N}_$D.csv
if [ ! -s "$F" ]; then
    echo "generating $F"
    $PY - "$F" "$N" "$D" <<'PYEOF'
import sys
import numpy as np
import pandas as pd
path, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.RandomState(7)
w = np.where(np.arange(d) < 10, 1.0, 0.1) * rng.normal(size=d)
X = rng.normal(size=(n, d)).astype(np.float32)
s = X.astype(np.float64) @ w + 1.5 * X[:, 0] * X[:, 1] - np.abs(X[:, 2]) + np.sin(3 * X[:, 3]) + rng.normal(size=n)
df = pd.DataFrame(X, columns=["f%d" % j for j in range(d)])
df["y"] = (s > 0).astype(np.int64)
df.to_csv(path, index=False, float_format="%.6g")
PYEOF
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/peer.py" <<'PYEOF'
import sys
import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score
path, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(path)
y = df.pop("y").to_numpy()
perm = np.random.RandomState(42).permutation(len(df))
n_test = len(df) // 5
te, tr = perm[:n_test], perm[n_test:]
X = df.to_numpy(np.float32)
params = {"max_depth": 6, "eta": 0.3, "tree_method": "hist", "nthread": 2, "seed": 42,
          "objective": "binary:logistic"}
bst = xgb.train(params, xgb.DMatrix(X[tr], label=y[tr], nthread=2), 100)
auc = roc_auc_score(y[te], bst.inplace_predict(X[te]))
bst.save_model(out)
print("peer_auc=%.6f" % auc)
PYEOF
echo "file=$F bytes=$(stat -L -c %s "$F") $(nproc) cores, commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ)"
cat "$F" >/dev/null # page cache warm-up for both sides
bench_wait_quiet
tm() { awk '{printf "%s %.2f", $1, $2 + $3}' "$1"; } # "wall cpu" from /usr/bin/time -f '%e %U %S'
run_fw() {
    rm -rf "$work/home"
    FLYWHEEL_TIMINGS=1 /usr/bin/time -o "$work/fw.time" -f '%e %U %S' "$B/flywheel" train "$F" --label y \
        --models gbdt --param gbdt.n_estimators=100 --param gbdt.max_depth=6 \
        --param gbdt.learning_rate=0.3 --param gbdt.early_stopping_rounds=0 --threads 2 \
        --home "$work/home" --quiet --json >"$work/fw.json" 2>"$work/fw.err"
    read -r fw_wall fw_cpu <<<"$(tm "$work/fw.time")"
    local t
    t=$(grep 'flywheel timings' "$work/fw.err")
    echo "flywheel wall_s=$fw_wall cpu_s=$fw_cpu auc=$($PY -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.6f" % [m for m in r["models"] if m["name"] == "gbdt"][0]["metrics"]["roc_auc"])' "$work/fw.json") (load $(bench_load1))"
    echo "  ${t#flywheel }"
    # around the fit: the command's time minus load, fit and refit (wall and CPU)
    echo "$t" | awk -v W="$fw_wall" -v C="$fw_cpu" '{
        for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2 && split(kv[2], wc, "/") == 2) { w[kv[1]] = wc[1]; c[kv[1]] = wc[2] }
        sw = W - w["load"] - w["fit"] - w["refit"]; sc = C - c["load"] - c["fit"] - c["refit"]
        printf "  around the fit: wall %.2f s (%.1f%%), CPU %.2f s (%.1f%%)\n", sw, 100 * sw / W, sc, 100 * sc / C }' |
        tee -a "$work/around.txt"
}
run_peer() {
    /usr/bin/time -o "$work/py.time" -f '%e %U %S' $PY "$work/peer.py" "$F" "$work/xgb.json" >"$work/py.out"
    read -r py_wall py_cpu <<<"$(tm "$work/py.time")"
    echo "peer     wall_s=$py_wall cpu_s=$py_cpu $(cat "$work/py.out") (load $(bench_load1))"
}
for p in $(seq 1 "$PAIRS"); do
    echo "== pair $p"
    if [ $((p % 2)) = 1 ]; then run_fw; run_peer; else run_peer; run_fw; fi
    awk -v a="$fw_wall" -v b="$py_wall" -v c="$fw_cpu" -v d="$py_cpu" \
        'BEGIN{printf "  pair ratio flywheel/peer: wall %.3f  cpu %.3f\n", a / b, c / d}' | tee -a "$work/ratios.txt"
done
wr=$(awk '{print $5}' "$work/ratios.txt" | bench_median)
cr=$(awk '{print $7}' "$work/ratios.txt" | bench_median)
ar=$(sed -n 's/.*(\([0-9.]*\)%), CPU.*/\1/p' "$work/around.txt" | bench_median)
ac=$(sed -n 's/.*CPU .* s (\([0-9.]*\)%).*/\1/p' "$work/around.txt" | bench_median)
echo "median of $PAIRS pairs: flywheel/peer wall $wr (target <= 1.0), CPU $cr; around the fit: wall $ar%, CPU $ac% of the command (target <= 20%)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
