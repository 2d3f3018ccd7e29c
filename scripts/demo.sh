#!/usr/bin/env bash
# Sets up and builds berth, then shows its main job: running workloads with limits, watching
# them (ps, logs, stats, exec, events) and tearing them down. Uses its own state root.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh >/dev/null
berth=$PWD/build/berth
root=$(mktemp -d /tmp/berth-demo-XXXXXX)
b() { "$berth" --root "$root" "$@"; }
image=$(mktemp -d /tmp/berth-demo-image-XXXXXX)
daemon_pid=
cleanup() {
  b rm -f hello web hog cell box site handler >/dev/null 2>&1 || true
  b network rm demo-net >/dev/null 2>&1 || true
  if [ -n "$daemon_pid" ]; then
    b --host "unix://$root/berth.sock" down --stack web -t 1 >/dev/null 2>&1 || true
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  if [ -d "$root/podman/storage" ]; then
    CONTAINERS_CONF="$root/podman/containers.conf" podman --root "$root/podman/storage" --runroot "$root/podman/run" \
      --tmpdir "$root/podman/tmp" system reset --force >/dev/null 2>&1 || true
    rmdir /sys/fs/cgroup/*/libpod_parent/conmon /sys/fs/cgroup/*/libpod_parent 2>/dev/null || true  # conmon's
  fi
  rm -rf "$root" "$image"
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

printf '\n\033[1m# containers: a real OCI image built from Debian'"'"'s busybox-static\033[0m\n'
rmdir "$image"
./scripts/make-busybox-image.sh "$image" >/dev/null
show image import "$image" busybox:latest
show image ls
show run --rm --image busybox --hostname demo -- sh -c 'echo "pid $$ on $(hostname), $(ls /proc | grep -c "^[0-9]") processes visible"; grep -E "^(CapEff|Seccomp|NoNewPrivs)" /proc/self/status'
step run -d --name box --image busybox -u berth --read-only --tmpfs /scratch --memory 32m -- sleep 600
b run -d --name box --image busybox -u berth --read-only --tmpfs /scratch --memory 32m -- sleep 600
show exec box -- sh -c 'id; touch /x 2>&1; echo ok > /scratch/f && cat /scratch/f'
show stats --no-stream box
step rm -f box "   # the report: processes killed, mounts and namespaces released, upper dir removed"
b rm -f box --format json | python3 -c '
import json, sys
r = json.load(sys.stdin)[0]
for key in ("killed_pids", "mounts", "namespaces", "cgroups", "files"):
    print(f"  {key}: {len(r[key])}  e.g. {r[key][:3]}")'
show events --no-follow

printf '\n\033[1m# networks: containers reach each other by name; a published port answers on the host\033[0m\n'
show network create --subnet 10.213.200.0/24 demo-net
step "run -d --name site --image busybox --network demo-net -p 127.0.0.1:18080:8080 -- sh -c 'echo hi from site > /tmp/index.html; exec httpd -f -p 8080 -h /tmp'"
b run -d --name site --image busybox --network demo-net -p 127.0.0.1:18080:8080 -- sh -c 'echo hi from site > /tmp/index.html; exec httpd -f -p 8080 -h /tmp' >/dev/null
show run --rm --image busybox --network demo-net -- sh -c 'grep site /etc/hosts; printf "GET /index.html HTTP/1.0\r\n\r\n" | nc -w 2 site 8080 | tail -1'
show port site
printf '\n\033[1m$ curl -s http://127.0.0.1:18080/index.html\033[0m\n'
curl -s http://127.0.0.1:18080/index.html
show network ls
show rm -f site
show network rm demo-net

printf '\n\033[1m# wasm: WASI modules on berth'"'"'s own engine (compiled ahead of time at create, cached)\033[0m\n'
clang --target=wasm32-wasi -O2 examples/wasm/hello.c -o "$root/hello.wasm"
clang --target=wasm32-wasi -O2 examples/wasm/wagi_hello.c -o "$root/wagi_hello.wasm"
show run --rm --wasm "$root/hello.wasm" --dir /etc::/host-etc --memory 16m --timeout 2s -- world
show run -d --name handler --wasm "$root/wagi_hello.wasm" --http 127.0.0.1:18081
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:18081/ && break; sleep 0.1; done
printf '\n\033[1m$ curl -s "http://127.0.0.1:18081/greet?who=demo"   # a fresh instance per request, WAGI style\033[0m\n'
curl -s "http://127.0.0.1:18081/greet?who=demo"
show rm -f handler

printf '\n\033[1m# berth-oci: the same container code as the OCI runtime of podman\033[0m\n'
if command -v podman >/dev/null; then
  podman_dir=$root/podman
  mkdir -p "$podman_dir/rootfs/bin"
  cp /bin/busybox "$podman_dir/rootfs/bin/"
  for applet in sh echo cat hostname; do ln -s busybox "$podman_dir/rootfs/bin/$applet"; done
  tar -C "$podman_dir/rootfs" -cf "$podman_dir/rootfs.tar" .
  printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$podman_dir/containers.conf"
  podman() {
    CONTAINERS_CONF="$podman_dir/containers.conf" command podman --root "$podman_dir/storage" \
      --runroot "$podman_dir/run" --tmpdir "$podman_dir/tmp" --cgroup-manager cgroupfs --events-backend file "$@"
  }
  podman import "$podman_dir/rootfs.tar" localhost/demo-busybox >/dev/null 2>&1
  printf '\n\033[1m$ podman --runtime build/berth-oci run --rm localhost/demo-busybox sh -c ...\033[0m\n'
  podman --runtime "$PWD/build/berth-oci" run --rm --network none localhost/demo-busybox \
    sh -c 'echo "hello from podman, run by berth-oci, in container $(hostname)"'
fi

printf '\n\033[1m# berthd and stacks: health-gated start order, restart policies, live restore\033[0m\n'
printf '\n\033[1m$ berthd --root %s --socket %s/berth.sock &\033[0m\n' "$root" "$root"
"$PWD/build/berthd" --root "$root" --socket "$root/berth.sock" 2>"$root/berthd.log" &
daemon_pid=$!
export BERTH_HOST="unix://$root/berth.sock"
for _ in $(seq 50); do b ps >/dev/null 2>&1 && break; sleep 0.1; done
show stack validate -f examples/web-stack/berth.toml
show up -d -f examples/web-stack/berth.toml
show stack ps web
printf '\n\033[1m$ kill -9 $(pid of web-worker)   # its restart policy (always) brings it back\033[0m\n'
kill -9 "$(b inspect web-worker | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["pid"])')"
sleep 1.5
show stack ps web
printf '\n\033[1m$ kill -9 berthd; berthd &   # workloads belong to their shims: nothing stops, the new berthd re-adopts them\033[0m\n'
kill -9 "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true
"$PWD/build/berthd" --root "$root" --socket "$root/berth.sock" 2>>"$root/berthd.log" &
daemon_pid=$!
for _ in $(seq 50); do b ps >/dev/null 2>&1 && break; sleep 0.1; done
show stack ps web
show stack logs --tail 2 web
printf '\n\033[1m$ curl --unix-socket %s/berth.sock http://localhost/v1/workloads/web-site/status\033[0m\n' "$root"
curl -s --unix-socket "$root/berth.sock" http://localhost/v1/workloads/web-site/status | python3 -c '
import json, sys
s = json.load(sys.stdin)
h = s["health"][-1]
print("  state:", s["state"], " restarts:", s["restart_count"], " last probe:", repr(h["output"]), "exit", h["exit_code"])'
show down --stack web -t 1
step "events --since 0 --no-follow | tail -5"
b events --since 0 --no-follow | tail -5
