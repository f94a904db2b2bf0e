#!/usr/bin/env bash
# many_models.sh — serving many models (not a test; ~2 minutes): one small artifact (pima, linear)
# imported under 1,000 names in a temporary registry, each promoted to production; prints the time
# `flywheel serve` takes to load them all at start, its resident memory then, the cold load of one
# (unload + load through the admin API), and the resident memory after one prediction to each of
# 100 of them (their monitors built: monitoring is on by default). bench/serve/run.sh runs it last.
# Usage: flock /tmp/fw-bench.lock bash bench/serve/many_models.sh   (env FLYWHEEL_BIN, PORT)
set -u
cd "$(dirname "$0")/../.."
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
PORT=${PORT:-18200}
tmp=$(mktemp -d); mp=
cleanup() { [[ -n $mp ]] && kill "$mp" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
HM=$tmp/many
echo "many models: date $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  binary: $("$BIN" --version 2>/dev/null | head -1)"
"$BIN" train examples/pima/flywheel.yaml --models linear --threads 1 --home "$HM" --quiet --out "$tmp/small" >/dev/null
fwm=$(ls "$tmp"/small/*.fwm | head -1)
for m in $(seq 1 1000); do
  "$BIN" models import "$fwm" --name "m$m" --home "$HM" >/dev/null && "$BIN" models promote "m$m@1" --force --home "$HM" >/dev/null
done
t0=$(date +%s.%N)
"$BIN" serve --port "$PORT" --threads 2 --home "$HM" --admin-token b >"$tmp/many.out" 2>&1 & mp=$!
# the bound address is printed once every production model is loaded
for _ in $(seq 1 1200); do grep -q listening "$tmp/many.out" && break; sleep 0.05; done
t1=$(date +%s.%N)
cpu0=$(awk '{print ($14 + $15) / 100}' /proc/$mp/stat)
loaded=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^flywheel_models_loaded/{print $2}')
rss=$(awk '/VmRSS/{print $2}' /proc/$mp/status)
curl -s -o /dev/null -XPOST -H 'Authorization: Bearer b' "http://127.0.0.1:$PORT/admin/models/m7:unload"
cold=$(curl -s -XPOST -H 'Authorization: Bearer b' "http://127.0.0.1:$PORT/admin/models/m7:load" | sed -E 's/.*"load_ms":([0-9.e+-]+).*/\1/')
printf '1,000 small registry models: %s loaded at start in %.2f s (server CPU %.2f s), resident %.1f MiB; cold load of one: %s ms\n' \
  "$loaded" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$cpu0" "$(awk -v k="$rss" 'BEGIN{print k/1024}')" "$cold"
row=$(head -2 examples/pima/*.csv | tail -1)
hdr=$(head -1 examples/pima/*.csv)
body=$(python3 -c 'import json,sys
h=sys.argv[1].split(","); r=sys.argv[2].split(",")
def val(v):
    try: return float(v)
    except ValueError: return v or None
print(json.dumps({"instances":[{k:val(v) for k,v in zip(h,r) if k!="diabetes"}]}))' "$hdr" "$row")
for m in $(seq 1 100); do
  curl -s -o /dev/null -XPOST -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$PORT/v1/models/m$m:predict"
done
sleep 1
rss2=$(awk '/VmRSS/{print $2}' /proc/$mp/status)
printf 'after one prediction to each of 100 of them: resident %.1f MiB (+%.1f KiB per used version)\n' \
  "$(awk -v k="$rss2" 'BEGIN{print k/1024}')" "$(awk -v a="$rss" -v b="$rss2" 'BEGIN{print (b-a)/100}')"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
