#!/usr/bin/env bash
# Installs every Debian 12 package berth needs to build, test and benchmark.
# Idempotent: packages already present are left as they are.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: must run as root (it calls apt-get)" >&2
  exit 1
fi

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config
  # libraries
  libfmt-dev nlohmann-json3-dev libsqlite3-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev
  # tools the tests and the demo call
  procps iproute2 util-linux coreutils python3 tini curl
  # containers: image layers, seccomp, the test image, and runc as the benchmark peer
  libarchive-dev libseccomp-dev busybox-static tar gzip zstd runc
  # networks: berth's NAT and port rules live in its own nftables table
  nftables
  # stack files
  libtomlplusplus-dev
  # WebAssembly: wabt (libwabt.a, wasm2c's runtime headers, wat2wasm and wast2json for the spec
  # tests), the C compiler behind AOT (gcc, above), and clang with wasi-libc and the wasm32
  # compiler runtime to build test guests; nodejs is the speed peer in bench/
  wabt clang lld wasi-libc libclang-rt-14-dev-wasm32 nodejs
  # berth-oci's real clients in the tests and the podman benchmark (podman with conmon and its
  # network stack and catatonit, the init of a pod's infra container; containerd with ctr)
  podman conmon containernetworking-plugins slirp4netns uidmap catatonit containerd
  # the HTTP trigger benchmark: wrk as the load generator, a static nginx as the ceiling
  wrk nginx-light
  # fuzzing (scripts/fuzz.sh): Debian's clang 14 cannot compile berth's C++23 against
  # libstdc++'s <expected>; clang 19 can, and its compiler runtime carries libFuzzer
  clang-19 libclang-rt-19-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup.sh: all packages present"
fi
