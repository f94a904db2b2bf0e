# canary_serve.sh — the server set-up that isolation.sh and rollback.sh share (sourced from the
# project root, B set to the build directory): builds the test binary ($B/flywheel-test: its
# FLYWHEEL_TEST_CANARY_FAULT makes a canary hang, slow or fail), waits for a load average < 0.5
# (bench/quiet.sh: refuses after 10 minutes; FORCE=1 runs anyway), makes the temporary directory
# $T (removed at exit, a running server killed), the models directory $M with spam versions 1 and
# 2 (the same linear model; each script writes its own aliases.json and any other version), $T/p.lua (wrk POSTs one instance) and sources
# bench/serve/common.sh (wait_port). Then:
#   start CONFIG FAULT [PORT] — `flywheel-test serve --threads 2 --models-dir $M --config CONFIG`
#       with FLYWHEEL_TEST_CANARY_FAULT=FAULT on PORT (default: a fresh random port, so no wait
#       for the last server's sockets), in the background: $pid, $P; exits if it does not start;
#       SRV_PREFIX (e.g. "taskset -c 0") is put before the command
#   stop                      — kills it and waits
make -s -j2 BUILD="$B" "$B/flywheel-test" >/dev/null || exit 1
BIN=$PWD/$B/flywheel-test
source bench/quiet.sh
bench_wait_quiet
T=$(mktemp -d); pid=
trap '[[ -n $pid ]] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
M=$T/models; mkdir -p "$M/spam"
echo '{"task":"binary","inputs":["a","b"],"weights":[1.0,-2.0],"bias":0.1,"classes":["ham","spam"]}' > "$M/spam/1.json"
echo '{"task":"binary","inputs":["a","b"],"weights":[1.0,-2.0],"bias":0.1,"classes":["ham","spam"]}' > "$M/spam/2.json"
printf 'wrk.method="POST"\nwrk.headers["Content-Type"]="application/json"\nwrk.body="{\\"instances\\":[{\\"a\\":3,\\"b\\":1}]}"\n' > "$T/p.lua"
source bench/serve/common.sh
start() {
  P=${3:-$((18413 + RANDOM % 2000))}
  FLYWHEEL_TEST_CANARY_FAULT=$2 ${SRV_PREFIX:-} "$BIN" serve --port $P --threads 2 --models-dir "$M" --config "$1" >/dev/null 2>"$T/err" & pid=$!
  wait_port $P || { echo "server did not start: $(tail -2 "$T/err")"; exit 1; }
}
stop() { kill $pid; wait $pid 2>/dev/null; pid=; }
