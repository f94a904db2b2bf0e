#!/usr/bin/env bash
# run.sh [BUILD_DIR] — the shared text paths (src/core: dtoa, json_out, decimal) against the code they
# replaced, in the same run: BASE (default 47ad80b, main before issue 16's text work) is unpacked
# with git archive, its batch/format.c, serve/numfmt.c, data/scalar.c and the server's JSON string
# writer are compiled with their symbols renamed old_*, and bench_text runs each workload on the
# old and the new code, alternating, 5 pairs, median process CPU ns per value.
#   ratio = new / old  (below 1: the new code is cheaper)
# CALLGRIND=1 also counts instructions (valgrind callgrind, one short run per side): exact on a
# busy machine. LIB=path/libflywheel.a skips the build. Waits for load < 0.5 or refuses (FORCE=1 runs anyway; the CPU-time figures are
# then per process, not wall clock). Run it under the shared lock:
#   flock /tmp/fw-bench.lock bash bench/core/run.sh
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
bench_wait_quiet
B=${1:-build-bench}
BASE=${BASE:-47ad80b}
if [ -z "${LIB:-}" ]; then # LIB=path/libflywheel.a uses a library already built from this tree
    make -s -j2 BUILD="$B" "$B/libflywheel.a" >/dev/null
    LIB="$B/libflywheel.a"
fi
D="$B/bench/core"
rm -rf "$D/base"
mkdir -p "$D/base"
git archive "$BASE" src include | tar -x -C "$D/base"
CF="-std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -w"
BI="-I$D/base/include -I$D/base/src"
gcc $CF $BI -Dfw__fmt_double=old_fmt_double -Dfw__csv_put=old_csv_put -Dfw__json_put=old_json_put \
    -c "$D/base/src/batch/format.c" -o "$D/old_format.o"
gcc $CF $BI -Dfw__fmt_g17=old_fmt_g17 -Dfw__parse_short_decimal=old_parse_short_decimal \
    -c "$D/base/src/serve/numfmt.c" -o "$D/old_numfmt.o"
gcc $CF $BI -Dfw_parse_number=old_parse_number -Dfw_parse_timestamp=old_parse_timestamp \
    -Dfw_default_missing=old_default_missing -Dfw_default_n_missing=old_default_n_missing \
    -Dfw_is_missing=old_is_missing -c "$D/base/src/data/scalar.c" -o "$D/old_scalar.o"
# the server's string writer (utf8_len + fw__json_str) out of BASE's server.c
{
    printf '#include "core/buf.h"\n#include <stddef.h>\n'
    sed -n '/^static size_t utf8_len(/,/^}/p; /^void fw__json_str(/,/^}/p' "$D/base/src/serve/server.c" |
        sed 's/fw__json_str/old_json_str/'
} >"$D/old_json_str.c"
gcc $CF $BI -c "$D/old_json_str.c" -o "$D/old_json_str.o"
gcc -std=c17 -D_GNU_SOURCE -O2 -march=x86-64-v2 -Iinclude -Isrc -o "$D/bench_text" bench/core/bench_text.c \
    "$D"/old_*.o "$LIB" -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(git rev-parse --short HEAD) vs $BASE"
for w in fmt_batch fmt_serve json_batch json_serve parse_csv parse_json; do
    : >"$D/old.txt"
    : >"$D/new.txt"
    for pair in 1 2 3 4 5; do
        "$D/bench_text" "$w" old | sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p' >>"$D/old.txt"
        "$D/bench_text" "$w" new | sed -n 's/.*ns_per_op=\([0-9.]*\).*/\1/p' >>"$D/new.txt"
    done
    o=$(bench_median <"$D/old.txt")
    n=$(bench_median <"$D/new.txt")
    line="$w old_ns=$o new_ns=$n ratio=$(awk -v o="$o" -v n="$n" 'BEGIN {printf "%.3f", n / o}')"
    if [ "${CALLGRIND:-0}" = 1 ]; then
        # instructions per value: (20 passes - 0 passes) / (20 * 4096), the set-up netted out
        ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$D/bench_text" "$w" "$1" "$2" 2>&1 |
            sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
        io=$(awk -v a="$(ir old 20)" -v b="$(ir old 0)" 'BEGIN {printf "%.1f", (a - b) / 81920}')
        in=$(awk -v a="$(ir new 20)" -v b="$(ir new 0)" 'BEGIN {printf "%.1f", (a - b) / 81920}')
        line="$line instr_old=$io instr_new=$in instr_ratio=$(awk -v o="$io" -v n="$in" 'BEGIN {printf "%.3f", n / o}')"
    fi
    echo "$line (load $(cut -d' ' -f1 /proc/loadavg))"
done
