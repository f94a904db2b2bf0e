#!/usr/bin/env bash
# isolation.sh [BUILD_DIR] — issue 19: "a canary that hangs or runs 10x slower costs the champion's
# traffic no errors and <= 5% p99". One server (--threads 2), two wrk clients at once:
#   split    — wrk -t1 -c8 on /v1/models/spam:predict, the route the canary rollout splits (the
#              canary gets 10%; rollback margins set so that it is never rolled back: the cost is
#              measured in steady state);
#   champion — wrk -t1 -c8 on /v1/models/spam/aliases/production:predict, champion-only traffic
#              served by the same HTTP threads: its p99 is "the champion's p99".
# Cases (test build's FLYWHEEL_TEST_CANARY_FAULT): none (no split: the peer), hang (the canary never
# answers; timeout_ms 100), slow (every canary answer 9x the baseline's p50 later: 10x slower), and
# slow with timeout_ms: 0 (the canary on the HTTP thread: what isolation replaces). Each case runs
# alternately with `none`, PAIRS times (default 3); printed: per run both clients' p99 and failures,
# per case the median over pairs of champion p99 case / none.
# Timings: each wrk run takes /tmp/fw-bench.lock (SECS, default 8 s); refuses load > 0.5 unless FORCE=1.
set -u
cd "$(dirname "$0")/../.."
B=${1:-build}
SECS=${SECS:-8}
PAIRS=${PAIRS:-3}
source bench/experiment/canary_serve.sh   # $BIN, $T, $M (spam 1 and 2), $T/p.lua, start, stop
echo '{"production":"1","staging":"2"}' > "$M/spam/aliases.json"
P=18412
us() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); print v} else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else {sub(/s$/,"",v); print v*1e6}}'; }
p99() { awk '/ 99%/{print $2}' | us; }
p50() { awk '/ 50%/{print $2}' | us; }
fails() { awk '/Non-2xx/{e=$NF} /Socket errors/{split($0,a,/[ ,]+/); for (i in a) if (a[i] ~ /^[0-9]+$/) s+=a[i]} END{print e+s}'; }
cfg() { # cfg NAME TIMEOUT_MS: a config file with (TIMEOUT_MS set) or without (empty) the split
  if [[ -z $2 ]]; then printf 'serving:\n  alias_poll_s: 0\n' > "$T/$1.yaml"
  else printf 'serving:\n  alias_poll_s: 0\n  splits:\n    - {model: spam, kind: canary, challenger: spam@staging, steps: [10, 100], tick_s: 1, min_requests: 1000000000, timeout_ms: %s, rollback: {errors: 1, p99: 100, srm: 1e-12}}\n' "$2" > "$T/$1.yaml"; fi
}
# run NAME FAULT: prints "champion_p99_us split_p99_us champion_fails split_fails"
run() {
  start "$T/$1.yaml" "$2" >&2 || return
  wrk -t1 -c4 -d1s -s "$T/p.lua" http://127.0.0.1:$P/v1/models/spam:predict >/dev/null
  flock /tmp/fw-bench.lock bash -c "
    wrk -t1 -c8 -d${SECS}s --latency -s '$T/p.lua' http://127.0.0.1:$P/v1/models/spam:predict > '$T/split.out' &
    wrk -t1 -c8 -d${SECS}s --latency -s '$T/p.lua' http://127.0.0.1:$P/v1/models/spam/aliases/production:predict > '$T/champ.out'
    wait"
  stop
  echo "$(p99 < "$T/champ.out") $(p99 < "$T/split.out") $(fails < "$T/champ.out") $(fails < "$T/split.out")"
}
echo "== $(date -u +%FT%TZ) load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD), 2 HTTP threads, wrk -t1 -c8 x 2, ${SECS}s x $PAIRS pairs"
cfg none ""
start "$T/none.yaml" ""
wrk -t1 -c8 -d3s --latency -s "$T/p.lua" http://127.0.0.1:$P/v1/models/spam:predict > "$T/base.out"
stop
base50=$(p50 < "$T/base.out")
delay=$(awk -v p="$base50" 'BEGIN{d = int(9 * p); print (d < 100 ? 100 : d)}')
echo "baseline p50 ${base50} us: the slow canary answers ${delay} us later"
cfg iso 100
cfg inline 0
for c in "hang iso hang" "slow iso delay_us=$delay" "slow-inline inline delay_us=$delay"; do
  set -- $c
  name=$1 conf=$2 fault=$3
  ratios=()
  for ((i = 0; i < PAIRS; i++)); do
    if ((i % 2 == 0)); then a=$(run none ""); b=$(run "$conf" "$fault"); else b=$(run "$conf" "$fault"); a=$(run none ""); fi
    set -- $a; ca=$1 sa=$2 cfa=$3 sfa=$4
    set -- $b; cb=$1 sb=$2 cfb=$3 sfb=$4
    r=$(awk -v x="$cb" -v y="$ca" 'BEGIN{printf "%.3f", x / y}')
    ratios+=("$r")
    echo "  $name pair $i: champion p99 ${cb} us vs ${ca} us (none) = ${r}x; split route p99 ${sb} us vs ${sa} us; failed: champion $cfb, split route $sfb (none: $cfa, $sfa); load $(cut -d' ' -f1 /proc/loadavg)"
  done
  med=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')
  echo "-- $name: median champion p99 ratio ${med}x over $PAIRS pairs (target <= 1.05)"
done
echo "== done $(date -u +%FT%TZ) load average $(cut -d' ' -f1-3 /proc/loadavg)"
