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
# Prints instructions per request in total and per component (inclusive counts of named functions;
# libmicrohttpd's pool memset), and copies the dump to KEEP (if set). docs/BENCHMARKS.md has the
# breakdown.
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
# until the spool is drained (few /metrics polls: under valgrind one costs ~4M instructions)
drain() { sleep 3; for _ in $(seq 1 120); do [[ $(metric flywheel_log_spool_records) == 0 ]] && return; sleep 1; done; }
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
echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD 2>/dev/null) CLIENT=$CLIENT, $n requests measured (plus a few /metrics polls while the log drains), load $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v t="$tot" -v n="$n" 'BEGIN{printf "instructions per request (all threads): %.0f\n", t / n}'
echo "-- inclusive, per request --"
callgrind_annotate --inclusive=yes --threshold=100 "$dump" 2>/dev/null > "$tmp/incl.txt"
callgrind_annotate --tree=caller --threshold=100 "$dump" 2>/dev/null > "$tmp/caller.txt"
get() { awk -v f="$1" '{c = $1; gsub(",", "", c)} index($0, f " [") {print c; exit}' "$tmp/incl.txt"; }
for f in server.c:on_request api_v1.c:fw__api_predict v1_decode.c:fw__v1_scan_top v1_decode.c:fw__v1_decode \
         model.c:fw_srv_model_decide monitoring.c:fw__srv_monitor_observe api_v1.c:reply_predictions \
         api_v1.c:fw__log_prediction server.c:fw__new_request_id server.c:fw__request_id_bind \
         input_warnings.c:fw__input_warnings server.c:fw__resolve_flags server.c:send_reply routes.c:fw_route_match \
         monitoring.c:fw_srv_monitoring_metrics logq.c:writer_main logq.c:fw_json_compact log_spool.c:fw_log_spool_encode \
         log_spool.c:ingest_main log_sqlite.c:lg_put_predictions log_spool.c:fw_log_spool_decode server.c:poll_main; do
    v=$(get "$f"); awk -v f="$f" -v v="${v:-0}" -v n="$n" 'BEGIN{printf "%-42s %9.0f\n", f, v / n}'
done
# libmicrohttpd zeroes its connection pool between requests: valgrind counts rep stosb per byte
m=$(grep -B40 '\* .*memset_avx2_unaligned_erms' "$tmp/caller.txt" | grep '<.*libmicrohttpd' | sed 's/,//g' | awk '{s += $1} END {print s + 0}')
awk -v m="$m" -v n="$n" 'BEGIN{printf "%-42s %9.0f\n", "memset called by libmicrohttpd", m / n}'
[[ -n ${KEEP:-} ]] && mkdir -p "$KEEP" && cp "$dump" "$KEEP/" && echo "dump kept in $KEEP/$(basename "$dump")"
exit 0
