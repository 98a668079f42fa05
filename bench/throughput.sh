#!/usr/bin/env bash
# Coordinator benchmarks (issue 6, points 4 and 5): builds the two bench programs in the release
# preset and writes the markdown fragments that scripts/bench assembles into bench/report.md:
#   bench/out/throughput.md (+ throughput.svg)  updates/s of the real coordinator over ZeroMQ beside
#                                               the in-process bound, bytes on the wire per update
#   bench/out/dap_vs_tap.md                     coordinator CPU per update, DAP vs TAP, group lasso
# Environment: BUILD_DIR (default build/release, configured with the release preset when absent),
# SECONDS_PER_CASE (default 3), AGENTS (default 1,8).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
# shellcheck disable=SC2086
ensure_packages $EDGETRAIN_BUILD_PACKAGES
cd "$EDGETRAIN_ROOT"
build_dir="${BUILD_DIR:-build/release}"
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  if [ "$build_dir" = build/release ]; then
    cmake --preset release >/dev/null
  else
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
fi
cmake --build "$build_dir" -j "$(nproc)" --target coordinator_throughput dap_vs_tap >/dev/null
mkdir -p bench/out
seconds="${SECONDS_PER_CASE:-3}"
echo "==> coordinator throughput (bench/out/throughput.md)"
"$build_dir/bench/coordinator_throughput" --dims 1000,100000,1000000 --densities 1,0.01 \
  --agents "${AGENTS:-1,8}" --seconds "$seconds" --out bench/out/throughput.md --svg bench/out/throughput.svg
echo "==> DAP vs TAP (bench/out/dap_vs_tap.md)"
"$build_dir/bench/dap_vs_tap" --dims 100000,1000000 --group-size 10 --agents 2 --seconds "$seconds" \
  --out bench/out/dap_vs_tap.md
