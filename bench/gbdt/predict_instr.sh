#!/usr/bin/env bash
# predict_instr.sh [BASE_REV] — gbdt batch predict and column scorer, src/models/gbdt_predict.c as
# it is at BASE_REV (default main) against the working tree's, on a fixed model and fixed rows
# (bench_predict.c: 100 trees of depth 6, 4096 rows x 30 features, half the rows with missing
# values). Both sides are the same bench_predict and the same build/libflywheel.a; only
# gbdt_predict.c differs (each compiled here with the Makefile's release flags and linked ahead of
# the library). Prints both sides' score hashes (they must match: the change may not move a bit).
#   default: instruction counts (valgrind --tool=callgrind, inclusive Ir of predict_block, of the
#       column scorer's cache and of its calls): the same on a busy machine, so no lock and no
#       load wait; ratio new/base.
#   TIME=1: thread CPU seconds of each phase, PAIRS (default 3) alternating pairs of REPS (default
#       200) predicts, median ratio new/base; waits for a quiet machine (FORCE=1 runs anyway), then
#       holds /tmp/fw-bench.lock while it runs (~20 s).
set -eu
cd "$(dirname "$0")/../.."
BASE=${1:-main}
B=build
make -s -j2 "$B/libflywheel.a" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CF="-std=c17 -D_GNU_SOURCE -O2 -g -march=x86-64-v2 -fPIC -fvisibility=hidden -Iinclude -Isrc -I/usr/include/postgresql"
LIBS="-lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm"
git show "$BASE:src/models/gbdt_predict.c" >"$work/gbdt_predict_base.c"
cp src/models/gbdt_predict.c "$work/gbdt_predict_new.c"
gcc $CF -c -o "$work/bench_predict.o" bench/gbdt/bench_predict.c
for side in base new; do
    gcc $CF -c -o "$work/gp_$side.o" "$work/gbdt_predict_$side.c"
    gcc -o "$work/bp_$side" "$work/bench_predict.o" "$work/gp_$side.o" "$B/libflywheel.a" $LIBS
done
"$work/bp_new" make "$work" >/dev/null
echo "base=$BASE ($(git rev-parse --short "$BASE")) new=working tree; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${TIME:-0}" != 1 ]; then
    for side in base new; do
        valgrind --tool=callgrind --callgrind-out-file="$work/cg_$side" "$work/bp_$side" run "$work" 5 \
            >"$work/out_$side" 2>/dev/null
        callgrind_annotate --inclusive=yes "$work/cg_$side" >"$work/ann_$side" 2>/dev/null
    done
    ir() { awk -v f="$2" '$0 ~ f {gsub(",", "", $1); print $1; exit}' "$work/ann_$1"; }
    for fn in fw__gbdt_predict_block fw__gbdt_col_scorer col_predict; do
        b=$(ir base "[ :]$fn[ ']"); n=$(ir new "[ :]$fn[ ']")
        awk -v f="$fn" -v b="$b" -v n="$n" 'BEGIN{printf "%-24s Ir base=%d new=%d new/base=%.4f\n", f, b, n, n/b}'
    done
    echo "(predict_block: 5 calls over 4096 rows; col_scorer: the cache over 4096 rows; col_predict: 30 calls)"
    sed 's/^/base: /' "$work/out_base"; sed 's/^/new:  /' "$work/out_new"
else
    . bench/quiet.sh
    bench_wait_quiet   # before the lock: nobody waits behind a run that is waiting for quiet
    exec 9>/tmp/fw-bench.lock
    flock 9
    reps=${REPS:-200}
    pr=(); cr=(); kr=()
    val() { sed -n "s/^$1.* $2=\([0-9.]*\).*/\1/p" "$3"; }
    for i in $(seq 1 "${PAIRS:-3}"); do
        if ((i % 2)); then order="base new"; else order="new base"; fi
        for side in $order; do "$work/bp_$side" run "$work" "$reps" >"$work/out_$side"; done
        pr+=("$(awk -v b="$(val predict_block cpu_s "$work/out_base")" -v n="$(val predict_block cpu_s "$work/out_new")" 'BEGIN{printf "%.4f", n/b}')")
        kr+=("$(awk -v b="$(val col_scorer cache_cpu_s "$work/out_base")" -v n="$(val col_scorer cache_cpu_s "$work/out_new")" 'BEGIN{printf "%.4f", n/b}')")
        cr+=("$(awk -v b="$(val col_scorer cpu_s "$work/out_base")" -v n="$(val col_scorer cpu_s "$work/out_new")" 'BEGIN{printf "%.4f", n/b}')")
        echo "pair $i ($order): predict_block new/base=${pr[-1]} col cache=${kr[-1]} col calls=${cr[-1]} load=$(cut -d' ' -f1 /proc/loadavg)"
        sed 's/^/  base: /' "$work/out_base"; sed 's/^/  new:  /' "$work/out_new"
    done
    echo "median over ${PAIRS:-3} alternating pairs (thread CPU s, new/base): predict_block=$(printf '%s\n' "${pr[@]}" | bench_median) col_cache=$(printf '%s\n' "${kr[@]}" | bench_median) col_calls=$(printf '%s\n' "${cr[@]}" | bench_median) load=$(cut -d' ' -f1-3 /proc/loadavg)"
fi
hb=$(grep -o 'xxh64=[0-9a-f]*' "$work/out_base" | tr '\n' ' '); hn=$(grep -o 'xxh64=[0-9a-f]*' "$work/out_new" | tr '\n' ' ')
if [ "$hb" = "$hn" ]; then echo "scores identical: $hn"; else echo "SCORES DIFFER: base $hb new $hn"; exit 1; fi
