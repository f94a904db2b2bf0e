#!/usr/bin/env bash
# run.sh — runs libFuzzer targets for a while each (niced, one at a time), from the project root:
#   fuzz/run.sh SECONDS [TARGET ...]      (default: every build-fuzz/fuzz_* target)
# The working corpus grows in build-fuzz/work/<target>/ (seeded from fuzz/corpus/<target>/);
# crashers, leaks and timeouts land in build-fuzz/crashes/<target>/. Build first with `make fuzz`.
# FUZZ_KEEP_GOING=1 runs in libFuzzer's fork mode and keeps going past crashes (use it while a
# known crasher is still open: fuzz/known/).
set -u
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
secs=${1:-300}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for b in build-fuzz/fuzz_*; do
        case "$b" in *-replay|*.a) continue ;; esac
        targets+=("${b#build-fuzz/fuzz_}")
    done
fi
for t in "${targets[@]}"; do
    bin=build-fuzz/fuzz_$t
    [ -x "$bin" ] || { echo "run.sh: $bin missing (make fuzz)"; continue; }
    mkdir -p "build-fuzz/work/$t" "build-fuzz/crashes/$t"
    [ -d "fuzz/corpus/$t" ] && cp -n fuzz/corpus/$t/* "build-fuzz/work/$t/" 2>/dev/null
    dict=""
    keep=""
    [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && keep="-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1"
    [ -f "fuzz/$t.dict" ] && dict="-dict=fuzz/$t.dict"
    echo "== $t: ${secs}s $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
    nice -n 10 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 $dict $keep -artifact_prefix="build-fuzz/crashes/$t/" \
        "build-fuzz/work/$t" > "build-fuzz/$t.log" 2>&1
    echo "== $t: exit $? — $(grep -c '^#' "build-fuzz/$t.log") progress lines, crashes: $(ls build-fuzz/crashes/$t | wc -l)"
    tail -3 "build-fuzz/$t.log"
done
