#!/usr/bin/env bash
# bench/registry/run.sh [BUILD_DIR] [NAMES] [VERSIONS] — the registry at scale (issue 4):
# NAMES (default 10000) model names x VERSIONS (default 3) versions registered through the library
# (bench/registry/bulk_load.c), then wall times of `flywheel models list` (target < 200 ms) and of
# registering one more version (target < 20 ms) through the library and through the CLI
# (`flywheel models import`, which includes process start and store open). Prints a table.
# Run under the shared lock with the load noted:
#   flock /tmp/fw-bench.lock bash bench/registry/run.sh build
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/quiet.sh   # waits for load < 0.5 or refuses; FORCE=1 runs anyway
bench_wait_quiet
build=${1:-build}
names=${2:-10000}
versions=${3:-3}
py=/usr/bin/python3
[ -x "$build/flywheel" ] && [ -f "$build/libflywheel.a" ] || { echo "run.sh: build first: make BUILD=$build" >&2; exit 1; }
work=$(mktemp -d /tmp/fw-bench-registry.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -std=c17 -D_GNU_SOURCE -O2 -Iinclude -Isrc bench/registry/bulk_load.c "$build/libflywheel.a" \
   -lsqlite3 -lyaml -lxxhash -lz -lzstd -ljansson -lmicrohttpd -lpthread -lm -o "$work/bulk_load"
home="$work/home"
echo "# registry bench: $names names x $versions versions, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$work/bulk_load" "$home" "$names" "$versions" 0 | sed 's/^/# /'
"$work/bulk_load" "$home" 0 0 21 > "$work/lib.txt"   # library: 21 fresh registrations, list x5
mkdir -p "$work/fresh"
"$work/bulk_load" --write "$work/fresh" 11
echo "# store: $(du -sh "$home/flywheel.db" | cut -f1) database, $(find "$home/artifacts" -name '*.fwm' | wc -l) artifact files"
FW="$build/flywheel" HOME_DIR="$home" FRESH="$work/fresh" LIB="$work/lib.txt" $py - <<'PY'
import os, statistics, subprocess, time
fw, home, fresh = os.environ["FW"], os.environ["HOME_DIR"], os.environ["FRESH"]
def timed(args, n):
    out = []
    for i in range(n):
        a = [x.replace("{i}", str(i)) for x in args]
        t = time.perf_counter()
        p = subprocess.run([fw] + a + ["--home", home], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out.append((time.perf_counter() - t) * 1e3)
        if p.returncode != 0:
            raise SystemExit("failed: %s: %s" % (" ".join(a), p.stderr.decode()))
    return statistics.median(out), max(out)
rows = []
lib = dict((l.split()[0], l.split()[1:]) for l in open(os.environ["LIB"]))
rows.append(("library fw_registry_list (all names)", float(lib["list_ms"][0]), float(lib["list_ms"][1]), 200))
rows.append(("library fw_registry_register (new bytes, fsync)", float(lib["register_ms"][0]), float(lib["register_ms"][2]), 20))
subprocess.run([fw, "--version"], stdout=subprocess.DEVNULL)  # warm the page cache
rows.append(("flywheel models list", *timed(["models", "list"], 7), 200))
rows.append(("flywheel models list --json", *timed(["models", "list", "--json"], 5), 200))
rows.append(("flywheel models list model-00042 (versions)", *timed(["models", "list", "model-00042"], 7), 200))
rows.append(("flywheel models show model-09999@2", *timed(["models", "show", "model-09999@2"], 7), 200))
rows.append(("flywheel models import (one more version)", *timed(["models", "import", fresh + "/fresh-{i}.fwm", "--name", "model-00007"], 11), 20))
print("| operation | median ms | max ms | target ms | met |")
print("|---|---:|---:|---:|---|")
for name, med, mx, target in rows:
    print("| %s | %.1f | %.1f | < %d | %s |" % (name, med, mx, target, "yes" if med < target else "NO"))
PY
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
