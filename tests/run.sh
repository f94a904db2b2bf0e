#!/usr/bin/env bash
# run.sh BUILD_DIR [AREA] — runs every test program under BUILD_DIR/tests (or BUILD_DIR/tests/AREA),
# from the project root, adds up their closing lines and prints the total "N passed, N failed".
# A program that crashes or exits non-zero without a closing line counts as one failure.
set -u
cd "$(dirname "$0")/.."
out=${1:-build}; area=${2:-}
export FLYWHEEL_BIN=${FLYWHEEL_BIN:-$PWD/$out/flywheel}
# the same binary with the test hooks compiled in (core/test_hooks.h), for the tests that need them
export FLYWHEEL_TEST_BIN=${FLYWHEEL_TEST_BIN:-$PWD/$out/flywheel-test}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# one throwaway PostgreSQL for the run (the postgresql:// store tests: tests/support/backend.h),
# stopped by its PID when the run ends; a program run on its own starts its own
if [[ -z ${FW_TEST_PG_URL:-} ]] && pg=$(tests/support/pg.sh start 2>/dev/null); then
  export FW_TEST_PG_URL=${pg% *}; fw_pg_dir=${pg#* }
  trap 'tests/support/pg.sh stop "$fw_pg_dir"' EXIT
fi
total_p=0; total_f=0; broken=()
mapfile -t progs < <(find "$out/tests/$area" -type f -perm -u+x -name 'test_*' 2>/dev/null | sort)
if ((${#progs[@]} == 0)); then echo "run.sh: no test programs under $out/tests/$area" >&2; echo "0 passed, 1 failed"; exit 1; fi
for p in "${progs[@]}"; do
  start=$EPOCHREALTIME
  log=$(mktemp)
  timeout 600 "$p" >"$log" 2>&1; rc=$?
  line=$(grep -E '^[^ ]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
  if [[ -n $line ]]; then
    np=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1/' <<<"$line")
    nf=$(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\2/' <<<"$line")
    if ((rc != 0 && nf == 0)); then nf=1; fi
  else
    np=0; nf=1
  fi
  total_p=$((total_p + np)); total_f=$((total_f + nf))
  if ((nf > 0)); then broken+=("$p"); echo "--- $p (exit $rc)"; tail -n 40 "$log"; fi
  printf '%-50s %4d passed %3d failed %6ss\n' "${p#$out/tests/}" "$np" "$nf" "$secs"
  rm -f "$log"
done
echo "[$out]"
echo "$total_p passed, $total_f failed"
((total_f == 0))
