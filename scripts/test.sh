#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (as root: tests make real cgroups and
# namespaces). Every test uses its own state root and cleans up after itself. Ends with the
# tests this host skipped, grouped by reason, and a closing 'tests: N passed, N failed, N skipped'.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh
cd build
rm -f ctest-junit.xml
# tini reaps the shims the tests orphan on purpose, should this host's init not do it.
status=0
tini -s -- ctest --output-on-failure --timeout 300 -j2 --output-junit "$PWD/ctest-junit.xml" "$@" || status=$?
python3 ../scripts/test_report.py ctest-junit.xml || status=1
exit "$status"
