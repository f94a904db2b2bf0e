#!/usr/bin/env bash
# replica_idle.sh — what one `flywheel serve` replica costs while it waits, thread by thread (issue
# 20: four replicas on one machine pay every background thread four times): a cluster.sh set of one
# replica (PostgreSQL home, HAProxy's health checks every 200 ms on /v2/health/ready) serving the
# spam GBDT, idle for SECS seconds after a short warm-up (wrk -c8 1 s, so every lazily started
# thread runs). Per thread (by name): wake-ups per second (voluntary + involuntary context switches
# from /proc/PID/task/TID/status) and CPU (utime + stime ticks) over the idle window; then the same
# for LOADSECS seconds of wrk -t1 -c8 through HAProxy (per request: wake-ups and CPU of each
# thread). The wake-up counts move little with the machine's load, the CPU figures do: for those run
# it under `flock /tmp/fw-bench.lock` and record the load it prints.
# Usage: bash bench/scale/replica_idle.sh   env SECS (10), LOADSECS (5), CONFIG (replica serve config),
#        REPLICAS (1: the per-thread figures are summed over all), THREADS (--threads each), WT/WC (wrk -t/-c)
set -eu
cd "$(dirname "$0")/../.."
. bench/serve/common.sh
SECS=${SECS:-10}; LOADSECS=${LOADSECS:-5}
make -s -j2 build/flywheel >/dev/null
export FLYWHEEL_BIN=$PWD/build/flywheel
work=$(mktemp -d); d=
cleanup() { [[ -n $d ]] && scripts/ha/cluster.sh stop "$d" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
spam_bodies "$work"
REPLICAS=${REPLICAS:-1}
FW_HA_THREADS=${THREADS:-} scripts/ha/cluster.sh start --replicas "$REPLICAS" ${CONFIG:+--config "$CONFIG"} >"$work/env"
. "$work/env"; d=$dir
spam_home "$FLYWHEEL_BIN" "$home"
for i in $(seq 1 "$REPLICAS"); do eval "u=\$r$i"
    for _ in $(seq 1 100); do curl -sf -X POST -H 'Content-Type: application/json' -d @"$work/v1.json" "$u/v1/models/spam:predict" >/dev/null && break; sleep 0.1; done
done
pids=$(scripts/ha/cluster.sh pids "$d" | awk '$1 ~ /^r[0-9]/ {print $2}')
wrk -t1 -c8 -d1s -s "$work/v1.lua" "$url/v1/models/spam:predict" >/dev/null
sleep 2
# snap FILE: "tid name switches ticks" per thread
snap() { for t in $(for p in $pids; do echo /proc/"$p"/task/*; done); do
    awk -v t="${t##*/}" -v n="$(tr ' ' '_' <"$t/comm")" -v s="$(awk '/ctxt_switches/ {x += $2} END {print x}' "$t/status")" \
        '{print t, n, s, $14 + $15}' "$t/stat"; done >"$1"; }
tick=$(getconf CLK_TCK)
report() { # report BEFORE AFTER DIVISOR UNIT
    join <(sort "$1") <(sort "$2") | awk -v k="$3" -v u="$4" -v tick="$tick" '
        {n = $2; w[n] += $6 - $3; c[n] += ($7 - $4) / tick * 1e6; m[n]++}
        END {for (n in w) printf "  %-18s x%-2d %10.2f wake-ups %10.1f us CPU %s\n", n, m[n], w[n] / k, c[n] / k, u;
             }' | sort -k4 -gr
}
snap "$work/i0"; sleep "$SECS"; snap "$work/i1"
echo "== $(date -u +%FT%TZ) $(git rev-parse --short HEAD) $REPLICAS replica(s) (PostgreSQL home, HAProxy health checks, --threads ${THREADS:-default}), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "idle ${SECS}s, per second:"
report "$work/i0" "$work/i1" "$SECS" "/s"
awk -v a="$(join <(sort "$work/i0") <(sort "$work/i1") | awk '{s += $6 - $3} END {print s}')" -v k="$SECS" 'BEGIN{printf "  total %.1f wake-ups/s\n", a / k}'
snap "$work/l0"
req=$(wrk -t${WT:-1} -c${WC:-8} -d"${LOADSECS}s" -s "$work/v1.lua" "$url/v1/models/spam:predict" | awk '/requests in/ {print $1}')
snap "$work/l1"
echo "wrk -t${WT:-1} -c${WC:-8} ${LOADSECS}s through HAProxy: $req requests; per request (all replicas):"
report "$work/l0" "$work/l1" "$req" "/req"
