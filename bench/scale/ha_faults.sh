#!/usr/bin/env bash
# ha_faults.sh — the replica-kill figures of issue 20 through HAProxy (scripts/ha/cluster.sh: 3
# replicas on one PostgreSQL, HAProxy in front): per round, wrk (-t2 -c32, DUR s) POSTs /v1
# predictions of the spam gbdt through HAProxy; 2 s in, one replica gets kill -9; HAProxy's stats
# page is polled every 10 ms until it says DOWN. Prints per round the requests, the failed ones
# (non-2xx + socket errors, as wrk counts them), their share (target <= 0.01%) and the time from
# the kill to out of rotation (target <= 1.5 s), then the medians; the killed replica is restarted
# between rounds. Times depend on the load: the load average is printed with every round.
# Usage: flock /tmp/fw-bench.lock bench/scale/ha_faults.sh      (ROUNDS=3 DUR=6 FORCE=1)
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
. bench/serve/common.sh
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-6}
make -s -j2 build/flywheel >/dev/null
export FLYWHEEL_BIN=$PWD/build/flywheel
work=$(mktemp -d); dir=
cleanup() { [[ -n $dir ]] && scripts/ha/cluster.sh stop "$dir"; rm -rf "$work"; }
trap cleanup EXIT
scripts/ha/cluster.sh start --replicas 3 >"$work/env"
. "$work/env"
spam_home "$FLYWHEEL_BIN" "$home"
spam_bodies "$work"
status() { curl -s "$stats;csv" | awk -F, -v r="r$1" '$1=="replicas" && $2==r {print $18}'; }
for i in 1 2 3; do  # every replica serves the model (the promotion reached it)
    eval "u=\$r$i"
    for _ in $(seq 1 100); do curl -sf -X POST -d @"$work/v1.json" "$u/v1/models/spam:predict" >/dev/null && break; sleep 0.1; done
done
bench_wait_quiet
outs=(); shares=()
for round in $(seq 1 "$ROUNDS"); do
    victim=$(( (round - 1) % 3 + 1 ))
    wrk -t2 -c32 -d"${DUR}s" -s "$work/v1.lua" "$url/v1/models/spam:predict" >"$work/wrk.out" 2>&1 & wp=$!
    sleep 2
    pid=$(cat "$dir/r$victim/pid")
    t0=$(date +%s.%N); kill -KILL "$pid"
    while [[ $(status "$victim") != DOWN* ]]; do sleep 0.01; done
    t1=$(date +%s.%N)
    wait "$wp"
    out=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b - a}')
    req=$(awk '/requests in/{print $1}' "$work/wrk.out")
    bad=$(awk '/Non-2xx/{n += $NF} /Socket errors/{gsub(/,/, ""); n += $4 + $6 + $8 + $10} END{print n + 0}' "$work/wrk.out")
    share=$(awk -v b="$bad" -v r="$req" 'BEGIN{printf "%.4f", 100 * b / r}')
    outs+=("$out"); shares+=("$share")
    echo "round $round: kill -9 r$victim: out of rotation after ${out}s; $req requests, $bad failed (${share}%) (load $(bench_load1))"
    scripts/ha/cluster.sh restart "$dir" "$victim"
    for _ in $(seq 1 100); do [[ $(status "$victim") == UP ]] && break; sleep 0.1; done
done
echo "median out of rotation: $(printf '%s\n' "${outs[@]}" | bench_median) s (target <= 1.5); median failed share: $(printf '%s\n' "${shares[@]}" | bench_median)% (target <= 0.01%)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
