#!/usr/bin/env bash
# feedback_instr.sh — what online learning costs the server per feedback event, counted in
# instructions (valgrind's callgrind: this VM has no hardware counters, and instruction counts do
# not move with the machine's load, so it takes no bench lock and is usable while the machine is
# busy). The companion of feedback_cost.sh (CPU time, which needs a quiet machine for the whole-server
# difference). Issue 18: "learning from feedback adds <= 5 us per event".
# The linear spam model (57 inputs), `flywheel serve --threads 2 --alias-poll 0` under callgrind, on
# a fresh copy of one trained home per side: off (no learn section) and on (`learn: {online: true}`,
# the defaults: a snapshot every 1,000 examples through the gate). Per side: WARM warm-up events,
# the log drained, counters zeroed (callgrind_control -z), N measured events from CONNS keep-alive
# clients (python; an event is one predict of a spam row then its label to /v1/feedback, the rows in
# one fixed shuffled order: the same work on both sides), the server left to go idle (watched from
# /proc: no /metrics poll is counted), counters dumped, and then checked drained (every label learned,
# the log spool empty; else the run fails). Prints instructions per event on, off and on - off, in total and per thread
# (inclusive counts of each thread's start function; "request threads + rest" = the remainder), the
# learning hooks' inclusive counts, and the functions whose own (exclusive) counts differ most. Runs are repeated PAIRS times,
# alternating which side goes first (callgrind serialises threads, so batching — labels per wake-up
# of the learning thread — varies a little between runs: the spread is printed).
# Usage: bash bench/learn/feedback_instr.sh   env N (3000), WARM (1000), CONNS (8), PAIRS (1),
#        B (build), FLYWHEEL_BIN (default B/flywheel), SPAM_CSV, KEEP=DIR (copy the dumps there)
set -u
cd "$(dirname "$0")/../.."
N=${N:-3000}; WARM=${WARM:-1000}; CONNS=${CONNS:-8}; PAIRS=${PAIRS:-1}
B=${B:-build}
BIN=${FLYWHEEL_BIN:-$PWD/$B/flywheel}
SPAM=${SPAM_CSV:-../shared/datasets/spam.csv}
[[ -f $SPAM ]] || SPAM=/work/shared/datasets/spam.csv
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || { echo "needs valgrind"; exit 2; }
[[ -x $BIN ]] || { echo "feedback_instr.sh: $BIN missing (run make)"; exit 1; }
tmp=$(mktemp -d); pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
"$BIN" train "$SPAM" --label type --models linear --name spam --home "$tmp/home" --quiet >/dev/null &&
    "$BIN" models promote spam@1 --force --home "$tmp/home" >/dev/null || { echo "training failed"; exit 1; }
printf 'learn:\n  online: true\n  models: [spam]\n' > "$tmp/on.yaml"
printf 'monitoring:\n  enabled: true\n' > "$tmp/off.yaml"
cat > "$tmp/client.py" <<'PY'
import csv, http.client, json, random, sys, threading
port, n, conns, spam, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
rows = list(csv.reader(open(spam)))
head = rows[0]; lab = head.index("type")
data = [({h: float(v) for i, (h, v) in enumerate(zip(head, r)) if i != lab}, r[lab]) for r in rows[1:]]
random.Random(seed).shuffle(data)
failed = []
def client(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for i in range(k, n, conns):
        x, y = data[i % len(data)]
        c.request("POST", "/v1/models/spam:predict", body=json.dumps({"instances": [x]}), headers={"Content-Type": "application/json"})
        r = c.getresponse(); body = r.read()
        if r.status != 200: failed.append(i); continue
        rid = json.loads(body)["request_id"]
        c.request("POST", "/v1/feedback", body=json.dumps({"request_id": rid, "label": y}), headers={"Content-Type": "application/json"})
        r = c.getresponse(); r.read()
        if r.status != 202: failed.append(i)
ts = [threading.Thread(target=client, args=(k,)) for k in range(conns)]
for t in ts: t.start()
for t in ts: t.join()
if failed: sys.exit(f"{len(failed)} events failed")
PY
PORT=${PORT:-18390}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k || index($1, k "{") == 1 {s += $2} END {printf "%.0f", s}'; }
learned() { curl -s "http://127.0.0.1:$PORT/metrics" |
    awk '/^flywheel_learn_labels_total\{outcome="(learned|unjoined|refused)"\}/ {s += $2} END {printf "%.0f", s}'; }
# until every label is learned (on) and the spool is empty, by /metrics polls
drain() { # side total
    for _ in $(seq 1 240); do
        if [[ $1 == off || $(learned) -ge $2 ]] && [[ $(metric flywheel_log_spool_records) == 0 ]]; then return 0; fi
        sleep 1
    done
    echo "feedback_instr.sh: not drained after 240 s ($1)" >&2
    return 1
}
# until the server is idle, watched from /proc (under valgrind one /metrics poll costs ~4M
# instructions, as much as a few hundred events, so none is made while counting): its CPU time grew
# by less than a tenth of a second in each of the last two seconds
settle() {
    local prev=-1 quiet=0 cur
    for _ in $(seq 1 300); do
        cur=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$pid/stat")
        if ((prev >= 0 && cur - prev < 10)); then quiet=$((quiet + 1)); else quiet=0; fi
        ((quiet >= 2)) && return 0
        prev=$cur
        sleep 1
    done
}
# side -> prints "total metrics_incl" and leaves $tmp/cg.SIDE (the dump)
run_side() {
    local side=$1
    rm -rf "$tmp/run" && cp -r "$tmp/home" "$tmp/run"
    nice -n 10 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" --dump-instr=no --compress-strings=no \
        "$BIN" serve --port "$PORT" --threads 2 --home "$tmp/run" --alias-poll 0 --config "$tmp/$side.yaml" \
        >/dev/null 2>"$tmp/err.$side" & pid=$!
    for _ in $(seq 1 1800); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
    /usr/bin/python3 "$tmp/client.py" "$PORT" "$WARM" "$CONNS" "$SPAM" 1 || { tail -5 "$tmp/err.$side" >&2; return 1; }
    drain "$side" "$WARM" || return 1
    settle
    callgrind_control -z "$pid" >/dev/null 2>&1 || { echo "callgrind_control -z failed" >&2; return 1; }
    /usr/bin/python3 "$tmp/client.py" "$PORT" "$N" "$CONNS" "$SPAM" 2 || { tail -5 "$tmp/err.$side" >&2; return 1; }
    settle
    callgrind_control -d "$pid" >/dev/null 2>&1 || { echo "callgrind_control -d failed" >&2; return 1; }
    # checked after the dump: was all the work in it?
    if [[ $side == on && $(learned) -lt $((WARM + N)) ]] || [[ $(metric flywheel_log_spool_records) != 0 ]]; then
        echo "feedback_instr.sh: $side: the server was not drained at the dump (learned $(learned) of $((WARM + N)), spool $(metric flywheel_log_spool_records))" >&2
        return 1
    fi
    [[ $side == on ]] && echo "  on: joins $(curl -s "http://127.0.0.1:$PORT/metrics" | grep '^flywheel_learn_joins_total' | tr '\n' ' ')" >&2
    kill "$pid"; wait "$pid" 2>/dev/null; pid=
    mv "$tmp/cg.$(ls "$tmp" | sed -n 's/^cg\.\([0-9]*\)\.1$/\1/p' | head -1).1" "$tmp/cg.$side" 2>/dev/null
    rm -f "$tmp"/cg.[0-9]*
    callgrind_annotate --inclusive=yes --threshold=100 "$tmp/cg.$side" 2>/dev/null > "$tmp/incl.$side"
}
# inclusive count of function F (file:name) in side S's listing
incl() { awk -v f="$2" '{c = $1; gsub(",", "", c)} index($0, f " [") {print c; exit}' "$tmp/incl.$1"; }
total() { awk '/^(totals|summary):/{print $2; exit}' "$tmp/cg.$1"; }
THREADS="learning.c:learning_main logq.c:writer_main logq.c:syncer_main log_spool.c:ingest_main log_spool.c:catch_main
         log_sqlite.c:ckpt_main log_sqlite.c:retention_main monitoring.c:prep_main models.c:loader_main server.c:poll_main"
echo "== $(date -u +%FT%TZ) $(git rev-parse --short=12 HEAD) N=$N events measured per side (WARM=$WARM, CONNS=$CONNS), load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -a D
for p in $(seq 1 "$PAIRS"); do
    if (( p % 2 )); then order="off on"; else order="on off"; fi
    for side in $order; do run_side "$side" || exit 1; done
    for side in off on; do eval "T_$side=$(total $side)"; done
    d=$(awk -v a="$T_on" -v b="$T_off" -v n="$N" 'BEGIN{printf "%.0f", (a - b) / n}')
    D+=("$d")
    echo "-- pair $p ($order): instructions per event (all threads): on $((T_on / N)), off $((T_off / N)), on - off $d"
    printf '   %-34s %10s %10s %10s\n' "per thread (inclusive)" on off "on - off"
    rest_on=$T_on; rest_off=$T_off
    for f in $THREADS; do
        a=$(incl on "$f"); b=$(incl off "$f"); a=${a:-0}; b=${b:-0}
        rest_on=$((rest_on - a)); rest_off=$((rest_off - b))
        awk -v f="$f" -v a="$a" -v b="$b" -v n="$N" 'BEGIN{if (a || b) printf "   %-34s %10.0f %10.0f %+10.0f\n", f, a / n, b / n, (a - b) / n}'
    done
    awk -v a="$rest_on" -v b="$rest_off" -v n="$N" 'BEGIN{printf "   %-34s %10.0f %10.0f %+10.0f\n", "request threads + rest", a / n, b / n, (a - b) / n}'
    printf '   %-34s %10s %10s\n' "learning hooks (inclusive)" on off
    for f in learning.c:fw_srv_learning_capture learning.c:fw_srv_learning_feedback learning.c:handle \
             learn_capture.c:fw_learn_capture_take online.c:fw_online_add learning.c:maybe_snapshot \
             registry.c:fw_registry_register log_sqlite.c:lg_put_predictions api_v1.c:fw__api_feedback; do
        a=$(incl on "$f"); b=$(incl off "$f")
        awk -v f="$f" -v a="${a:-0}" -v b="${b:-0}" -v n="$N" 'BEGIN{if (a || b) printf "   %-34s %10.0f %10.0f\n", f, a / n, b / n}'
    done
    echo "   functions whose own (exclusive) count differs most, per event on - off:"
    for side in on off; do
        callgrind_annotate --auto=no --threshold=100 "$tmp/cg.$side" 2>/dev/null |
            awk '/^ *[0-9,]+ +\( *[0-9.]+%\) +[^ =<]/ && !/PROGRAM TOTALS|start_thread|clone\.S/ {c = $1; gsub(",", "", c); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "");
                 sub(/ \[.*$/, ""); s[$0] += c} END {for (k in s) print k "\t" s[k]}' > "$tmp/f.$side"
    done
    awk -F'\t' -v n="$N" 'FNR == NR {on[$1] = $2; next} {off[$1] = $2} END {for (k in on) d[k] = on[k] - off[k]; for (k in off) if (!(k in on)) d[k] = -off[k];
        for (k in d) printf "%+.0f\t%s\n", d[k] / n, k}' "$tmp/f.on" "$tmp/f.off" |
        sort -t$'\t' -k1,1gr | awk -F'\t' '{v[NR] = $0} END {for (i = 1; i <= NR; i++) if (i <= 15 || i > NR - 5) print "     " v[i]}'
    [[ -n ${KEEP:-} ]] && mkdir -p "$KEEP" && cp "$tmp/cg.on" "$KEEP/cg.on.$p" && cp "$tmp/cg.off" "$KEEP/cg.off.$p"
done
printf '%s\n' "${D[@]}" | sort -g | awk '{v[NR] = $1} END {printf "median over %d pairs: learning from feedback %+.0f instructions per event (min %+.0f, max %+.0f)\n", NR, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR]}'
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
