#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (as root: tests make real cgroups and
# namespaces). Every test uses its own state root and cleans up after itself. Then every fuzz
# target runs for 20 s (scripts/fuzz.sh; BERTH_SKIP_FUZZ=1 leaves that out).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh
cd build
# tini reaps the shims the tests orphan on purpose, should this host's init not do it.
tini -s -- ctest --output-on-failure --timeout 300 -j2 "$@"
cd ..
if [ "${BERTH_SKIP_FUZZ:-0}" != 1 ]; then
  ./scripts/fuzz.sh 20
fi
