// The lifecycle API: one interface for every kind of workload.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"
#include "berth/image.hpp"
#include "berth/network.hpp"
#include "berth/spec.hpp"
#include "berth/status.hpp"
#include "berth/streams.hpp"
#include "berth/volume.hpp"

namespace berth {

struct WorkloadHandle {
  std::string id;
  std::string name;
};

struct ListOptions {
  bool all = true;  // false: only workloads with live processes
};

// What a stack's latest `up` set out to run: recorded when up starts, marked complete when it
// finishes, so a stack whose up was cut short (berthd killed) shows as incomplete until an up
// completes it. down forgets it.
struct StackRecord {
  std::string name;
  std::vector<std::string> workloads;  // the stack file's workload names
  bool complete = false;
};

// Every call is synchronous and thread-safe. `ref` is a name, a full id or a unique id prefix.
class Runtime {
 public:
  virtual ~Runtime() = default;

  virtual Result<WorkloadHandle> create(const WorkloadSpec& spec) = 0;
  virtual Result<void> start(std::string_view ref) = 0;
  // Stop signal, then SIGKILL to every process of the workload after grace. Idempotent.
  virtual Result<ExitInfo> stop(std::string_view ref,
                                std::optional<std::chrono::milliseconds> grace = {}) = 0;
  virtual Result<void> kill(std::string_view ref, int signal) = 0;
  // A user's restart: stop (grace, as stop()), then start. One at a time per workload, across
  // processes: a restart while another is under way is a conflict error.
  virtual Result<void> restart(std::string_view ref,
                               std::optional<std::chrono::milliseconds> grace = {}) = 0;
  // Refuses a workload with live processes unless force. Idempotent on what is left.
  virtual Result<TeardownReport> remove(std::string_view ref, bool force = false) = 0;
  virtual Result<WorkloadStatus> status(std::string_view ref) = 0;
  virtual Result<WorkloadInfo> inspect(std::string_view ref) = 0;
  // Waits for the workload to exit; timeout error if it is still running after `timeout`.
  virtual Result<ExitInfo> wait(std::string_view ref, std::chrono::milliseconds timeout,
                                std::stop_token stop = {}) = 0;
  virtual Result<std::unique_ptr<LogReader>> logs(std::string_view ref,
                                                  const LogOptions& options) = 0;
  virtual Result<ExecResult> exec(std::string_view ref, const std::vector<std::string>& argv,
                                  const ExecOptions& options = {}) = 0;
  virtual Result<ResourceStats> stats(std::string_view ref) = 0;
  virtual Result<std::uint16_t> resolve_host_port(std::string_view ref,
                                                  std::uint16_t container_port) = 0;
  virtual Result<std::string> resolve_address(std::string_view ref, std::uint16_t port,
                                              std::string_view network = {}) = 0;
  virtual Result<std::vector<WorkloadInfo>> list(const ListOptions& options = {}) = 0;
  virtual Result<std::unique_ptr<EventReader>> watch(std::uint64_t since_seq = 0) = 0;
  // The seq of the newest event: watch(last_event_seq()) sees only what happens from now on.
  virtual Result<std::uint64_t> last_event_seq() = 0;
  // For a container created with tty or stdin_open: a connected stream socket (the caller owns
  // it) that carries the caller's input to the process and its output back, from create (attach
  // before start to see everything) until it exits. One attached caller at a time.
  virtual Result<int> attach(std::string_view ref) = 0;

  // What the supervisor (health checks, restart policies, stacks) reports back.
  // Keeps a health probe's result with the workload's status (the last few are kept) and, when
  // `state` is healthy or unhealthy and differs from the current one, moves the workload there
  // with a "healthy" or "unhealthy" event. conflict when the workload is not running.
  virtual Result<void> report_health(std::string_view ref, const HealthResult& result,
                                     std::optional<WorkloadState> state) = 0;
  // Starts an exited workload again because its restart policy says so: start(), counted in
  // restart_count, after a "restarting" event. conflict when it is running or was stopped by a
  // user.
  virtual Result<void> restart_by_policy(std::string_view ref) = 0;
  // Adds an event about something other than one workload's lifecycle (a stack going up or
  // down) to the one event stream. Returns its seq.
  virtual Result<std::uint64_t> publish_event(std::string_view subject, std::string_view type,
                                              const std::map<std::string, std::string>& attributes) = 0;

  // Bridge networks (the container kind joins them). remove_network is refused while a
  // workload is attached; it returns what it released (bridge, rules). prune removes every
  // network nothing is attached to and returns their names.
  virtual Result<NetworkInfo> create_network(const NetworkSpec& spec) = 0;
  virtual Result<std::vector<NetworkInfo>> list_networks() = 0;
  virtual Result<NetworkInfo> inspect_network(std::string_view ref) = 0;
  virtual Result<std::vector<std::string>> remove_network(std::string_view ref) = 0;
  virtual Result<std::vector<std::string>> prune_networks() = 0;

  // Named volumes. remove_volume is refused while a workload (in any state) mounts it, as
  // Docker refuses ("volume is in use"); prune removes every volume no workload mounts and
  // returns their names.
  virtual Result<std::vector<VolumeInfo>> list_volumes() = 0;
  virtual Result<VolumeInfo> inspect_volume(std::string_view name) = 0;
  virtual Result<void> remove_volume(std::string_view name) = 0;
  virtual Result<std::vector<std::string>> prune_volumes() = 0;

  // Stack records (see StackRecord), kept by the stack runner; record_stack replaces the
  // stack's record, forget_stack of a stack without one is fine.
  virtual Result<void> record_stack(const StackRecord& record) = 0;
  virtual Result<void> forget_stack(std::string_view name) = 0;
  virtual Result<std::vector<StackRecord>> stack_records() = 0;

  // Local images (the container kind runs them).
  virtual Result<ImageInfo> import_image(const std::string& path, const ImageImportOptions& options) = 0;
  virtual Result<std::vector<ImageInfo>> list_images() = 0;
  virtual Result<ImageInfo> inspect_image(std::string_view ref) = 0;
  // Refused while a container uses the image, unless force. Returns the image ids removed.
  virtual Result<std::vector<std::string>> remove_image(std::string_view ref, bool force = false) = 0;
};

struct RuntimeOptions {
  std::string root;       // empty: $BERTH_ROOT, then /var/lib/berth
  std::string shim_path;  // empty: found next to the binary, in the build tree or installed
  // How a container's root is made from image layers: "overlay", "copy" (a private copy, for
  // hosts without overlayfs), or empty: overlay when the kernel has it.
  std::string storage_driver;
  // Sweep what a crash left of networks (veths, bridges, nftables entries, addresses of
  // workloads that are gone) when opening: berthd does at start. Off for a CLI call, which must
  // stay quick.
  bool sweep_network_orphans = false;
};

Result<std::unique_ptr<Runtime>> open_runtime(const RuntimeOptions& options = {});

std::string_view version();

}  // namespace berth
