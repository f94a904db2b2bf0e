#!/usr/bin/env bash
# quickstart.sh — the main job on the embedded default (SQLite), from a fresh Debian 12 machine:
# installs the Debian packages, builds, describes the example data, trains the example project
# (baseline + candidates, report, registers the winner), promotes it, scores the file in batch into
# CSV and into the store, starts the server, asks it for predictions with curl (one online, one
# answered from the batch table), sends feedback, shows /metrics lines, and stops the server.
# Everything lives under a fresh home (default: .flywheel-quickstart, or $FLYWHEEL_HOME).
# Exit status: 0 when every step worked; the first failing step stops the script with its message.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "install Debian packages (skips what is present)"
scripts/install-deps.sh
for tool in curl; do
    command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done

step "build"
make -j"$(nproc)" >/dev/null
FW=$PWD/build/flywheel
"$FW" --version

export FLYWHEEL_HOME=${FLYWHEEL_HOME:-$PWD/.flywheel-quickstart}
rm -rf "$FLYWHEEL_HOME"
OUT=$FLYWHEEL_HOME/out
mkdir -p "$OUT"

step "describe the example data"
"$FW" describe examples/pima/pima.csv --label diabetes

step "train the example project (examples/pima/flywheel.yaml)"
"$FW" train examples/pima/flywheel.yaml --html "$OUT/pima-report.html"
echo "(HTML report: $OUT/pima-report.html)"

step "the registry"
"$FW" models list
"$FW" models promote pima@1
"$FW" models show pima@production | head -n 25

step "batch: score the file to CSV and into the store (hybrid serving reads the store)"
awk 'BEGIN{FS=OFS=","} NR==1{print "patient_id",$0; next} {print "p" NR-1,$0}' \
    examples/pima/pima.csv >"$OUT/patients.csv"
"$FW" batch --model pima@production --input "$OUT/patients.csv" --id patient_id \
    --output "$OUT/scores.csv" --quiet
head -n 4 "$OUT/scores.csv"
"$FW" batch --model pima@production --input "$OUT/patients.csv" --id patient_id --output store --quiet
"$FW" batch history | head -n 4

step "serve online (entity_id requests are answered from the batch table when it is fresh)"
PORT=${PORT:-8080}
"$FW" serve --port "$PORT" --batch-max-age 86400 >"$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/v2/health/ready" >/dev/null 2>&1 && break
    sleep 0.1
done
set -x
curl -s --fail-with-body "http://127.0.0.1:$PORT/v1/models/pima:predict" -H 'Content-Type: application/json' \
    -d '{"instances": [{"pregnant": 6, "glucose": 148, "pressure": 72, "triceps": 35, "mass": 33.6, "pedigree": 0.627, "age": 50}]}'
echo
curl -s --fail-with-body "http://127.0.0.1:$PORT/v1/models/pima:predict" -H 'Content-Type: application/json' \
    -d '{"entity_id": "p1", "instances": [{"pregnant": 6, "glucose": 148, "mass": 33.6, "age": 50}]}'
echo
{ set +x; } 2>/dev/null
RID=$(curl -s "http://127.0.0.1:$PORT/v1/models/pima:predict" -H 'Content-Type: application/json' -d '{"instances": [{"glucose": 90, "age": 25}]}' |
      sed -n 's/.*"request_id": *"\([^"]*\)".*/\1/p')
set -x
curl -s --fail-with-body "http://127.0.0.1:$PORT/v1/feedback" -H 'Content-Type: application/json' -d "{\"request_id\": \"$RID\", \"label\": \"neg\"}"
echo
{ set +x; } 2>/dev/null
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^flywheel_(requests|predictions|models_loaded)' | head -n 8 || true

step "stop the server (SIGTERM drains requests and flushes the prediction log)"
kill -TERM "$SERVER"
wait "$SERVER" || true
trap - EXIT
echo "done: home $FLYWHEEL_HOME (flywheel.db: the registry; log.db: predictions and feedback; artifacts/, out/)"
