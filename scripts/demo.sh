#!/usr/bin/env bash
# Sets up and builds berth, then shows its main job: running workloads with limits, watching
# them (ps, logs, stats, exec, events) and tearing them down. Uses its own state root.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh >/dev/null
berth=$PWD/build/berth
root=$(mktemp -d /tmp/berth-demo-XXXXXX)
b() { "$berth" --root "$root" "$@"; }
cleanup() {
  b rm -f hello web hog cell >/dev/null 2>&1 || true
  rm -rf "$root"
}
trap cleanup EXIT
step() { printf '\n\033[1m$ berth %s\033[0m\n' "$*"; }
show() { step "$@"; b "$@"; }

show run --name hello -- echo "hello from a berth process workload"

step run -d --name web --memory 64m --cpus 0.5 --pids-limit 32 -- sh -c 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.5; done'
b run -d --name web --memory 64m --cpus 0.5 --pids-limit 32 \
  -- sh -c 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.5; done'

step run -d --name hog --memory 32m -- tail /dev/zero '   # eats memory until the kernel says no'
b run -d --name hog --memory 32m --memory-swap 32m -- tail /dev/zero

step run -d --name cell --pid --mount-ns --uts --network none -- sleep 60
b run -d --name cell --pid --mount-ns --uts --network none -- sleep 60

sleep 2
show ps -a
show logs --tail 3 web
show stats --no-stream
show exec cell -- sh -c 'echo "in the cell: pid $$ of $(ls /proc | grep -c "^[0-9]") processes, host $(hostname)"'
step inspect hog "   # only the lines that tell how it ended"
b inspect hog | grep -E '"(state|oom_killed|reason|exit_signal)"'
show stop -t 1 web
show rm -f hello web hog cell
show ps -a
show events --no-follow
