#!/usr/bin/env bash
# rollback.sh [BUILD_DIR] — issue 19's rollback target: under load (wrk -t2 -c16), a canary rollout
# (serving.splits steps [5, 25, 50, 100], tick_s 1) with a defective canary, three cases:
#   constant — the canary is a real model that answers a constant (weights 0): caught by the
#              business metric (clicks sent by a feedback driver that clicks right answers more);
#   slow     — the canary answers 10x slower than the champion's median (test build's
#              FLYWHEEL_TEST_CANARY_FAULT=delay_us, set from a baseline run);
#   errors   — the canary fails 5% of requests (FLYWHEEL_TEST_CANARY_FAULT=error=0.05).
# Prints per case: failed requests seen by the clients (wrk non-2xx + socket errors, the driver's),
# seconds from the load's start to the rollback, the rollback's tick vs the last canary request
# counted, the reason, and wrk's req/s, p50, p99 — plus a baseline without a split.
# Timings: each case's timed run takes /tmp/fw-bench.lock (about 40 s each); refuses load > 0.5
# unless FORCE=1. SECS (default 30) per case.
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
SECS=${SECS:-30}
source bench/experiment/canary_serve.sh   # $BIN, $T, $M (spam 1 and 2), $T/p.lua, start, stop
echo '{"task":"binary","inputs":["a","b"],"weights":[0.0,0.0],"bias":-3,"classes":["ham","spam"]}' > "$M/spam/3.json"
echo '{"production":"1"}' > "$M/spam/aliases.json"
lat() { awk '/Requests\/sec/{r=$2} / 50%/{m=$2} / 99%/{p=$2} /Non-2xx/{e=$NF} /Socket errors/{s=$0} END{printf "%.0f req/s  p50 %s  p99 %s  non-2xx %d  %s", r, m, p, e, (s ? s : "socket errors: none")}'; }
# the feedback driver: predictions with random inputs; clicks 30% of right answers, 2% of wrong ones
cat > "$T/driver.py" <<'PY'
import http.client, json, random, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
random.seed(7)
c = http.client.HTTPConnection("127.0.0.1", port)
end = time.time() + secs; n = fails = clicks = 0
while time.time() < end:
    a, b = random.uniform(0, 4), random.uniform(0, 2)
    c.request("POST", "/v1/models/spam:predict", json.dumps({"instances": [{"a": a, "b": b}]}), {"Content-Type": "application/json"})
    r = c.getresponse(); body = r.read(); n += 1
    if r.status != 200: fails += 1; continue
    j = json.loads(body); p = j["predictions"][0]
    right = (p.get("label") == "spam") == (a - 2 * b + 0.1 > 0)
    if random.random() < (0.30 if right else 0.02):
        c.request("POST", "/v1/feedback", json.dumps({"request_id": j["request_id"], "event": "click"}), {"Content-Type": "application/json"})
        c.getresponse().read(); clicks += 1
print(f"driver: {n} requests, {fails} failed, {clicks} clicks")
PY
cat > "$T/state.py" <<'PY'
import json, sys
t0 = float(sys.argv[1]); s = json.load(sys.stdin)
rb = [h for h in s["history"] if h["event"] == "rollback"]
adv = [h for h in s["history"] if h["event"] == "advance"]
print("   state %s, percent %s, ticks %d, fallbacks %d, advances %d" % (s["state"], s["percent"], s["ticks"], s["fallbacks"], len(adv)))
if rb:
    print("   seconds to rollback (load start -> deciding tick): %.2f; canary requests after that tick: %d" %
          (rb[0]["ts_ms"] / 1000 - t0, s["arms"]["canary"]["total_requests"] - rb[0]["canary_requests"]))
    print("   reason: " + rb[0]["reason"])
else: print("   no rollback; guards: " + "; ".join("%s %s %s" % (g["name"], g["verdict"], g["interval"]) for g in s["guards"]))
PY
echo "== $(date -u +%FT%TZ) load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD), wrk -t2 -c16, ${SECS}s per case"
printf 'serving:\n  alias_poll_s: 0\n  log: {path: %s/base.jsonl}\n' "$T" > "$T/base.yaml"
start "$T/base.yaml" "" 18411
wrk -t2 -c16 -d1s -s "$T/p.lua" http://127.0.0.1:18411/v1/models/spam:predict >/dev/null
base=$(flock /tmp/fw-bench.lock wrk -t2 -c16 -d10s --latency -s "$T/p.lua" http://127.0.0.1:18411/v1/models/spam:predict)
stop
p50_us=$(echo "$base" | awk '/ 50%/{v=$2; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else {sub(/s/,"",v); print v*1e6}}')
echo "baseline (no split): $(echo "$base" | lat)"
delay=$(awk -v p="$p50_us" 'BEGIN{printf "%d", 9 * p}')
for case in constant slow errors; do
  case $case in
    constant) chal="spam#3"; fault=""; extra=", metrics: [{name: ctr, event: click, kind: rate, min_effect: 0.005}]" ;;
    slow) chal="spam#2"; fault="delay_us=$delay"; extra="" ;;
    errors) chal="spam#2"; fault="error=0.05"; extra="" ;;
  esac
  printf 'serving:\n  alias_poll_s: 0\n  log: {path: %s/%s.jsonl}\n  splits:\n    - {model: spam, kind: canary, challenger: "%s", steps: [5, 25, 50, 100], tick_s: 1, min_requests: 5000, rollback: {errors: 0.01, p99: 0.5}%s}\n' \
    "$T" "$case" "$chal" "$extra" > "$T/$case.yaml"
  start "$T/$case.yaml" "$fault" 18411
  t0=$(date +%s.%N)
  ( /usr/bin/python3 "$T/driver.py" 18411 "$SECS" > "$T/driver.out" 2>&1 & )
  w=$(flock /tmp/fw-bench.lock wrk -t2 -c16 -d"${SECS}s" --latency -s "$T/p.lua" http://127.0.0.1:18411/v1/models/spam:predict)
  sleep 1
  st=$(curl -s localhost:18411/v1/models/spam/rollout)
  met=$(curl -s localhost:18411/metrics | grep -E '^flywheel_rollout_(requests|errors|fallbacks)_total')
  stop
  echo "-- $case (canary $chal${fault:+, $fault})"
  echo "   wrk: $(echo "$w" | lat)"
  echo "   $(cat "$T/driver.out")"
  echo "$st" | /usr/bin/python3 "$T/state.py" "$t0"
  echo "$met" | sed 's/^/   /'
done
echo "== done $(date -u +%FT%TZ) load average $(cut -d' ' -f1-3 /proc/loadavg)"
