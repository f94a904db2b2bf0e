#!/usr/bin/env bash
# contention.sh [PEER_REV] — two threads observing one monitor (the server's two request threads on
# one model version): how often they collide on the monitor's locks, this tree against PEER_REV
# (default main), with bench/monitor/observe_cost.c (50 numeric columns, TIME=1: the server's
# windows by time, a clock read under the count lock; 1,000,000 observations, THREADS=2).
# This VM has no hardware counters (perf stat -e instructions/cycles: "not supported"), so:
#   - futex system calls per 1,000 observations (perf stat -e syscalls:sys_enter_futex, a software
#     tracepoint: root or perf_event_paranoid <= 1): a glibc mutex enters the kernel only when it
#     finds the lock taken, so this counts collisions (a wait, and the wake it needs), whatever the
#     instructions around them;
#   - context switches per 1,000 observations, and CPU ns per observation (the program's own
#     figure) — these move with the machine's load: read them with the load average printed;
#   - instructions per observation, 1 thread (valgrind --tool=callgrind, ROWS 200,000 minus ROWS
#     100,000, so set-up cancels): what the change costs when there is no one to collide with.
# PAIRS (3) alternating pairs, medians. The native runs take /tmp/fw-bench.lock (about a minute);
# the callgrind runs do not depend on the load and take no lock.
#   bash bench/monitor/contention.sh [main]
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
PEER=${1:-main}; PAIRS=${PAIRS:-3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/peer"
git archive "$PEER" | tar -x -C "$tmp/peer"
make -s -j2 -C "$tmp/peer" BUILD=build-bench build-bench/libflywheel.a >/dev/null
make -s -j2 BUILD=build-bench build-bench/libflywheel.a >/dev/null
for side in this peer; do
  lib=$([[ $side == this ]] && echo build-bench/libflywheel.a || echo "$tmp/peer/build-bench/libflywheel.a")
  inc=$([[ $side == this ]] && echo . || echo "$tmp/peer")
  gcc -std=c17 -D_GNU_SOURCE -O2 -g -march=x86-64-v2 -I"$inc/include" -I"$inc/src" bench/monitor/observe_cost.c "$lib" \
      -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm -o "$tmp/oc.$side"
done
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) this $(git rev-parse --short HEAD) vs $PEER $(git rev-parse --short "$PEER"), load $(bench_load1)"
# instructions per observation, 1 thread
ir() { # side rows -> total instructions
  THREADS=1 ROWS=$2 COLS=50 TIME=1 valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1.$2" "$tmp/oc.$1" >/dev/null 2>&1
  awk '/^(totals|summary):/{print $2; exit}' "$tmp/cg.$1.$2"
}
for side in this peer; do
  a=$(ir $side 100000); b=$(ir $side 200000)
  echo "$side: $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.0f", (b - a) / 100000}') instructions per observation (1 thread, callgrind)"
done
exec 9>/tmp/fw-bench.lock; flock 9
for r in $(seq 1 "$PAIRS"); do
  for side in $( (( r % 2 )) && echo "this peer" || echo "peer this"); do
    out=$(perf stat -x, -e syscalls:sys_enter_futex,context-switches -o "$tmp/ps" env THREADS=2 ROWS=1000000 COLS=50 TIME=1 "$tmp/oc.$side")
    fut=$(awk -F, '/sys_enter_futex/{print $1}' "$tmp/ps"); cs=$(awk -F, '/context-switches/{print $1}' "$tmp/ps")
    cpu=$(sed 's/.*cpu_ns_per_obs=\([0-9]*\).*/\1/' <<<"$out")
    echo "$side $fut $cs $cpu" >> "$tmp/runs"
    echo "pair $r $side: futex calls $fut, context switches $cs, CPU ns per observation $cpu ($out)"
  done
done
flock -u 9
for side in this peer; do
  f=$(awk -v s=$side '$1==s{print $2}' "$tmp/runs" | bench_median); c=$(awk -v s=$side '$1==s{print $3}' "$tmp/runs" | bench_median)
  n=$(awk -v s=$side '$1==s{print $4}' "$tmp/runs" | bench_median)
  echo "median $side: $(awk -v f="$f" 'BEGIN{printf "%.2f", f / 1000}') futex calls and $(awk -v c="$c" 'BEGIN{printf "%.2f", c / 1000}') context switches per 1,000 observations, CPU $n ns per observation (2 threads)"
done
echo "load average after: $(bench_load1)"
