#!/usr/bin/env bash
# replica_cpu.sh — server CPU per request with 4 replicas against 1 (issue 20 target: <= 1.10x),
# both behind HAProxy (scripts/ha/cluster.sh; each set has its own PostgreSQL): wrk (-t2 -c64, DUR
# s) POSTs /v1 predictions of the spam gbdt (bench/serve/common.sh) through HAProxy; CPU = utime +
# stime from /proc of every replica, of HAProxy and of PostgreSQL (postmaster and its backends:
# the prediction log's COPY, the health checks' registry reads), each divided by the requests
# answered. PAIRS (3) alternating pairs, medians, ratio 4 replicas / 1 replica of the replicas' CPU
# per request. CPU seconds per request move little with other jobs on the machine (wall-clock
# throughput does): the load average is printed with every figure. Refuses load >= 0.5 unless
# FORCE=1.
# Two loads:
#   default   wrk -t2 -c64 as fast as the set answers (saturation: on 2 cores one saturated process
#             handles many requests per wake-up, four sharing the cores handle few — this measures
#             how loaded each process is as much as what replication costs);
#   RATE=R    a fixed offered rate below saturation, R requests a second in all to each set (wrk
#             -t2 -c32, each connection pausing 32/R s between requests: the rate reached is a
#             little lower, by each request's own latency); with PER_REPLICA=1 the 4-replica set
#             gets 4 x as many connections (-c128) pausing as long, so each of its replicas is as
#             loaded as the single one — what 4 replicas on 4 machines would see (the "on paper"
#             case of docs/SCALING.md). The rates reached are printed per run.
# Usage: flock /tmp/fw-bench.lock bench/scale/replica_cpu.sh      (PAIRS=3 DUR=5 FORCE=1 T1= T4=; CONFIG=serve.yaml
#        for the replicas, e.g. serving.log.path: /dev/null to take the prediction log out;
#        RATE=2000 [PER_REPLICA=1])
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
. bench/serve/common.sh
PAIRS=${PAIRS:-3}; DUR=${DUR:-5}
make -s -j2 build/flywheel >/dev/null
export FLYWHEEL_BIN=$PWD/build/flywheel
work=$(mktemp -d); d1=; d4=
cleanup() { for d in "$d1" "$d4"; do [[ -n $d ]] && scripts/ha/cluster.sh stop "$d"; done; rm -rf "$work"; }
trap cleanup EXIT
spam_bodies "$work"
RATE=${RATE:-}; PER_REPLICA=${PER_REPLICA:-0}
# rate_lua N: the wrk script for set N at the fixed rate (32 connections, each pausing between requests)
rate_lua() {
    cp "$work/v1.lua" "$work/rate$1.lua"
    printf 'function delay() return %s end\n' "$(awk -v r="$RATE" 'BEGIN{printf "%.3f", 32 * 1000 / r}')" >> "$work/rate$1.lua"
}
rate_conns() { if ((PER_REPLICA)); then echo $((32 * $1)); else echo 32; fi; }
[[ -n $RATE ]] && { rate_lua 1; rate_lua 4; }
for n in 1 4; do
    # per replica --threads: T1 for the one replica, T4 for each of the four (default: the server's
    # own, one per core; T4=1 gives each of 4 replicas on 2 cores the share of a machine of its own)
    tv=T$n; FW_HA_THREADS=${!tv:-} scripts/ha/cluster.sh start --replicas "$n" ${CONFIG:+--config "$CONFIG"} >"$work/env$n"
    ( . "$work/env$n"; spam_home "$FLYWHEEL_BIN" "$home"
      for i in $(seq 1 "$n"); do eval "u=\$r$i"
        for _ in $(seq 1 100); do curl -sf -X POST -d @"$work/v1.json" "$u/v1/models/spam:predict" >/dev/null && break; sleep 0.1; done
      done )
done
d1=$(. "$work/env1"; echo "$dir"); d4=$(. "$work/env4"; echo "$dir")
tick=$(getconf CLK_TCK)
ticks() { local s=0 p; for p in "$@"; do [[ -r /proc/$p/stat ]] && s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$s"; }
# the pids of one set: replicas, haproxy, postgres (postmaster + children)
pids_of() {
    local dir=$1 role=$2
    scripts/ha/cluster.sh pids "$dir" | while read -r name pid; do
        case $role:$name in
            rep:r*|ha:haproxy) echo "$pid" ;;
            pg:postgres) echo "$pid"; pgrep -P "$pid" || true ;;
        esac
    done
}
run() {  # run N: prints "requests rep_us ha_us pg_us" (CPU microseconds per request)
    local n=$1 dir url rep ha pg a0 b0 c0 a1 b1 c1 req
    dir=$(. "$work/env$n"; echo "$dir"); url=$(. "$work/env$n"; echo "$url")
    rep=$(pids_of "$dir" rep); ha=$(pids_of "$dir" ha); pg=$(pids_of "$dir" pg)
    a0=$(ticks $rep); b0=$(ticks $ha); c0=$(ticks $pg)
    if [[ -n $RATE ]]; then req=$(wrk -t2 -c"$(rate_conns "$n")" -d"${DUR}s" -s "$work/rate$n.lua" "$url/v1/models/spam:predict" | awk '/requests in/{print $1}')
    else req=$(wrk -t2 -c64 -d"${DUR}s" -s "$work/v1.lua" "$url/v1/models/spam:predict" | awk '/requests in/{print $1}'); fi
    sleep 0.3
    pg=$(pids_of "$dir" pg)  # backends come and go: the sum over those alive now
    a1=$(ticks $rep); b1=$(ticks $ha); c1=$(ticks $pg)
    awk -v r="$req" -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v t="$tick" \
        'BEGIN{printf "%d %.2f %.2f %.2f\n", r, a / t * 1e6 / r, b / t * 1e6 / r, c / t * 1e6 / r}'
}
bench_wait_quiet
ratios=(); r1s=(); r4s=()
if [[ -n $RATE ]]; then load="fixed rate $RATE req/s to the 1-replica set, $( ((PER_REPLICA)) && echo "$((RATE * 4)) (the same per replica; -c128)" || echo "$RATE (a quarter per replica)") to the 4-replica set, wrk -t2 -c32"
else load="wrk -t2 -c64 (saturation)"; fi
echo "== 1 vs 4 replicas behind HAProxy, spam gbdt /v1 predict, $load ${DUR}s, --threads ${T1:-default} / ${T4:-default} per replica, load $(bench_load1)"
for i in $(seq 1 "$PAIRS"); do
    if ((i % 2)); then read -r q1 s1 h1 p1 < <(run 1); read -r q4 s4 h4 p4 < <(run 4)
    else read -r q4 s4 h4 p4 < <(run 4); read -r q1 s1 h1 p1 < <(run 1); fi
    r=$(awk -v a="$s4" -v b="$s1" 'BEGIN{printf "%.3f", a / b}')
    ratios+=("$r"); r1s+=("$s1"); r4s+=("$s4")
    echo "pair $i: 1 replica: $q1 req ($((q1 / DUR))/s), replica ${s1} us/req, haproxy ${h1}, postgres ${p1} | 4 replicas: $q4 req ($((q4 / DUR))/s), replicas ${s4} us/req, haproxy ${h4}, postgres ${p4} | ratio ${r} (load $(bench_load1))"
done
echo "median replica CPU per request: 1 replica $(printf '%s\n' "${r1s[@]}" | bench_median) us, 4 replicas $(printf '%s\n' "${r4s[@]}" | bench_median) us; median ratio 4/1: $(printf '%s\n' "${ratios[@]}" | bench_median) (target <= 1.10)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
