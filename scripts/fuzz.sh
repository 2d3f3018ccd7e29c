#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang 19, ASan+UBSan) into build-fuzz/ and runs each for
# SECONDS (default 20) from its seed corpus in fuzz/corpus/<name>/.
#
#   scripts/fuzz.sh [SECONDS] [--merge] [TARGET...]
#
# New inputs a run finds go to a temporary directory, which is removed afterwards; with --merge
# the ones that add coverage are merged into fuzz/corpus/<name>/ (review them before a commit:
# seeds stay small). A crash, leak, timeout or sanitizer report fails the script, naming the
# target; libFuzzer's reproducer (crash-*, leak-*, timeout-*) is kept in build-fuzz/findings/.
# Targets run one after the other, niced; FUZZ_JOBS=2 runs two at a time.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
merge=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --merge) merge=1 ;;
    ''|*[!0-9]*) targets+=("$arg") ;;
    *) seconds=$arg ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
for t in "${targets[@]}"; do
  [ -f "fuzz/$t.cpp" ] || { echo "fuzz.sh: no target \"$t\" (fuzz/$t.cpp)" >&2; exit 2; }
done

for tool in clang-19 clang++-19; do
  command -v "$tool" >/dev/null || { echo "fuzz.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 2; }
done
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# -O1 and line tables only (as libFuzzer suggests): a sanitized -O2 -g build costs CI minutes.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS_FUZZ="-O1 -gline-tables-only" -DBERTH_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 "${launcher[@]}" >/dev/null
nice ninja -C build-fuzz "${targets[@]/#/fuzz_}"

findings=$PWD/build-fuzz/findings
mkdir -p "$findings"
work=$(mktemp -d /tmp/berth-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

run_one() {
  local t=$1 new=$work/$1
  mkdir -p "$new"
  # The first corpus directory receives new inputs: the temporary one, never the tree.
  (cd "$findings" && nice -n 19 "../fuzz_$t" "$new" "$PWD/../../fuzz/corpus/$t" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$findings/$t-") >"$work/$t.log" 2>&1
}

failed=()
summary() {
  local t=$1 rc=$2
  local execs cov
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1 | grep -o '[0-9]*$' || echo '?')
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz.sh: %-14s ok      %ss, %s execs, coverage %s\n' "$t" "$seconds" "$execs" "$cov"
  else
    printf 'fuzz.sh: %-14s FAILED  (exit %s); its report:\n' "$t" "$rc"
    grep -E -A40 '^==[0-9]+==ERROR|runtime error|^SUMMARY|ERROR: libFuzzer|Test unit written' "$work/$t.log" | head -80 || tail -40 "$work/$t.log"
    failed+=("$t")
  fi
  if [ "$merge" = 1 ] && [ "$rc" -eq 0 ]; then
    nice -n 19 "build-fuzz/fuzz_$t" -merge=1 -artifact_prefix="$findings/$t-" "fuzz/corpus/$t" "$work/$t" >/dev/null 2>&1
  fi
}

jobs=${FUZZ_JOBS:-1}
i=0
while [ $i -lt ${#targets[@]} ]; do
  batch=("${targets[@]:i:jobs}")
  pids=()
  for t in "${batch[@]}"; do run_one "$t" & pids+=($!); done
  for k in "${!batch[@]}"; do
    rc=0
    wait "${pids[$k]}" || rc=$?
    summary "${batch[$k]}" "$rc"
  done
  i=$((i + jobs))
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]} (reproducers in $findings; run build-fuzz/fuzz_NAME FILE)" >&2
  exit 1
fi
