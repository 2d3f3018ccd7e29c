#!/usr/bin/env bash
# Builds and runs the benchmarks (as root). Figures go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh >/dev/null
tini -s -- ./build/bench/bench_run_to_exit "${1:-200}"
