#!/usr/bin/env bash
# run.sh — the serving benchmark (not a test; takes ~2 minutes on 2 cores). Prints ratios:
#   throughput at 64 connections vs a FastAPI + uvicorn peer (goal >= 10x) and vs nginx serving a
#   static 200 with a body of the same size (goal >= 0.6); p99 at 16 connections vs nginx (goal
#   <= 2x); /v2 infer vs /v1 predict (goal within 10%); p99 and failures during alias swaps under
#   load; resident memory with 1,000 small models loaded and the cold-load time of one.
# Usage: bench/serve/run.sh [seconds-per-run]     env FLYWHEEL_BIN (default build/flywheel)
# Needs: wrk, nginx, python3-fastapi, python3-uvicorn, python3-xgboost (Debian), ../shared spam.csv.
# NOTE: until the artifact bundle path is wired into the server, flywheel serves a linear model over
# spam's 57 features from a --models-dir; the peer serves a 100-tree XGBoost model.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-5}
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
SPAM=${SPAM_CSV:-../shared/datasets/spam.csv}
[[ -f $SPAM ]] || SPAM=/work/shared/datasets/spam.csv
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
FW=18190; PEER=18191; NGX=18192

# --- models and request bodies ---
/usr/bin/python3 - "$SPAM" "$tmp" <<'PY'
import csv, json, os, sys
spam, tmp = sys.argv[1], sys.argv[2]
rows = list(csv.reader(open(spam)))
header = rows[0]; label = header.index("class") if "class" in header else len(header) - 1
feats = [h for i, h in enumerate(header) if i != label]
row = {h: float(v) for i, (h, v) in enumerate(zip(header, rows[1])) if i != label}
os.makedirs(f"{tmp}/models/spam")
for v in ("1", "2"):
    json.dump({"task": "binary", "inputs": feats, "weights": [0.01 * ((i % 7) - 3) for i in range(len(feats))],
               "bias": 0.1 if v == "1" else -0.1, "classes": ["ham", "spam"]}, open(f"{tmp}/models/spam/{v}.json", "w"))
json.dump({"production": "1"}, open(f"{tmp}/models/spam/aliases.json", "w"))
json.dump({"instances": [row]}, open(f"{tmp}/v1.json", "w"))
json.dump({"inputs": [{"name": "input", "shape": [1, len(feats)], "datatype": "FP64", "data": [row[f] for f in feats]}]},
          open(f"{tmp}/v2.json", "w"))
os.makedirs(f"{tmp}/many")
for m in range(1000):
    d = f"{tmp}/many/m{m}"; os.makedirs(d)
    json.dump({"task": "binary", "inputs": feats[:10], "weights": [0.1] * 10, "bias": m / 1000}, open(f"{d}/1.json", "w"))
    json.dump({"production": "1"}, open(f"{d}/aliases.json", "w"))
PY
lua() { printf 'wrk.method="POST"\nwrk.headers["Content-Type"]="application/json"\nlocal f=io.open("%s","r")\nwrk.body=f:read("*a")\nf:close()\n' "$1" > "$2"; }
lua "$tmp/v1.json" "$tmp/v1.lua"; lua "$tmp/v2.json" "$tmp/v2.lua"

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# wrk_run PORT PATH CONNS [LUA] -> "req/s p99_us non2xx"
wrk_run() {
  local out; out=$(wrk -t2 -c"$3" -d"${secs}s" --latency ${4:+-s "$4"} "http://127.0.0.1:$1$2")
  awk '/Requests\/sec/{r=$2} / 99%/{p=$2} /Non-2xx/{e=$5} END{
        u=p; if (p ~ /us$/) {sub(/us/,"",u)} else if (p ~ /ms$/) {sub(/ms/,"",u); u*=1000} else if (p ~ /s$/) {sub(/s/,"",u); u*=1e6}
        printf "%s %.0f %d\n", r, u, e+0}' <<<"$out"
}

"$BIN" serve --port $FW --threads 2 --models-dir "$tmp/models" --log "$tmp/pred.jsonl" --admin-token b >/dev/null 2>"$tmp/fw.err" & pids+=($!)
wait_port $FW || { echo "flywheel did not start: $(cat "$tmp/fw.err")"; exit 1; }
resp=$(curl -s -XPOST --data-binary @"$tmp/v1.json" "http://127.0.0.1:$FW/v1/models/spam:predict")
mkdir -p "$tmp/www"; printf '%s' "$resp" > "$tmp/www/p"
cat > "$tmp/nginx.conf" <<NG
worker_processes 2; daemon off; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000;
  server { listen 127.0.0.1:$NGX; location / { root $tmp/www; try_files /p =404; default_type application/json; } } }
NG
nginx -c "$tmp/nginx.conf" -p "$tmp" & pids+=($!)
have_peer=1
/usr/bin/python3 bench/serve/peer_fastapi.py "$SPAM" $PEER 2>"$tmp/peer.err" & pids+=($!)
wait_port $NGX || echo "nginx did not start"
wait_port $PEER || { have_peer=0; echo "peer did not start (need python3-fastapi python3-uvicorn python3-xgboost): $(tail -1 "$tmp/peer.err")"; }

echo "response body: ${#resp} bytes; $secs s per run; $(nproc) cores shared by server and wrk"
read -r f64 f64p f64e < <(wrk_run $FW /v1/models/spam:predict 64 "$tmp/v1.lua")
read -r n64 n64p _ < <(wrk_run $NGX / 64)
read -r f16 f16p f16e < <(wrk_run $FW /v1/models/spam:predict 16 "$tmp/v1.lua")
read -r n16 n16p _ < <(wrk_run $NGX / 16)
read -r v2r v2p v2e < <(wrk_run $FW /v2/models/spam/infer 64 "$tmp/v2.lua")
printf 'flywheel /v1 predict  c=64: %10.0f req/s  p99 %6d us  non-2xx %d\n' "$f64" "$f64p" "$f64e"
printf 'flywheel /v2 infer    c=64: %10.0f req/s  p99 %6d us  non-2xx %d\n' "$v2r" "$v2p" "$v2e"
printf 'nginx static          c=64: %10.0f req/s  p99 %6d us\n' "$n64" "$n64p"
printf 'flywheel /v1 predict  c=16: %10.0f req/s  p99 %6d us\n' "$f16" "$f16p"
printf 'nginx static          c=16: %10.0f req/s  p99 %6d us\n' "$n16" "$n16p"
if ((have_peer)); then
  read -r p64 p64p p64e < <(wrk_run $PEER /v1/models/spam:predict 64 "$tmp/v1.lua")
  printf 'fastapi+xgboost peer  c=64: %10.0f req/s  p99 %6d us  non-2xx %d\n' "$p64" "$p64p" "$p64e"
  awk -v a="$f64" -v b="$p64" 'BEGIN{printf "RATIO throughput flywheel/fastapi (c=64): %.1fx   (goal >= 10x)\n", a/b}'
fi
awk -v a="$f64" -v b="$n64" 'BEGIN{printf "RATIO throughput flywheel/nginx (c=64):   %.2f    (goal >= 0.60)\n", a/b}'
awk -v a="$f16p" -v b="$n16p" 'BEGIN{printf "RATIO p99 flywheel/nginx (c=16):          %.2f    (goal <= 2)\n", a/b}'
awk -v a="$v2r" -v b="$f64" 'BEGIN{printf "RATIO /v2 infer vs /v1 predict:           %.2f    (goal within 10%%)\n", a/b}'

# --- alias swaps under load: p99 and failures while production flips every 0.25 s ---
( for i in $(seq 1 $((secs * 4))); do v=$(( (i % 2) + 1 ))
    curl -s -o /dev/null -XPUT -H 'Authorization: Bearer b' -d "{\"version\":\"$v\"}" "http://127.0.0.1:$FW/admin/models/spam/aliases/production"
    sleep 0.25; done ) & swp=$!
read -r sr sp se < <(wrk_run $FW /v1/models/spam:predict 16 "$tmp/v1.lua")
wait $swp
swaps=$(curl -s "http://127.0.0.1:$FW/metrics" | awk '/^flywheel_model_swaps_total/{print $2}')
printf 'during %s swaps      c=16: %10.0f req/s  p99 %6d us  non-2xx %d\n' "$swaps" "$sr" "$sp" "$se"
awk -v a="$sp" -v b="$f16p" 'BEGIN{printf "RATIO p99 during swaps / steady (c=16):   %.2f    (goal <= 2, zero non-2xx)\n", a/b}'

# --- 1,000 small models: resident memory and one cold load ---
"$BIN" serve --port $((FW + 10)) --threads 2 --models-dir "$tmp/many" --admin-token b >/dev/null 2>&1 & mp=$!; pids+=($mp)
wait_port $((FW + 10))
loaded=$(curl -s "http://127.0.0.1:$((FW + 10))/metrics" | awk '/^flywheel_models_loaded/{print $2}')
rss=$(awk '/VmRSS/{print $2}' /proc/$mp/status)
curl -s -o /dev/null -XPOST -H 'Authorization: Bearer b' "http://127.0.0.1:$((FW + 10))/admin/models/m7:unload"
cold=$(curl -s -XPOST -H 'Authorization: Bearer b' "http://127.0.0.1:$((FW + 10))/admin/models/m7:load" | sed -E 's/.*"load_ms":([0-9.e+-]+).*/\1/')
printf '1,000 small models: %s loaded, resident %.1f MiB; cold load of one: %s ms\n' "$loaded" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" "$cold"
