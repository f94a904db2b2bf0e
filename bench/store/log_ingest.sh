#!/usr/bin/env bash
# log_ingest.sh — the prediction log's ingest cost through the store interface against a peer tree
# (e.g. the commit before it): bench/store/log_ingest.c is built against each tree's src/ headers
# and build/libflywheel.a, then run alternately, PAIRS times, each run into a fresh home; prints
# each pair, the median CPU us per record of each side and the ratio THIS / PEER (CPU time: it
# barely moves with other jobs on the machine, wall time does).
# MODE=spool: the writer's spool append, the spool's decode and the store sink (log_ingest.c), 1 KB
# inputs; MODE=store (default): the store sink alone.
# Usage: flock /tmp/fw-bench.lock bash bench/store/log_ingest.sh PEER_TREE [PAIRS] [BATCHES]
#        (PEER_TREE: a source tree with `make` done, e.g. `git archive <commit> | tar -x -C DIR`)
#        Waits for the 1-minute load to drop below 0.5 (up to 5 min) unless FORCE=1.
set -u
cd "$(dirname "$0")/../.."
peer=${1:?usage: log_ingest.sh PEER_TREE [PAIRS] [BATCHES]}; pairs=${2:-5}; batches=${3:-200}
LIBS="-lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for side in this peer; do
  t=$PWD; [[ $side == peer ]] && t=$peer
  [[ -f $t/build/libflywheel.a ]] || { echo "log_ingest.sh: $t/build/libflywheel.a missing (run make there)"; exit 1; }
  gcc -std=c17 -D_GNU_SOURCE -O2 -I"$t/include" -I"$t/src" -o "$tmp/ingest-$side" bench/store/log_ingest.c \
      "$t/build/libflywheel.a" $LIBS || exit 1
done
load() { cut -d' ' -f1 /proc/loadavg; }
if [[ ${FORCE:-0} != 1 ]]; then
  for _ in $(seq 60); do awk -v l="$(load)" 'BEGIN{exit !(l < 0.5)}' && break; sleep 5; done
  awk -v l="$(load)" 'BEGIN{exit !(l < 0.5)}' || { echo "log_ingest.sh: load $(load) >= 0.5 (FORCE=1 to run anyway)"; exit 1; }
fi
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  $((batches * 520)) records a run, MODE=${MODE:-store}"
run() { rm -rf "$tmp/h"; "$tmp/ingest-$1" "$tmp/h" "$batches" "${MODE:-store}" | awk '{print $1}'; }
a=(); b=()
for i in $(seq "$pairs"); do
  if ((i % 2)); then x=$(run this); y=$(run peer); else y=$(run peer); x=$(run this); fi
  a+=("$x"); b+=("$y")
  echo "pair $i: this $x us/record  peer $y us/record"
done
med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ma=$(med "${a[@]}"); mb=$(med "${b[@]}")
echo "median CPU per record: this $ma us, peer $mb us, ratio this/peer $(awk -v a="$ma" -v b="$mb" 'BEGIN{printf "%.3f", a/b}')  (load after: $(cut -d' ' -f1-3 /proc/loadavg))"
