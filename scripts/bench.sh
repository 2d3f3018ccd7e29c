#!/usr/bin/env bash
# Builds and runs the benchmarks (as root). Figures go in docs/benchmarks.md.
#   scripts/bench.sh [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >/dev/null
tini -s -- ./build/bench/bench_run_to_exit "${1:-200}"
echo
tini -s -- ./build/bench/bench_container_start "${1:-100}"
echo
tini -s -- ./build/bench/bench_stack_daemon 200 1000
echo
tini -s -- ./build/bench/bench_network 512 2000 50
echo
tini -s -- ./build/bench/bench_oci_run 100
echo
tini -s -- ./build/bench/bench_oci_wasm_run 30
echo
tini -s -- ./build/bench/bench_wasm_speed 100
echo
tini -s -- ./build/bench/bench_wasm_cold_start 100
echo
tini -s -- ./build/bench/bench_functions_call 100000
./build/bench/bench_http_trigger 5 32
