#!/usr/bin/env bash
# run.sh [BUILD_DIR] — issue 19's experiment targets, by simulation where the truth is known
# (bench/experiment/sim_experiment.c: the analysis `flywheel experiment` runs, fed event by event,
# read after every 100 events). Statistical figures, not timings: the load average does not change
# them (same seeds, same numbers), only how long the run takes; it is printed anyway. CPU-heavy
# (~25 min of one core) but load-independent: do NOT take /tmp/fw-bench.lock; run it niced,
#   nice -n 10 bash bench/experiment/run.sh
# The bandit's regret against a reference Thompson sampler: bench/experiment/bandit_regret.py
# (Debian's /usr/bin/python3 with numpy), run last.
# N_AA, N_LIFT, N_SRM (default 2000, 1000, 2000) set the numbers of experiments.
set -eu
cd "$(dirname "$0")/../.."
B=${1:-build}
make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
mkdir -p "$B/bench"
gcc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$B/bench/sim_experiment" bench/experiment/sim_experiment.c \
    "$B/libflywheel.a" -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm
S="$B/bench/sim_experiment"
N_AA=${N_AA:-2000}
N_LIFT=${N_LIFT:-1000}
N_SRM=${N_SRM:-2000}
echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD)"
"$S" aa "$N_AA" 200000 0 1
"$S" aa "$N_AA" 200000 1 1
"$S" lift "$N_LIFT" 0.05 0 2 1   # clicks alone (a family of one: the target's design)
"$S" lift "$N_LIFT" 0.05 1 2 1
"$S" lift "$N_LIFT" 0.05 0 2 3   # the same with Holm across three metrics: the family's cost
"$S" srm "$N_SRM" 1000000 0.01 3
"$S" srm "$N_SRM" 2000000 0.01 3
/usr/bin/python3 bench/experiment/bandit_regret.py "$B"
echo "== done $(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
