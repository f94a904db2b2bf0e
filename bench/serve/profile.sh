#!/usr/bin/env bash
# profile.sh — where the /v1 predict path spends its time: serves the spam GBDT (100 trees, depth 6,
# registry home, store log on — as run.sh) under wrk c=64 and records `perf record -g` of the server.
# Usage: flock /tmp/fw-bench.lock bash bench/serve/profile.sh [seconds] [extra serve flags...]
#        env FLYWHEEL_BIN (default build/flywheel), SPAM_CSV, KEEP=dir (keeps perf.data there),
#        BODY=v1|v2|v2n (default v1: /v1 predict; v2: /v2 infer, row tensor; v2n: one tensor per feature)
# Prints wrk's figures and the top symbols (perf report --no-children --sort dso,symbol).
set -u
cd "$(dirname "$0")/../.."
secs=${1:-6}; shift || true
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
tmp=$(mktemp -d); pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; [[ -n ${KEEP:-} ]] || rm -rf "$tmp"; }
trap cleanup EXIT
H=$tmp/home; PORT=18290
spam_home "$BIN" "$H" || exit 1
spam_bodies "$tmp"
"$BIN" serve --port $PORT --threads 2 --home "$H" --alias-poll 0 "$@" >/dev/null 2>"$tmp/err" & pid=$!
wait_port $PORT
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
body=${BODY:-v1}; route=/v2/models/spam/infer
[[ $body == v1 ]] && route=/v1/models/spam:predict
wrk -t2 -c64 -d1s -s "$tmp/$body.lua" "http://127.0.0.1:$PORT$route" >/dev/null
perf record -q -g -o "$tmp/perf.data" -p "$pid" -- sleep "$secs" 2>/dev/null &
prec=$!
wrk -t2 -c64 -d"${secs}s" --latency -s "$tmp/$body.lua" "http://127.0.0.1:$PORT$route" | grep -E "Requests/sec|99%|Non-2xx"
wait $prec
perf report -i "$tmp/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -45
[[ -n ${KEEP:-} ]] && echo "perf data kept in $tmp/perf.data"
