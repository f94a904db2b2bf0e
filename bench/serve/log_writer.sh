#!/usr/bin/env bash
# log_writer.sh — the prediction log writer's system calls and CPU under load, one binary or two
# alternating: a server on the spam model (default store log, spool on), `wrk -t2 -c64` on /v1 for
# SECS, and meanwhile perf stat of the writer thread's futex and pwrite64 calls (and the process's
# futex calls), the writer thread's CPU (/proc/PID/task/TID/schedstat), flywheel_log_written_total / _batches_total, and
# NFB /v1/feedback POSTs timed with curl (the ack waits for the spool's fdatasync).
# Usage: bash bench/serve/log_writer.sh BIN_A [BIN_B] [PAIRS] [SECS]   (run from the project root;
#        needs perf with syscall tracepoints, wrk, curl; ports 18461/18462)
set -u
cd "$(dirname "$0")/../.."
source bench/serve/common.sh
a=${1:?usage: log_writer.sh BIN_A [BIN_B] [PAIRS] [SECS]}; b=${2:-}; pairs=${3:-3}; secs=${4:-10}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
spam_bodies "$tmp"; spam_home "$a" "$tmp/home" || exit 1
one() { # BIN PORT
  local bin=$1 port=$2 h=$tmp/h-$2 pid wtid
  rm -rf "$h"; cp -r "$tmp/home" "$h"
  "$bin" serve --port "$port" --threads 2 --home "$h" --alias-poll 0 >/dev/null 2>"$tmp/err" & pid=$!
  wait_port "$port" || { echo "server did not start"; return 1; }
  local rid; rid=$(curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' --data @"$tmp/v1.json" \
      "http://127.0.0.1:$port/v1/models/spam:predict" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-request-id"{print $2}')
  wtid=$(grep -l fw-log-writer /proc/$pid/task/*/comm | head -1 | cut -d/ -f5)
  cpu() { awk '{print $1}' "/proc/$pid/task/$wtid/schedstat"; } # ns on a CPU (exact, not tick-sampled)
  counts() { curl -s "http://127.0.0.1:$port/metrics" | awk '$1=="flywheel_log_written_total"{w=$2} $1=="flywheel_log_batches_total"{b=$2} END{printf "%d %d", w, b}'; }
  wrk -t2 -c64 -d"${secs}s" -s "$tmp/v1.lua" "http://127.0.0.1:$port/v1/models/spam:predict" >"$tmp/wrk" 2>&1 & local wpid=$!
  sleep 1
  local c0 n0 b0 c1 n1 b1; c0=$(cpu); read -r n0 b0 < <(counts)
  perf stat -x, -o "$tmp/pw" -e syscalls:sys_enter_futex,syscalls:sys_enter_pwrite64 -t "$wtid" -- sleep $((secs - 3)) & local p1=$!
  perf stat -x, -o "$tmp/pp" -e syscalls:sys_enter_futex -p "$pid" -- sleep $((secs - 3)) & local p2=$!
  local lat=() i
  for i in $(seq "${NFB:-40}"); do
    lat+=("$(curl -s -o /dev/null -w '%{time_total}' -X POST -H 'Content-Type: application/json' \
        -d "{\"request_id\": \"$rid\", \"event\": \"e$i\", \"value\": 1}" "http://127.0.0.1:$port/v1/feedback")")
    sleep 0.1
  done
  wait $p1 $p2; c1=$(cpu); read -r n1 b1 < <(counts); wait $wpid
  kill $pid; wait $pid 2>/dev/null
  local fw pw fp; fw=$(grep futex "$tmp/pw" | cut -d, -f1); pw=$(grep pwrite "$tmp/pw" | cut -d, -f1); fp=$(grep futex "$tmp/pp" | cut -d, -f1)
  printf '%s\n' "${lat[@]}" | sort -g | awk -v rps="$(awk '/Requests\/sec/{print $2}' "$tmp/wrk")" -v rec=$((n1 - n0)) \
      -v bat=$((b1 - b0)) -v fw="$fw" -v pw="$pw" -v fp="$fp" -v c=$((c1 - c0)) \
      '{v[NR]=$1} END{printf "req/s %s  rec/batch %.0f  writer: futex %.4f/rec pwrite %.4f/rec CPU %.2f us/rec  process futex %.4f/rec  feedback ms med %.1f p90 %.1f\n", rps, rec/bat, fw/rec, pw/rec, c/1e3/rec, fp/rec, v[int(NR/2)+1]*1000, v[int(NR*0.9)]*1000}'
}
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$pairs"); do
  if [[ -z $b ]]; then echo "A: $(one "$a" 18461)"; continue; fi
  if ((i % 2)); then echo "A: $(one "$a" 18461)"; echo "B: $(one "$b" 18462)"
  else echo "B: $(one "$b" 18462)"; echo "A: $(one "$a" 18461)"; fi
done
