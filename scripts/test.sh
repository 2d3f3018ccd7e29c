#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (as root: tests make real cgroups and
# namespaces). Every test uses its own state root and cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh
cd build
# tini reaps the shims the tests orphan on purpose, should this host's init not do it.
tini -s -- ctest --output-on-failure --timeout 300 -j2 "$@"
