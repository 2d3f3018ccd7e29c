#!/usr/bin/env bash
# Installs what berth needs (scripts/setup.sh), then configures and builds it into build/.
# BERTH_SANITIZE=1 builds with ASan+UBSan into build-sanitize/.
set -euo pipefail
cd "$(dirname "$0")/.."

"./scripts/setup.sh"

build_dir=build
extra=()
if [ "${BERTH_SANITIZE:-0}" = 1 ]; then
  build_dir=build-sanitize
  extra+=(-DBERTH_SANITIZE=ON)
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" >/dev/null
ninja -C "$build_dir"
