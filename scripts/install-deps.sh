#!/usr/bin/env bash
# Installs the Debian packages Flywheel needs to build and test; skips what is already present.
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the peers that bench/ compares against
# and the Python that remakes the test fixtures: tests/*/fixtures/make_*.py)
set -euo pipefail
build_pkgs=(gcc clang make pkg-config git ca-certificates curl
  libsqlite3-dev libyaml-dev libxxhash-dev zlib1g-dev libzstd-dev libjansson-dev libmicrohttpd-dev
  libcurl4-gnutls-dev  # the monitoring webhook (serve/curl.h: header; libcurl-gnutls.so.4 dlopen'ed)
  libpq-dev postgresql # the postgresql:// store (store/pg.h: header; libpq.so.5 dlopen'ed); tests start a server
  prometheus           # promtool: tests/serve checks /metrics with `promtool check metrics`
  libclang-rt-14-dev python3 openssl  # openssl: tests/serve/test_guard makes a TLS certificate
  chromium fonts-dejavu-core   # chromium: tests/eval/test_report_browser renders every HTML report
  openmpi-bin libopenmpi-dev  # mpicc/mpirun: `make mpi` and tests/dist (mpirun -np N flywheel train)
  haproxy)             # scripts/ha/cluster.sh: replicas behind HAProxy (tests/scale, bench/scale)
bench_pkgs=(python3-pandas python3-numpy python3-scipy python3-sklearn python3-xgboost liblinear-tools
  python3-fastapi uvicorn nginx-light wrk hyperfine time
  python3-distributed)  # bench/scale: xgboost.dask on a 2-worker LocalCluster
want=("${build_pkgs[@]}")
[[ ${1:-} == --bench ]] && want+=("${bench_pkgs[@]}")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=; [[ $(id -u) == 0 ]] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
