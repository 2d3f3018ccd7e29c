// What a workload is: one spec type for every kind (process, container, wasm).
// A field a kind cannot honour is an invalid_spec error at create, never silently ignored.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth {

enum class WorkloadKind { process, container, wasm };

struct Resources {
  std::optional<std::int64_t> memory_bytes;       // hard limit; OOM kill above it
  std::optional<std::int64_t> memory_swap_bytes;  // memory + swap
  std::optional<double> cpus;                     // cores, e.g. 0.5 -> quota 50ms per 100ms
  std::optional<std::int64_t> cpu_shares;         // relative weight (v1 shares, mapped to v2 weight)
  std::optional<std::int64_t> pids_limit;
  std::string cpuset_cpus;  // "0-1,3": the cpus the workload may run on (empty: all)
  std::string cpuset_mems;  // memory nodes, same syntax
  bool operator==(const Resources&) const = default;
};

// Optional new namespaces for a process workload (containers always get their own).
struct Namespaces {
  bool pid = false;
  bool ipc = false;
  bool uts = false;
  bool mount = false;
  bool net = false;
  bool any() const { return pid || ipc || uts || mount || net; }
  bool operator==(const Namespaces&) const = default;
};

struct PortMapping {
  std::string host_ip;                // empty: all addresses
  std::optional<std::uint16_t> host_port;  // empty: ephemeral
  std::uint16_t container_port = 0;
  std::string protocol = "tcp";
  bool operator==(const PortMapping&) const = default;
};

struct Mount {
  std::string type = "bind";  // bind | volume | tmpfs
  std::string source;
  std::string target;
  bool read_only = false;
  std::vector<std::string> options;
  bool operator==(const Mount&) const = default;
};

struct HealthCheck {
  std::string type;                  // exec | http | tcp
  std::vector<std::string> command;  // exec
  std::string target;                // http URL path or tcp port
  std::chrono::milliseconds interval{30000};
  std::chrono::milliseconds timeout{30000};
  int retries = 3;
  std::chrono::milliseconds start_period{0};
  bool operator==(const HealthCheck&) const = default;
};

struct RestartPolicy {
  std::string name = "no";  // no | always | unless-stopped | on-failure
  int max_retries = 0;      // on-failure:N
  bool operator==(const RestartPolicy&) const = default;
};

// Docker's json-file log limits (--log-opt max-size=10m --log-opt max-file=3): the shim
// rotates log.jsonl to log.jsonl.1, .2, ... once it would grow past max_size_bytes, keeping at
// most max_file files, the current one included. The defaults are Docker's local driver's.
struct LogConfig {
  static constexpr std::int64_t default_max_size_bytes = 20 * 1024 * 1024;
  static constexpr int default_max_file = 5;
  std::int64_t max_size_bytes = default_max_size_bytes;  // > 0
  int max_file = default_max_file;                       // >= 1
  bool operator==(const LogConfig&) const = default;
};

struct WasmSettings {
  std::string engine;  // aot | interp
  std::optional<std::int64_t> memory_limit_bytes;
  std::optional<std::chrono::milliseconds> execution_time_limit;
  std::optional<std::uint64_t> fuel;
  std::vector<std::string> preopened_dirs;  // HOST[:GUEST] or wasmtime's HOST::GUEST (GUEST defaults to HOST)
  std::vector<std::string> allowed_peers;
  std::optional<std::int64_t> kv_max_entries;
  std::optional<std::int64_t> kv_max_value_bytes;
  std::optional<int> pool_size;
  // An HTTP trigger: serve HTTP/1.1 on this address ("127.0.0.1:8080") and run the module for
  // each request under `http_route` (default "/"), WAGI style (docs/functions.md).
  std::string http_listen;
  std::string http_route;
  bool empty() const {
    return engine.empty() && !memory_limit_bytes && !execution_time_limit && !fuel &&
           preopened_dirs.empty() && allowed_peers.empty() && !kv_max_entries &&
           !kv_max_value_bytes && !pool_size && http_listen.empty() && http_route.empty();
  }
  bool operator==(const WasmSettings&) const = default;
};

// A resource limit as Docker's --ulimit names it: "nofile", "nproc", "core", ... (RLIMIT_*).
struct Rlimit {
  std::string type;
  std::uint64_t soft = 0;
  std::uint64_t hard = 0;
  bool operator==(const Rlimit&) const = default;
};

// One line of /proc/PID/uid_map or gid_map.
struct IdMapping {
  std::uint32_t container_id = 0;
  std::uint32_t host_id = 0;
  std::uint32_t size = 0;
  bool operator==(const IdMapping&) const = default;
};

// Settings only a container honours (an invalid_spec error on other kinds).
struct ContainerSettings {
  // Replaces the image's Entrypoint (and then its Cmd is not used), as `docker run --entrypoint`.
  std::optional<std::vector<std::string>> entrypoint;
  std::string hostname;  // empty: the workload's name
  bool read_only_rootfs = false;
  std::vector<std::string> cap_add;   // added to Docker's default set ("ALL" for every one)
  std::vector<std::string> cap_drop;  // removed from it ("ALL" for every one)
  std::string seccomp;  // empty: berth's default profile; "unconfined"; or the path of an OCI profile
  bool no_new_privileges = true;
  std::vector<Rlimit> rlimits;
  std::vector<std::string> group_add;     // supplementary groups, by name or number
  std::vector<IdMapping> uid_map, gid_map;  // non-empty: the container gets a user namespace
  bool tty = false;         // -t: the process gets a terminal (a pty of the container's devpts)
  bool stdin_open = false;  // -i: its stdin comes from whoever attaches (Runtime::attach)
  // Filled by the runtime at create from the image store; not for callers to set.
  std::string image_id;
  std::vector<std::string> image_layers;  // unpacked layer directories, bottom first
  bool empty() const {
    return !entrypoint && hostname.empty() && !read_only_rootfs && cap_add.empty() && cap_drop.empty() &&
           seccomp.empty() && no_new_privileges && rlimits.empty() && group_add.empty() &&
           uid_map.empty() && gid_map.empty() && !tty && !stdin_open && image_id.empty() && image_layers.empty();
  }
  bool operator==(const ContainerSettings&) const = default;
};

struct WorkloadSpec {
  std::string name;  // empty: generated from the id
  WorkloadKind kind = WorkloadKind::process;
  std::string image;   // container: an image reference (name[:tag], id or id prefix)
  std::string rootfs;  // container: a plain directory to run instead of an image
  std::string module;  // wasm
  std::vector<std::string> args;  // argv (process: args[0] is the program)
  std::vector<std::string> env;   // K=V; the workload's environment is exactly this
  std::string working_dir;
  std::string user;  // uid[:gid]
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  Resources resources;
  Namespaces namespaces;
  std::vector<PortMapping> ports;
  std::vector<Mount> mounts;
  std::string network;  // process: "" or "host" (host netns) or "none" (own netns);
                        // container: "" (private, loopback only), "none" (same), or "host"
  // Further bridge networks a container joins besides `network` (Docker's repeated --network):
  // each gives it another interface (eth1, eth2, ...) and address; its default route stays on
  // the first.
  std::vector<std::string> additional_networks;
  std::vector<std::string> aliases;  // its further names on every network it joins
  std::optional<HealthCheck> health_check;
  RestartPolicy restart_policy;
  int stop_signal = 15;
  std::chrono::milliseconds stop_grace{10000};
  std::optional<std::chrono::milliseconds> time_to_live;
  bool auto_remove = false;  // remove once it exits (--rm)
  LogConfig log;
  WasmSettings wasm;
  ContainerSettings container;
  bool operator==(const WorkloadSpec&) const = default;
};

std::string_view to_string(WorkloadKind kind);
std::optional<WorkloadKind> parse_workload_kind(std::string_view text);

}  // namespace berth
