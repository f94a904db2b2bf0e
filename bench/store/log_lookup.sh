#!/usr/bin/env bash
# log_lookup.sh — lookups by request id in a prediction log of ROWS rows, this tree against a peer
# tree (e.g. the commit before the run index, log schema 3): bench/store/log_lookup.c is built
# against each tree's src/ headers and build/libflywheel.a; each side fills its own home under
# DIR once (kept: a second call with the same DIR only looks up), then the two sides' lookups run
# alternately PAIRS times. Prints each run, then per kind (hit among the newest 1%, hit among the
# oldest 1%, miss, feedback of an unknown id) the median CPU us per lookup of each side and the
# ratio THIS / PEER, and this side's index seeks per lookup (CPU time: lookups are synchronous).
# Usage: flock /tmp/fw-bench.lock bash bench/store/log_lookup.sh PEER_TREE ROWS [DIR] [LOOKUPS] [PAIRS]
#        Waits for the 1-minute load to drop below 0.5 (up to 5 min) unless FORCE=1. The fill of
#        10M rows takes minutes and ~2.5 GB a side: fill outside the lock first (FILL_ONLY=1).
set -u
cd "$(dirname "$0")/../.."
peer=${1:?usage: log_lookup.sh PEER_TREE ROWS [DIR] [LOOKUPS] [PAIRS]}; rows=${2:?rows}
dir=${3:-/tmp/fw-log-lookup}; lookups=${4:-2000}; pairs=${5:-3}
LIBS="-lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm"
mkdir -p "$dir"
for side in this peer; do
  t=$PWD; [[ $side == peer ]] && t=$peer
  [[ -f $t/build/libflywheel.a ]] || { echo "log_lookup.sh: $t/build/libflywheel.a missing (run make there)"; exit 1; }
  gcc -std=c17 -D_GNU_SOURCE -O2 -I"$t/include" -I"$t/src" -o "$dir/lookup-$side" bench/store/log_lookup.c \
      "$t/build/libflywheel.a" $LIBS || exit 1
done
for side in this peer; do
  [[ -f $dir/$side-$rows.filled ]] && continue
  echo "filling $side: $rows rows"
  nice -n 10 "$dir/lookup-$side" "$dir/$side-$rows" "$rows" 1 | grep '^fill' && touch "$dir/$side-$rows.filled"
done
[[ ${FILL_ONLY:-0} == 1 ]] && exit 0
load() { cut -d' ' -f1 /proc/loadavg; }
if [[ ${FORCE:-0} != 1 ]]; then
  for _ in $(seq 60); do awk -v l="$(load)" 'BEGIN{exit !(l < 0.5)}' && break; sleep 5; done
  awk -v l="$(load)" 'BEGIN{exit !(l < 0.5)}' || { echo "log_lookup.sh: load $(load) >= 0.5 (FORCE=1 to run anyway)"; exit 1; }
fi
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  $rows rows, $lookups lookups of each kind a run"
for i in $(seq "$pairs"); do
  order="this peer"; ((i % 2)) || order="peer this"
  for side in $order; do
    "$dir/lookup-$side" "$dir/$side-$rows" "$rows" "$lookups" | grep -v '^fill' | sed "s/^/pair $i $side: /" | tee -a "$dir/runs.$$"
  done
done
med() { sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
for kind in "hit fresh" "hit old" "miss" "feedback miss"; do
  a=$(grep "this: $kind " "$dir/runs.$$" | sed "s/.*this: $kind *//" | awk '{print $1}' | med)
  b=$(grep "peer: $kind " "$dir/runs.$$" | sed "s/.*peer: $kind *//" | awk '{print $1}' | med)
  s=$(grep "this: $kind " "$dir/runs.$$" | sed "s/.*this: $kind *//" | awk '{print $4}' | med)
  printf '%-13s this %8.1f us  peer %8.1f us  ratio %.3f  (this: %s seeks a lookup)\n' "$kind" "$a" "$b" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN{print (b > 0) ? a / b : 0}')" "$s"
done
rm -f "$dir/runs.$$"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
