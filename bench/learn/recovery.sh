#!/usr/bin/env bash
# recovery.sh — online updates vs ADWIN-triggered retraining after an abrupt change (issue 18). A
# simulation: the losses and recovery times do not depend on the machine's load, so it does NOT
# take the bench lock (run it niced). Per seed: a synthetic binary stream (8 inputs; 10,000 rows,
# then an abrupt concept change — the signs of two coefficients flip — and 20,000 more), a linear
# champion trained by `flywheel train` on 5,000 pre-change rows; then
#   flywheel: the server's online learner (FTRL from the champion's weights, batch 1) over the
#             stream, progressive validation (bench/learn/recovery_fw.c);
#   sklearn:  SGDClassifier(log_loss) fitted on the same 5,000 rows, scored row by row, its errors
#             feeding ADWIN (delta 0.002, written in bench/learn/recovery.py: river is not packaged),
#             refitted on ADWIN's window at each detection and learning each row (partial_fit)
#             between detections.
#   flywheel, refit 0: the same learner when a detected change only resets the step sizes (the
#             learner before the refit on the examples since the change point)
#   no change: both flywheel learners over a stream of the same length without the change
#             (still.csv): their mean progressive loss and how often the change test fired.
# Prints the windowed loss curves (mean over seeds) and the recovery time per seed and median.
#   nice -n 10 bash bench/learn/recovery.sh [SEEDS (5)]        (B=DIR: the build directory, default build)
set -eu
cd "$(dirname "$0")/../.."
B=${B:-build}
SEEDS=${1:-5}
[[ -f $B/libflywheel.a && -x $B/flywheel ]] || { echo "recovery.sh: $B/ missing (run make)"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
gcc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$work/recovery_fw" bench/learn/recovery_fw.c "$B/libflywheel.a" \
    -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm
echo "date: $(date -u +%FT%TZ)  commit: $(git rev-parse --short=12 HEAD)  load: $(cut -d' ' -f1-3 /proc/loadavg) (a simulation: the figures do not depend on it)"
dirs=()
for s in $(seq 1 "$SEEDS"); do
  d="$work/$s"; mkdir -p "$d"; dirs+=("$d")
  /usr/bin/python3 bench/learn/recovery.py gen "$s" "$d"
  printf 'name: m\ntask: binary\ndata:\n  train: %s/base.csv\n  label: y\n  positive: "yes"\nmetric: log_loss\n' "$d" > "$d/flywheel.yaml"
  "$B/flywheel" train "$d/flywheel.yaml" --home "$d/h" --out "$d/out" --models linear --quiet >/dev/null
  art=$(ls "$d"/out/*.fwm | head -1)
  "$work/recovery_fw" "$art" "$d/stream.csv" "$d/fw.txt" 1 0.1 > "$d/fw.resets"
  "$work/recovery_fw" "$art" "$d/stream.csv" "$d/fw0.txt" 1 0.1 0 > "$d/fw0.resets"
  "$work/recovery_fw" "$art" "$d/stream.csv" "$d/fw2.txt" 1 0.2 > "$d/fw2.resets"
  "$work/recovery_fw" "$art" "$d/still.csv" "$d/still.txt" 1 0.1 > "$d/still.resets"
  "$work/recovery_fw" "$art" "$d/still.csv" "$d/still0.txt" 1 0.1 0 > "$d/still0.resets"
  /usr/bin/python3 bench/learn/recovery.py sgd "$d"
done
/usr/bin/python3 bench/learn/recovery.py report "${dirs[@]}"
