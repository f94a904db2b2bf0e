#!/usr/bin/env bash
# log_copy.sh — prediction-log rows per second reaching PostgreSQL by COPY on the log writer's own
# connection (issue 20: "the prediction log reaches PostgreSQL by COPY on its own connection,
# batched"): bench/store/log_ingest.c drives the store sink the server's log thread uses
# (fw_log_sink_store) with BATCHES batches of 512 predictions + 8 feedback records; each batch
# returns once committed. A throwaway PostgreSQL (tests/support/pg.sh) is switched to fsync=on and
# full_page_writes=on (pg.sh starts it without: a test server) so a commit is as durable as in
# production. The peer is the same run into a directory home (SQLite log.db), alternating, PAIRS
# pairs; prints each pair, the median rows/s of each, the ratio PostgreSQL / SQLite, the client's
# CPU per record, and checks that every prediction row reached the table.
# Usage: flock /tmp/fw-bench.lock bash bench/scale/log_copy.sh [PAIRS] [BATCHES]   (FORCE=1: any load)
set -eu
cd "$(dirname "$0")/../.."
. bench/quiet.sh
pairs=${1:-3}
batches=${2:-400}
make -s -j2 build/libflywheel.a >/dev/null
work=$(mktemp -d)
pg=$(FW_PG_DURABLE=1 tests/support/pg.sh start)
url=${pg% *}
trap 'tests/support/pg.sh stop "${pg#* }" >/dev/null 2>&1; rm -rf "$work"' EXIT
gcc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc -o "$work/ingest" bench/store/log_ingest.c build/libflywheel.a \
    -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lpthread -lm -ldl
[ "$(psql -X -A -t "$url/postgres" -c "SHOW fsync")" = on ] || { echo "log_copy.sh: fsync is not on"; exit 1; }
bench_wait_quiet
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  $((batches * 520)) records a run" \
     "($((batches * 512)) predictions), PostgreSQL $(psql -X -A -t "$url/postgres" -c "SHOW server_version")" \
     "fsync=on synchronous_commit=$(psql -X -A -t "$url/postgres" -c "SHOW synchronous_commit")"
pm=$(head -n 1 "${pg#* }/data/postmaster.pid")
# CPU seconds of the whole server: the postmaster, its live children, and its reaped ones (backends
# that served a finished connection)
server_cpu() {
    local t
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
    for c in $(pgrep -P "$pm"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0))); done
    awk -v t="$t" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.3f", t / hz}'
}
run_pg() { # run_pg N: into a fresh database logN
    local n=$1
    psql -X -q "$url/postgres" -c "CREATE DATABASE log$n" >/dev/null
    local out rows c0 c1
    c0=$(server_cpu)
    out=$(FLYWHEEL_LOCAL_DIR="$work/local$n" "$work/ingest" "$url/log$n" "$batches")
    sleep 1 # the backend of the finished connection exits and is reaped: its CPU joins the postmaster's
    c1=$(server_cpu)
    rows=$(psql -X -A -t "$url/log$n" -c "SELECT count(*) FROM prediction_log")
    [ "$rows" = $((batches * 512)) ] || { echo "log_copy.sh: $rows prediction rows in PostgreSQL, expected $((batches * 512))" >&2; exit 1; }
    echo "$out $(awk -v a="$c0" -v b="$c1" -v n=$((batches * 520)) 'BEGIN{printf "%.2f", (b - a) * 1e6 / n}')"
}
run_sqlite() { # run_sqlite N: into a fresh directory homeN
    local n=$1
    FLYWHEEL_LOCAL_DIR="$work/local$n" "$work/ingest" "$work/home$n" "$batches"
}
# "CPU us/record  wall us/record ... [server CPU us/record]" → "rows/s client-CPU [server-CPU]"
rate() { awk '{printf "%.0f %.2f %s", 1e6 / $3, $1, $7}'; }
pg_rates=(); sq_rates=(); pg_cpu=(); sq_cpu=(); pg_srv=()
for i in $(seq "$pairs"); do
    if ((i % 2)); then a=($(run_pg "$i" | rate)); b=($(run_sqlite "$i" | rate)); else b=($(run_sqlite "$i" | rate)); a=($(run_pg "$i" | rate)); fi
    pg_rates+=("${a[0]}"); pg_cpu+=("${a[1]}"); pg_srv+=("${a[2]}"); sq_rates+=("${b[0]}"); sq_cpu+=("${b[1]}")
    echo "pair $i: PostgreSQL COPY ${a[0]} rows/s (client CPU ${a[1]} us/record, server CPU ${a[2]} us/record)" \
         "| SQLite ${b[0]} rows/s (CPU ${b[1]} us/record) (load $(bench_load1))"
done
mp=$(printf '%s\n' "${pg_rates[@]}" | bench_median); ms=$(printf '%s\n' "${sq_rates[@]}" | bench_median)
echo "median: PostgreSQL COPY $mp rows/s, SQLite $ms rows/s, ratio PostgreSQL/SQLite" \
     "$(awk -v a="$mp" -v b="$ms" 'BEGIN{printf "%.3f", a/b}'); client CPU per record (median) PostgreSQL" \
     "$(printf '%s\n' "${pg_cpu[@]}" | bench_median) us (its server $(printf '%s\n' "${pg_srv[@]}" | bench_median) us), SQLite $(printf '%s\n' "${sq_cpu[@]}" | bench_median) us"
echo "every prediction row reached PostgreSQL: checked ($((batches * 512)) a run)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
