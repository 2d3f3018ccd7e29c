// The Runtime on this host: specs and states in the store, one shim per running workload,
// limits in cgroups. Kinds plug in below it; today the process kind is built.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "berth/runtime.hpp"
#include "common/fd.hpp"
#include "linux/cgroup.hpp"
#include "image/image_store.hpp"
#include "runtime/layout.hpp"
#include "state/network_store.hpp"
#include "state/store.hpp"

namespace berth {

class LocalRuntime final : public Runtime {
 public:
  static Result<std::unique_ptr<LocalRuntime>> open(const RuntimeOptions& options);

  Result<WorkloadHandle> create(const WorkloadSpec& spec) override;
  Result<void> start(std::string_view ref) override;
  Result<ExitInfo> stop(std::string_view ref,
                        std::optional<std::chrono::milliseconds> grace) override;
  Result<void> kill(std::string_view ref, int signal) override;
  Result<TeardownReport> remove(std::string_view ref, bool force) override;
  Result<WorkloadStatus> status(std::string_view ref) override;
  Result<WorkloadInfo> inspect(std::string_view ref) override;
  Result<ExitInfo> wait(std::string_view ref, std::chrono::milliseconds timeout,
                        std::stop_token stop) override;
  Result<std::unique_ptr<LogReader>> logs(std::string_view ref,
                                          const LogOptions& options) override;
  Result<ExecResult> exec(std::string_view ref, const std::vector<std::string>& argv,
                          const ExecOptions& options) override;
  Result<ResourceStats> stats(std::string_view ref) override;
  Result<std::uint16_t> resolve_host_port(std::string_view ref,
                                          std::uint16_t container_port) override;
  Result<std::string> resolve_address(std::string_view ref, std::uint16_t port,
                                      std::string_view network) override;
  Result<std::vector<WorkloadInfo>> list(const ListOptions& options) override;
  Result<std::unique_ptr<EventReader>> watch(std::uint64_t since_seq) override;
  Result<std::uint64_t> last_event_seq() override { return store_->last_seq(); }
  Result<int> attach(std::string_view ref) override;
  Result<void> report_health(std::string_view ref, const HealthResult& result,
                             std::optional<WorkloadState> state) override;
  Result<void> restart_by_policy(std::string_view ref) override;
  Result<void> restart(std::string_view ref, std::optional<std::chrono::milliseconds> grace) override;
  Result<std::uint64_t> publish_event(std::string_view subject, std::string_view type,
                                      const std::map<std::string, std::string>& attributes) override;
  Result<NetworkInfo> create_network(const NetworkSpec& spec) override;
  Result<std::vector<NetworkInfo>> list_networks() override;
  Result<NetworkInfo> inspect_network(std::string_view ref) override;
  Result<std::vector<std::string>> remove_network(std::string_view ref) override;
  Result<std::vector<std::string>> prune_networks() override;
  Result<std::vector<VolumeInfo>> list_volumes() override;
  Result<VolumeInfo> inspect_volume(std::string_view name) override;
  Result<void> remove_volume(std::string_view name) override;
  Result<std::vector<std::string>> prune_volumes() override;
  Result<void> record_stack(const StackRecord& record) override;
  Result<void> forget_stack(std::string_view name) override;
  Result<std::vector<StackRecord>> stack_records() override;
  // Removes what a crash left of this root's networks (see network_orphans.cpp); lines saying
  // what went. berthd runs it at start (RuntimeOptions::sweep_network_orphans), prune too.
  Result<std::vector<std::string>> sweep_network_orphans();
  // Removes the directories of creates that died before their row was written (see
  // workload_orphans.cpp); lines saying what went. berthd runs it at start, before the networks'.
  Result<std::vector<std::string>> sweep_workload_orphans();
  // Held by create from its mkdir until it returns: a workload directory with no row whose lock
  // nobody holds is an orphan.
  static constexpr std::string_view create_lock_name = "create.lock";
  Result<ImageInfo> import_image(const std::string& path, const ImageImportOptions& options) override;
  Result<std::vector<ImageInfo>> list_images() override;
  Result<ImageInfo> inspect_image(std::string_view ref) override;
  Result<std::vector<std::string>> remove_image(std::string_view ref, bool force) override;

 private:
  LocalRuntime(StateLayout layout, std::string shim_path, std::string storage_driver,
               linux::CgroupHost cgroup_host, std::unique_ptr<state::Store> store)
      : layout_(std::move(layout)),
        shim_path_(std::move(shim_path)),
        storage_driver_(std::move(storage_driver)),
        cgroup_host_(std::move(cgroup_host)),
        store_(std::move(store)) {}

  // Finds the workload and brings its row up to date with reality: a running row whose shim
  // is gone becomes exited (from the shim's exit record) or failed.
  Result<state::WorkloadRecord> find_current(std::string_view ref);
  Result<state::WorkloadRecord> reconcile(state::WorkloadRecord record);
  Result<WorkloadSpec> spec_of(const state::WorkloadRecord& record) const;
  // Asks the shim to pass `signal` to the workload's main process.
  Result<void> signal_workload(const state::WorkloadRecord& record, int signal);
  // Waits for the exit record of `id` to appear; false on timeout.
  Result<bool> wait_for_exit(const std::string& id, std::chrono::milliseconds timeout,
                             std::stop_token stop);

  // Container create (container_create.cpp): the image resolved and its defaults applied, the
  // root's storage made (overlay upper dir, or a copy of the layers), volumes made.
  Result<void> prepare_container(WorkloadSpec& spec, const std::string& workload_dir);
  // Lets a created container (its shim holding the process) exec.
  Result<void> start_created(const state::WorkloadRecord& record);
  // Holds workloads/<id>/start.lock: one start, or a remove, of a workload at a time, across
  // processes.
  Result<UniqueFd> lock_starts(const std::string& id);
  // workloads/<id>/<lock_name>, held (flock) by the returned fd. Without `wait`, an empty fd
  // when another holds it.
  Result<UniqueFd> lock_workload(const std::string& id, std::string_view lock_name, bool wait);
  // An address on `network` for the workload (networks.cpp); the default network "berth" is
  // made on first use.
  Result<std::uint32_t> allocate_network_address(const std::string& workload_id, const std::string& network);
  // Makes a recorded network's bridge and rules again when the host lost them (a reboot).
  Result<void> restore_network(const std::string& name);
  Result<void> restore_network(const state::NetworkRecord& network);
  Result<image::ImageStore*> images();

  StateLayout layout_;
  std::string shim_path_;
  std::string storage_driver_;
  std::optional<image::ImageStore> images_;
  std::mutex images_mutex_;
  linux::CgroupHost cgroup_host_;
  std::unique_ptr<state::Store> store_;
  // Parsed specs by workload id, with the text they came from (see spec_of).
  static constexpr std::size_t spec_cache_limit = 10000;
  mutable std::mutex spec_cache_mutex_;
  mutable std::map<std::string, std::pair<std::string, WorkloadSpec>> spec_cache_;
};

WorkloadStatus status_of(const state::WorkloadRecord& record);
// A shim process is alive for this row (it is running the workload, or holds a created one).
bool has_live_shim(const state::WorkloadRecord& record);
ExitInfo exit_info_of(const state::WorkloadRecord& record);

}  // namespace berth
