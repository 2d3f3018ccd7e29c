#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (as root: tests make real cgroups and
# namespaces). Every test uses its own state root and cleans up after itself. Then every fuzz
# target runs for 20 s from its corpus (scripts/fuzz.sh; BERTH_SKIP_FUZZ=1 leaves that out).
# Ends with the tests this host skipped, grouped by reason, and a closing
# 'tests: N passed, N failed, N skipped'.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh
status=0
rm -f build/ctest-junit.xml
# tini reaps the shims the tests orphan on purpose, should this host's init not do it.
(cd build && tini -s -- ctest --output-on-failure --timeout 300 -j2 --output-junit "$PWD/ctest-junit.xml" "$@") ||
  status=$?
if [ "${BERTH_SKIP_FUZZ:-0}" != 1 ]; then
  FUZZ_JOBS=2 ./scripts/fuzz.sh 20 || status=1
fi
python3 scripts/test_report.py build/ctest-junit.xml || status=1
exit "$status"
