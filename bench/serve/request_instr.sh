#!/usr/bin/env bash
# request_instr.sh — where one /v1 predict request's server CPU goes, counted in instructions
# (valgrind's callgrind; this VM has no hardware counters and instruction counts do not move with
# the machine's load, so it takes no bench lock). The real spam model (GBDT, 100 trees of depth 6,
# 57 inputs), `flywheel serve --threads 2 --alias-poll 0` on a registry home with the store log on
# (spool + ingest into log.db: every prediction logged), as run.sh and cpu_vs_nginx.sh serve it.
# CLIENT=seq (default): one sequential keep-alive client (python http.client) sends N fixed requests
# after WARM warm-up ones — deterministic, but one request per wake-up of every thread. CLIENT=wrk:
# wrk -t2 -c64 for SECS seconds (under valgrind the server runs one thread at a time, so requests
# queue and each wake-up serves several, as on a loaded server); requests counted by the server's
# /metrics. Counters are zeroed before the measured part and dumped after it (callgrind_control),
# the log drained in between, so the ingest of the measured records is counted.
# Prints instructions per request in total and per component (inclusive counts of named functions,
# and the exclusive instructions by shared object), and writes the dump to KEEP (if set).
# Usage: bash bench/serve/request_instr.sh   env N (2000), WARM (500), CLIENT (seq|wrk), SECS (20),
#        FLYWHEEL_BIN (build/flywheel), SPAM_CSV, KEEP=DIR, CONFIG=serve.yaml (extra serve config)
set -u
cd "$(dirname "$0")/../.."
N=${N:-2000}; WARM=${WARM:-500}; CLIENT=${CLIENT:-seq}; SECS=${SECS:-20}
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || { echo "needs valgrind"; exit 2; }
tmp=$(mktemp -d); pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
spam_home "$BIN" "$tmp/home" || exit 1
spam_bodies "$tmp"
cat > "$tmp/client.py" <<'PY'
import http.client, sys
port, n, body = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3]).read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
for i in range(n):
    c.request("POST", "/v1/models/spam:predict", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 200: sys.exit(f"request {i}: HTTP {r.status}")
PY
PORT=${PORT:-18350}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k || index($1, k "{") == 1 {s += $2} END {printf "%.0f", s}'; }
drain() { for _ in $(seq 1 600); do [[ $(metric flywheel_log_spool_records) == 0 ]] && return; sleep 0.2; done; }
valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" --dump-instr=no --compress-strings=no \
    "$BIN" serve --port "$PORT" --threads 2 --home "$tmp/home" --alias-poll 0 ${CONFIG:+--config "$CONFIG"} \
    >/dev/null 2>"$tmp/err" & pid=$!
for _ in $(seq 1 1200); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
/usr/bin/python3 "$tmp/client.py" "$PORT" "$WARM" "$tmp/v1.json" || exit 1
drain; sleep 1
r0=$(metric flywheel_log_stored_total)
callgrind_control -z "$pid" >/dev/null || { echo "callgrind_control -z failed"; exit 1; }
if [[ $CLIENT == wrk ]]; then
    wrk -t2 -c64 -d"${SECS}s" -s "$tmp/v1.lua" "http://127.0.0.1:$PORT/v1/models/spam:predict" >/dev/null
else
    /usr/bin/python3 "$tmp/client.py" "$PORT" "$N" "$tmp/v1.json" || exit 1
fi
drain
r1=$(metric flywheel_log_stored_total)
callgrind_control -d "$pid" >/dev/null || { echo "callgrind_control -d failed"; exit 1; }
n=$((r1 - r0)) # predictions logged and stored (one per request)
dump=$tmp/cg.$pid.1
tot=$(awk '/^(totals|summary):/{print $2; exit}' "$dump")
echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null) CLIENT=$CLIENT, $n requests measured (plus the drain's /metrics polls), load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v t="$tot" -v n="$n" 'BEGIN{printf "instructions per request (all threads): %.0f\n", t / n}'
echo "-- inclusive, per request (selected functions) --"
callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null > "$tmp/incl.txt"
for f in on_request dispatch fw__api_predict predict_fast refuse_early send_reply fw__log_prediction fw_logq_push_prediction \
         writer_main ingest_main syncer_main poll_main MHD_queue_response fw_metrics_request json_loadb \
         fw_srv_v1_decode reply_predictions fw_reqid_next; do
    awk -v f="$f" -v n="$n" '{gsub(",", "", $1)} $0 ~ ":" f " " || $0 ~ ":" f "$" {printf "%-28s %10.0f\n", f, $1 / n; exit}' "$tmp/incl.txt"
done
echo "-- exclusive, per request, by object --"
callgrind_annotate --inclusive=no --threshold=100 "$dump" 2>/dev/null |
    awk -v n="$n" '/^ *[0-9,]+ .*:/ {c = $1; gsub(",", "", c); split($2, a, ":"); o = a[1]; sub(/.*\//, "", o); by[o] += c}
                   END {for (o in by) if (by[o] / n >= 20) printf "%-40s %10.0f\n", o, by[o] / n}' | sort -k2 -nr | head -20
[[ -n ${KEEP:-} ]] && mkdir -p "$KEEP" && cp "$dump" "$KEEP/" && echo "dump kept in $KEEP/$(basename "$dump")"
exit 0
