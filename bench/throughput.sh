#!/usr/bin/env bash
# Coordinator benchmarks (issue 6, points 4 and 5; the "throughput" section of scripts/bench):
# builds the two bench programs and writes the markdown fragments that bench/make_report.py joins
# into bench/report.md:
#   bench/out/50-throughput.md (+ bench/throughput.svg)  updates/s of the real coordinator over
#                                    ZeroMQ beside the in-process bound, bytes on the wire per update
#   bench/out/51-throughput-ipc.md   the same at d = 10^3 over ipc:// (agents on the same host)
#   bench/out/52-throughput-pipelined.md  d = 10^3, 1 %-dense Deltas, agents keeping P = 1, 4, 8
#                                    Updates in flight (pipelined), over tcp:// and ipc://
#   bench/out/55-dap-vs-tap.md       coordinator CPU per update, DAP vs. TAP, group lasso
# Environment: EDGETRAIN_BENCH_BUILD (default build/release, configured with the release preset
# when absent), SECONDS_PER_CASE (default 3), AGENTS (default 1,8,16).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
# shellcheck disable=SC2086
ensure_packages $EDGETRAIN_BUILD_PACKAGES
cd "$EDGETRAIN_ROOT"
build_dir="${EDGETRAIN_BENCH_BUILD:-build/release}"
if [ ! -f "$build_dir/CMakeCache.txt" ]; then  # scripts/bench has built build/release already
  if [ "$build_dir" = build/release ]; then
    cmake --preset release >/dev/null
  else
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
fi
cmake --build "$build_dir" -j "$(nproc)" --target coordinator_throughput dap_vs_tap >/dev/null
mkdir -p bench/out
seconds="${SECONDS_PER_CASE:-3}"
echo "==> coordinator throughput (bench/out/50-throughput.md)"
"$build_dir/bench/coordinator_throughput" --dims 1000,100000,1000000 --densities 1,0.01 \
  --agents "${AGENTS:-1,8,16}" --seconds "$seconds" --out bench/out/50-throughput.md --svg bench/throughput.svg
echo "==> coordinator throughput over ipc, d = 10^3 (bench/out/51-throughput-ipc.md)"
"$build_dir/bench/coordinator_throughput" --transport ipc --dims 1000 --densities 1,0.01 \
  --agents "${AGENTS:-1,8,16}" --seconds "$seconds" --out bench/out/51-throughput-ipc.md
echo "==> coordinator throughput with pipelined agents, d = 10^3 (bench/out/52-throughput-pipelined.md)"
"$build_dir/bench/coordinator_throughput" --transport tcp,ipc --dims 1000 --densities 0.01 \
  --agents 8,16 --in-flight 1,4,8 --seconds "$seconds" --out bench/out/52-throughput-pipelined.md
echo "==> DAP vs. TAP (bench/out/55-dap-vs-tap.md)"
"$build_dir/bench/dap_vs_tap" --dims 100000,1000000 --group-size 10 --agents 2 --seconds "$seconds" \
  --out bench/out/55-dap-vs-tap.md
