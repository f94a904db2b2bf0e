#!/usr/bin/env bash
# run.sh — the detectors' statistical promises, measured (docs/MONITORING.md, "Statistics"):
#   1. false alarms per 100,000 predictions on no-change streams of 50 synthetic columns (sim fa),
#      beside the naive peer rule (uncorrected chi-square p < 0.05 per 500-row window);
#   2. detection delays of injected changes (sim delay);
#   3. real tables (bench/monitor/real.c): reference from a random half, the other half streamed,
#      no change and with injected changes;
#   4. the hot path's CPU ns per prediction for 50 columns (sim cost) — the only timed part: it waits
#      for the 1-minute load to drop below 0.5 (up to 5 min) unless FORCE=1, and prints the load.
# Counts 1-3 are deterministic (fixed seeds) and do not depend on the machine's load.
# Usage: bash bench/monitor/run.sh [ROWS (5000000)] [TRIALS (200)]   (after `make`)
set -u
cd "$(dirname "$0")/../.."
rows=${1:-5000000}; trials=${2:-200}
LIBS="-lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm"
[[ -f build/libflywheel.a ]] || { echo "run.sh: build/libflywheel.a missing (run make)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for p in sim real; do
  gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc -o "$tmp/$p" "bench/monitor/$p.c" build/libflywheel.a $LIBS || exit 1
done
echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short=12 HEAD)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$tmp/sim" fa "$rows" 1 || exit 1
SIM_WINDOW=1000 "$tmp/sim" fa "$rows" 2 || exit 1   # the monitor's default window
"$tmp/sim" delay "$trials" 1 || exit 1
SIM_WINDOW=1000 "$tmp/sim" delay "$trials" 2 || exit 1
data=${FW_DATASETS:-../shared/datasets}
for f in diamonds spam satellite; do
  [[ -f $data/$f.csv ]] || { echo "($data/$f.csv missing: skipped)"; continue; }
  "$tmp/real" "$data/$f.csv" 20 || exit 1
  "$tmp/real" "$data/$f.csv" 5 500 inject || exit 1
done
load() { cut -d' ' -f1 /proc/loadavg; }
if [[ ${FORCE:-0} != 1 ]]; then
  for _ in $(seq 60); do awk -v l="$(load)" 'BEGIN{exit !(l < 0.5)}' && break; sleep 5; done
  awk -v l="$(load)" 'BEGIN{exit !(l < 0.5)}' || { echo "run.sh: load $(load) >= 0.5: cost not measured (FORCE=1 to run anyway)"; exit 0; }
fi
echo "cost, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in 1 2 3; do "$tmp/sim" cost 2000000; done
