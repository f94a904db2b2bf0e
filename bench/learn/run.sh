#!/usr/bin/env bash
# run.sh — the promotion gate's promises: first the gate alone under a true null, by simulation
# (bench/learn/gate_sim.c: DeLong, paired losses, paired bootstrap), then on real tables
# (bench/learn/real.c; docs/LEARNING.md):
# spam (binary, roc_auc: DeLong), satellite (multiclass, accuracy: paired per-row losses) and
# diamonds (regression, rmse: paired bootstrap), each with
#   change — an injected concept change (labels flipped / shifted to the next class / prices x 1.5
#            where one column is above its median): the challenger must be promoted in every seed;
#   same   — no change, the challenger trained on as many rows of the same distribution;
#   noisy  — the challenger's training labels shuffled (the held-out rows clean).
# Every promotion is checked on the table's other rows (in neither sample): a challenger that is
# not better there is a FALSE promotion, whose rate must stay <= 5%; a fresh fit that is truly
# better there (possible without a change: two fits differ) is counted apart.
# Counts are deterministic (fixed seeds) and do not depend on the machine's load; the seconds per
# retrain do (the load average is printed). Run it under the shared lock, after `make`:
#   flock /tmp/fw-bench.lock bash bench/learn/run.sh [SEEDS_CHANGE (10)] [SEEDS_SAME (100)] [SEEDS_NOISY (20)]
# (B=DIR: the build directory, default build)
set -eu
cd "$(dirname "$0")/../.."
seeds_change=${1:-10}; seeds_null=${2:-100}; seeds_noisy=${3:-20}
B=${B:-build}   # the build directory (B=build-bench: make BUILD=build-bench first)
LIBS="-lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm"
[[ -f $B/libflywheel.a && -x $B/flywheel ]] || { echo "run.sh: $B/ missing (run make)"; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
gcc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$tmp/real" bench/learn/real.c "$B/libflywheel.a" $LIBS
gcc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$tmp/gate_sim" bench/learn/gate_sim.c "$B/libflywheel.a" $LIBS
echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short=12 HEAD)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
# the gate alone under a true null (bench/learn/gate_sim.c): false-promotion rate per method
"$tmp/gate_sim" "${GATE_SEEDS:-2000}" 500
"$tmp/real" "${FW_DATASETS:-../shared/datasets}" "$PWD/$B/flywheel" "$tmp" "$seeds_change" "$seeds_null" "$seeds_noisy"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
