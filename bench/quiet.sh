# quiet.sh — sourced by the bench scripts that compare with a peer: bench_wait_quiet waits until
# the 1-minute load average is below QUIET_LOAD (0.5) for at most QUIET_WAIT_S seconds (600), then
# refuses (exit 3): a ratio taken on a busy machine is not trustworthy (XGBoost's spinning OpenMP
# threads and our pthreads lose time differently). FORCE=1 runs anyway and says so; record the
# load average printed with every figure.
bench_load1() { cut -d' ' -f1 /proc/loadavg; }
bench_wait_quiet() {
    local limit=${QUIET_LOAD:-0.5} waited=0 max=${QUIET_WAIT_S:-600}
    while awk -v l="$(bench_load1)" -v m="$limit" 'BEGIN{exit !(l >= m)}'; do
        if [ "${FORCE:-0}" = 1 ]; then
            echo "FORCE=1: running at load average $(bench_load1) (>= $limit): ratios are NOT quiet-machine figures"
            return 0
        fi
        if [ "$waited" -ge "$max" ]; then
            echo "refusing: load average $(bench_load1) >= $limit after waiting ${waited}s (FORCE=1 runs anyway)" >&2
            exit 3
        fi
        sleep 10
        waited=$((waited + 10))
    done
    echo "load average $(bench_load1) < $limit: quiet"
}
# median of the numbers on stdin
bench_median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
