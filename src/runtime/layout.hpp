// Where a workload's things live on the host. One place, so the runtime, the shim and the
// teardown agree on every path.
#pragma once

#include <string>

namespace berth {

struct StateLayout {
  std::string root;  // /var/lib/berth

  std::string workloads_dir() const { return root + "/workloads"; }
  std::string workload_dir(const std::string& id) const { return workloads_dir() + "/" + id; }
  // JSON lines written by the shim (see state/log_file.hpp).
  std::string log_path(const std::string& id) const { return workload_dir(id) + "/log.jsonl"; }
  // Written (atomically) by the shim once the exit is recorded; waiters watch for it.
  std::string exit_path(const std::string& id) const { return workload_dir(id) + "/exit.json"; }
  // The spec as created (immutable; the store holds the same): the shim of a container reads it
  // here so it can open the store while the container's init sets up.
  std::string spec_path(const std::string& id) const { return workload_dir(id) + "/spec.json"; }
  // The host ports a container's shim bound for its published ports.
  std::string ports_path(const std::string& id) const { return workload_dir(id) + "/ports.json"; }
  // The shim listens here for attach (containers with a tty or an open stdin).
  std::string attach_path(const std::string& id) const { return workload_dir(id) + "/attach.sock"; }
  // Compiled Wasm modules (AOT artifacts), shared by the workloads of this root.
  std::string wasm_cache_dir() const { return cache_dir() + "/wasm"; }
  // A wasm workload's runner keeps its guest's linear memory size (bytes, decimal) here, for stats.
  std::string wasm_memory_path(const std::string& id) const { return workload_dir(id) + "/wasm-memory"; }
  // ... and writes why its guest ended abnormally (one line: "wasm trap: unreachable"), for status.
  std::string wasm_reason_path(const std::string& id) const { return workload_dir(id) + "/wasm-reason"; }
  // The module's key-value store (the `berth` import module), kept across its restarts.
  std::string wasm_kv_path(const std::string& id) const { return workload_dir(id) + "/wasm-kv.json"; }
  // The shim's own diagnostics after it has reported to its caller.
  std::string shim_log_path(const std::string& id) const {
    return workload_dir(id) + "/shim.log";
  }
  // Named volumes (`-v NAME:/path`): <volumes>/<name>/_data, as Docker lays them out.
  std::string volumes_dir() const { return root + "/volumes"; }
  // Stack records (berth/runtime.hpp StackRecord): <stacks>/<name>.json.
  std::string stacks_dir() const { return root + "/stacks"; }
  // The image store (image/image_store.hpp).
  std::string images_dir() const { return root + "/images"; }
  // Derived data worth keeping between starts (compiled seccomp filters).
  std::string cache_dir() const { return root + "/cache"; }
  // Relative to each cgroup mount root.
  static std::string cgroup_path(const std::string& id) { return "berth/" + id; }
};

// $BERTH_ROOT, then /var/lib/berth, unless `explicit_root` is given.
std::string resolve_state_root(const std::string& explicit_root);

}  // namespace berth
