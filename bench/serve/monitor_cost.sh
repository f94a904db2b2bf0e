#!/usr/bin/env bash
# monitor_cost.sh — what monitoring costs the server (issue 17: throughput with monitoring on >= 0.9x
# of off; <= 2 us per prediction for 50 columns). Two servers on the real spam model (57 inputs, all
# watched): one with `monitoring.enabled: true` (the defaults), one with `false`. wrk sends one
# instance per request, cycling through 1000 spam rows drawn with a fixed seed (a single repeated
# row, or the file's label-grouped order, would be drift and raise alarms). Per round each side runs for DUR seconds, the side that goes first
# alternating; printed per side: requests/s and the server's CPU time per request (utime + stime
# over the run / requests answered — it barely moves with other jobs, where req/s moves by up to
# 2x). The ratios are medians over PAIRS rounds: throughput on/off, and CPU us/request on - off,
# which is the monitor's cost per prediction (one instance per request).
# Usage: flock /tmp/fw-bench.lock bash bench/serve/monitor_cost.sh     env PAIRS (3), DUR (3),
#        FLYWHEEL_BIN (build/flywheel), SPAM_CSV, FORCE=1 to run with load average > 0.5
set -u
cd "$(dirname "$0")/../.."
PAIRS=${PAIRS:-3}; DUR=${DUR:-3}
BIN=${FLYWHEEL_BIN:-$PWD/build/flywheel}
source bench/serve/common.sh
load=$(cut -d' ' -f1 /proc/loadavg)
if [[ ${FORCE:-0} != 1 ]] && awk -v l="$load" 'BEGIN{exit !(l > 0.5)}'; then
  echo "load average $load > 0.5: wait for a quiet machine, or FORCE=1 (then compare CPU us/request, not req/s)"; exit 2
fi
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
spam_home "$BIN" "$tmp/home" || exit 1
/usr/bin/python3 - "$SPAM" "$tmp/bodies.txt" <<'PY'
import csv, json, sys
import random
rows = list(csv.reader(open(sys.argv[1])))
header = rows[0]; label = header.index("type") if "type" in header else len(header) - 1
body = rows[1:]
random.Random(7).shuffle(body) # the file is grouped by label: in-file order would be drift
with open(sys.argv[2], "w") as out:
    for r in body[:1000]:
        out.write(json.dumps({"instances": [{h: float(v) for i, (h, v) in enumerate(zip(header, r)) if i != label}]}) + "\n")
PY
cat > "$tmp/cycle.lua" <<LUA
local bodies = {}
for line in io.lines("$tmp/bodies.txt") do bodies[#bodies + 1] = line end
local i = math.random(#bodies)
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, bodies[i])
end
LUA
printf 'monitoring:\n  enabled: true\n' > "$tmp/on.yaml"
printf 'monitoring:\n  enabled: false\n' > "$tmp/off.yaml"
declare -A port pid
port[on]=18310; port[off]=18311
for side in on off; do
  "$BIN" serve --port ${port[$side]} --threads 2 --home "$tmp/home" --alias-poll 0 --config "$tmp/$side.yaml" \
      >/dev/null 2>"$tmp/$side.err" & pid[$side]=$!; pids+=(${pid[$side]})
  wait_port ${port[$side]} || { echo "flywheel did not start: $(cat "$tmp/$side.err")"; exit 1; }
  wrk -t2 -c32 -d1s -s "$tmp/cycle.lua" "http://127.0.0.1:${port[$side]}/v1/models/spam:predict" >/dev/null # warm-up
done
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() { # side -> "req/s us/req"
  local side=$1 c0 c1 out n rps
  c0=$(cpu ${pid[$side]})
  out=$(wrk -t2 -c32 -d${DUR}s -s "$tmp/cycle.lua" "http://127.0.0.1:${port[$side]}/v1/models/spam:predict")
  c1=$(cpu ${pid[$side]})
  n=$(awk '/requests in/{print $1}' <<<"$out"); rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  awk -v c=$((c1 - c0)) -v t="$tick" -v n="$n" -v r="$rps" 'BEGIN{printf "%.0f %.2f", r, c / t * 1e6 / n}'
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)  model: spam gbdt, 57 inputs watched; $PAIRS pairs of ${DUR}s, 2 server threads, wrk -t2 -c32"
ratios=(); costs=()
for r in $(seq 1 "$PAIRS"); do
  if (( r % 2 )); then order="on off"; else order="off on"; fi
  declare -A res
  for side in $order; do res[$side]=$(run $side); done
  read -r ron con <<<"${res[on]}"; read -r roff coff <<<"${res[off]}"
  ratio=$(awk -v a="$ron" -v b="$roff" 'BEGIN{printf "%.3f", a / b}')
  cost=$(awk -v a="$con" -v b="$coff" 'BEGIN{printf "%.2f", a - b}')
  ratios+=("$ratio"); costs+=("$cost")
  echo "pair $r ($order first): on $ron req/s ${con} us/req CPU | off $roff req/s ${coff} us/req CPU | throughput on/off $ratio, monitoring CPU ${cost} us/prediction"
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR + 1) / 2)]}'; }
echo "median: throughput on/off $(med "${ratios[@]}") (target >= 0.9), monitoring CPU $(med "${costs[@]}") us/prediction (target <= 2); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -h "alarm raised" "$tmp/on.err" | head -3
