#!/usr/bin/env bash
# srm.sh [BUILD_DIR] — issue 19's SRM target for the anytime-valid SRM test (experiment/srm_seq.h):
# A/A false alarms with the test read after every unit, and the units needed to catch 1% of the
# treatment's exposures dropped. Simulation (figures independent of load): NO bench lock; run nice.
# SIMS_AA (default 2000), SIMS_DROP (200), CONC (prior concentration, default 1e5).
set -eu
cd "$(dirname "$0")/../.."
B=${1:-build}
make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
mkdir -p "$B/bench"
gcc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$B/bench/sim_srm" bench/experiment/sim_srm.c "$B/libflywheel.a" -lm
S="nice -n 10 $B/bench/sim_srm"
C=${CONC:-100000}
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD)"
$S aa "${SIMS_AA:-2000}" 2000000 "$C" 0.001 1
$S drop "${SIMS_DROP:-200}" 20000000 0.01 "$C" 0.001 2
echo "== done $(date -u +%Y-%m-%dT%H:%M:%SZ)"
