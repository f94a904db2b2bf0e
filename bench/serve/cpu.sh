#!/usr/bin/env bash
# cpu.sh — the server's CPU time per request for each request shape: /v1 predict, /v2 infer with
# one row tensor, /v2 infer with one tensor per feature. CPU per request (utime + stime of the
# server over a run / requests answered) barely moves with other jobs on the machine, where req/s
# moves by up to 2x; rounds alternate the three shapes on one server.
# Usage: flock /tmp/fw-bench.lock bash bench/serve/cpu.sh [rounds] [extra serve flags, e.g. --log /dev/null]
#        env FLYWHEEL_BIN (default build/flywheel), SPAM_CSV
# The server's idle-priority log ingest is counted in the round where it runs; 0.3 s after each run
# lets most of it land there.
set -u
cd "$(dirname "$0")/../.."
rounds=${1:-3}; shift || true
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
tmp=$(mktemp -d); pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
PORT=18300
spam_home "$BIN" "$tmp/home" || exit 1
spam_bodies "$tmp"
"$BIN" serve --port $PORT --threads 2 --home "$tmp/home" --alias-poll 0 "$@" >/dev/null 2>"$tmp/err" & pid=$!
wait_port $PORT || { echo "flywheel did not start: $(cat "$tmp/err")"; exit 1; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  bodies: v1 $(wc -c <"$tmp/v1.json") B, v2 row $(wc -c <"$tmp/v2.json") B, v2 per-feature $(wc -c <"$tmp/v2n.json") B"
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
for r in $(seq 1 "$rounds"); do
  line="round $r:"
  for b in v1:/v1/models/spam:predict v2:/v2/models/spam/infer v2n:/v2/models/spam/infer; do
    name=${b%%:*} route=${b#*:}
    c0=$(cpu)
    n=$(wrk -t2 -c64 -d3s -s "$tmp/$name.lua" "http://127.0.0.1:$PORT$route" | awk '/requests in/{print $1}')
    sleep 0.3
    c1=$(cpu)
    line="$line  $name $(awk -v c=$((c1 - c0)) -v t="$tick" -v n="$n" 'BEGIN{printf "%.1f us/req", c / t * 1e6 / n}')"
  done
  echo "$line"
done
