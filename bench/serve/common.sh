# common.sh — set-up shared by the serve benchmarks (sourced by run.sh, logq.sh, p99ab.sh; run from
# the project root): where the spam data is, the served model, the request bodies and wrk scripts.

SPAM=${SPAM_CSV:-../shared/datasets/spam.csv}
[[ -f $SPAM ]] || SPAM=/work/shared/datasets/spam.csv

# spam_home BIN HOME [SEEDS...]: the REAL model — `flywheel train spam.csv --models gbdt`, 100 trees
# of depth 6, one version per seed (default 1) — registered in HOME, version 1 promoted.
spam_home() {
  local bin=$1 home=$2; shift 2
  for seed in "${@:-1}"; do
    "$bin" train "$SPAM" --label type --models gbdt --param gbdt.n_estimators=100 --param gbdt.max_depth=6 \
        --seed "$seed" --name spam --home "$home" --quiet >/dev/null || { echo "training failed"; return 1; }
  done
  "$bin" models promote spam@1 --force --home "$home" >/dev/null
}

# spam_bodies DIR: DIR/v1.json (one spam row as v1 instances), DIR/v2.json (the same row as a v2
# [1, n] tensor), DIR/v2n.json (as one v2 tensor per feature, KServe's usual form) and DIR/v1.lua,
# DIR/v2.lua, DIR/v2n.lua (wrk scripts that POST them).
spam_bodies() {
  /usr/bin/python3 - "$SPAM" "$1" <<'PY'
import csv, json, sys
spam, out = sys.argv[1], sys.argv[2]
rows = list(csv.reader(open(spam)))
header = rows[0]; label = header.index("type") if "type" in header else len(header) - 1
feats = [h for i, h in enumerate(header) if i != label]
row = {h: float(v) for i, (h, v) in enumerate(zip(header, rows[1])) if i != label}
json.dump({"instances": [row]}, open(f"{out}/v1.json", "w"))
json.dump({"inputs": [{"name": "input", "shape": [1, len(feats)], "datatype": "FP64", "data": [row[f] for f in feats]}]},
          open(f"{out}/v2.json", "w"))
json.dump({"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [row[f]]} for f in feats]},
          open(f"{out}/v2n.json", "w"))
PY
  local v
  for v in v1 v2 v2n; do
    printf 'wrk.method="POST"\nwrk.headers["Content-Type"]="application/json"\nlocal f=io.open("%s","r")\nwrk.body=f:read("*a")\nf:close()\n' \
      "$1/$v.json" > "$1/$v.lua"
  done
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
