#!/usr/bin/env bash
# claim_latency.sh — how long a batch worker takes to claim a partition from PostgreSQL (issue 20:
# "partition claim <= 5 ms"): a throwaway PostgreSQL (tests/support/pg.sh), a small gbdt, W workers
# (default 2) at once over `--partition claim/N` (default 200) of a 20,000-row input, so claims
# dominate; each worker prints its claim mean and max (the time of one SELECT ... FOR UPDATE SKIP
# LOCKED, its BEGIN, and the count when none is free); the script prints them and the load.
# KIND=sqlite: a directory (SQLite) home instead, whose claims are an flock per partition under
# <home>/locks/ (the one-machine path).
# Usage: flock /tmp/fw-bench.lock bash bench/scale/claim_latency.sh [W] [N]   (FORCE=1: any load)
#        KIND=sqlite flock /tmp/fw-bench.lock bash bench/scale/claim_latency.sh [W] [N]
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
W=${1:-2}
N=${2:-200}
make -s -j2 build/flywheel >/dev/null
FW=$PWD/build/flywheel
KIND=${KIND:-postgresql}
work=$(mktemp -d)
export FLYWHEEL_LOCAL_DIR=$work/local   # the job locks of a URL home go here, not into the tree
if [ "$KIND" = sqlite ]; then
    home=$work/sq
    trap 'rm -rf "$work"' EXIT
else
    pg=$(tests/support/pg.sh start)
    url=${pg% *}
    trap 'tests/support/pg.sh stop "${pg#* }" >/dev/null 2>&1; rm -rf "$work"' EXIT
    psql -X -q "$url/postgres" -c "CREATE DATABASE claims" >/dev/null
    home=$url/claims
fi
"$FW" train examples/pima/pima.csv --label diabetes --models gbdt --quiet --no-register --home "$work/h" --out "$work/m" >/dev/null
head -n 1 examples/pima/pima.csv > "$work/in.csv"
for _ in $(seq 1 26); do tail -n +2 examples/pima/pima.csv; done >> "$work/in.csv"
bench_wait_quiet
echo "== $KIND home: $W workers over claim/$N of $(($(wc -l < "$work/in.csv") - 1)) rows, load average $(bench_load1)"
for w in $(seq 1 "$W"); do
    "$FW" batch --model "$work/m/pima.fwm" --input "$work/in.csv" --output "$work/out.csv" --partition "claim/$N" \
        --threads 1 --timestamp 1700000000000 --home "$home" 2>&1 | grep 'partition claims' &
done
wait
"$FW" batch merge --output "$work/out.csv" --partitions "$N" 2>&1
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
