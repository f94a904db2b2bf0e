#!/usr/bin/env bash
# p99ab.sh — alternating A/B of the c=16 p99: several flywheel builds (or configs) and nginx, each
# served in turn on the same home (spam GBDT, 100 trees, depth 6), two rounds, SECS per run. Prints
# req/s, p50, p99, the log counters and each server thread's CPU ticks (from /proc at the end), so a
# p99 difference can be tied to a thread. PIN=1 pins the server to core 1 and `wrk -t1` to core 0.
# Usage: flock /tmp/fw-bench.lock bash bench/serve/p99ab.sh SECS label=BIN[:CONFIG] ... [nginx]
#   e.g. bash bench/serve/p99ab.sh 6 nginx old=build-a/flywheel new=build-b/flywheel:log.yaml
#   (a label's BIN may be a wrapper script that sets environment variables and execs flywheel)
set -u
cd "$(dirname "$0")/../.."
secs=$1; shift
source bench/serve/common.sh
T=$(mktemp -d); H=$T/home; pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
first=""; for spec in "$@"; do [[ $spec == nginx ]] || { first=${spec#*=}; first=${first%%:*}; break; }; done
spam_home "$first" "$H" || exit 1
spam_bodies "$T"
mkdir -p "$T/www"; printf '%339s' x > "$T/www/p"
cat > "$T/nginx.conf" <<NG
worker_processes 2; daemon off; pid $T/nginx.pid; error_log $T/nginx.err;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000;
  server { listen 127.0.0.1:18399; location / { root $T/www; try_files /p =404; default_type application/json; } } }
NG
lat() { awk '/Requests\/sec/{r=$2} / 50%/{m=$2} / 99%/{p=$2} END{printf "%8.0f req/s  p50 %8s  p99 %8s", r, m, p}'; }
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  pinned: ${PIN:-no}"
for round in 1 2; do
  for spec in "$@"; do
    label=${spec%%=*}; rest=${spec#*=}; bin=${rest%%:*}; cfg=""; [[ $rest == *:* ]] && cfg=${rest#*:}
    if [[ $spec == nginx ]]; then
      label=nginx; nginx -c "$T/nginx.conf" -p "$T" & pid=$!; port=18399; path=/; lua=()
    else
      ${PIN:+taskset -c 1} "$bin" serve --port 18398 --threads 2 --home "$H" --alias-poll 0 ${cfg:+--config "$cfg"} \
          >/dev/null 2>"$T/err" & pid=$!
      port=18398; path=/v1/models/spam:predict; lua=(-s "$T/v1.lua")
    fi
    wait_port $port || { echo "$label did not start: $(tail -1 "$T/err")"; kill $pid 2>/dev/null; wait $pid 2>/dev/null; pid=; continue; }
    wrk -t2 -c16 -d1s "${lua[@]}" "http://127.0.0.1:$port$path" >/dev/null
    if [[ -n ${PIN:-} ]]; then o=$(taskset -c 0 wrk -t1 -c16 -d"${secs}s" --latency "${lua[@]}" "http://127.0.0.1:$port$path" | lat)
    else o=$(wrk -t2 -c16 -d"${secs}s" --latency "${lua[@]}" "http://127.0.0.1:$port$path" | lat); fi
    extra=""
    if [[ $label != nginx ]]; then
      extra=$(curl -s "localhost:$port/metrics" | awk '/^flywheel_log_(written|dropped|stored)_total|^flywheel_log_spool_records/{printf "%s=%s ", substr($1, 14), $2}')
      for t in /proc/$pid/task/*; do extra+=" $(cat "$t/comm")=$(awk '{print $14+$15}' "$t/stat")"; done
    fi
    printf '%-10s %s  %s\n' "$label" "$o" "$extra"
    kill $pid; wait $pid 2>/dev/null; pid=
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
