#!/usr/bin/env bash
# choose_http.sh — measures the HTTP library choice: a libmicrohttpd hello world in its fastest mode
# (epoll + internal thread pool = cores, TURBO) against nginx answering a static 200 with a body of
# the same size, both with wrk on 127.0.0.1 with keep-alive. Prints requests/s, p99 and the ratio.
# Usage: bench/serve/choose_http.sh [seconds]   (not a test; run it by hand, it takes ~30 s)
set -eu
cd "$(dirname "$0")"
secs=${1:-5}; tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/hello_mhd" hello_mhd.c -lmicrohttpd
body=120; ncores=$(nproc)
"$tmp/hello_mhd" 18081 "$ncores" "$body" & sleep 0.3
mkdir -p "$tmp/www"; head -c $body /dev/zero | tr '\0' x > "$tmp/www/p"
cat > "$tmp/nginx.conf" <<NG
worker_processes $ncores; daemon off; pid $tmp/nginx.pid; error_log $tmp/err.log;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:18082; location / { root $tmp/www; try_files /p =404; default_type application/json; } } }
NG
nginx -c "$tmp/nginx.conf" -p "$tmp" & sleep 0.5
run() { wrk -t2 -c"$2" -d"${secs}s" --latency "http://127.0.0.1:$1/" | awk '/Requests\/sec/{r=$2} / 99%/{p=$2} END{print r, p}'; }
for c in 16 64; do
  read -r mr mp < <(run 18081 $c); read -r nr np < <(run 18082 $c)
  echo "c=$c  mhd: $mr req/s p99 $mp   nginx: $nr req/s p99 $np   mhd/nginx = $(awk -v a="$mr" -v b="$nr" 'BEGIN{printf "%.2f", a/b}')"
done
