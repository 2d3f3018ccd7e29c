// The Runtime interface over berthd's REST API: what the CLI uses when berthd runs, and what an
// embedder on another host (TCP with a token) uses. Same calls, same errors, same types.
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include <nlohmann/json.hpp>

#include "berth/runtime.hpp"
#include "http/client.hpp"

namespace berth::client {

class RemoteRuntime final : public Runtime {
 public:
  // Connects and asks berthd for its version: unavailable when nothing answers, permission_denied
  // when this user may not use it, limit_exceeded when it is busy (503: at its connection cap).
  static Result<std::unique_ptr<RemoteRuntime>> connect(const http::Endpoint& endpoint,
                                                        std::chrono::milliseconds timeout = std::chrono::seconds(2));

  Result<WorkloadHandle> create(const WorkloadSpec& spec) override;
  Result<void> start(std::string_view ref) override;
  Result<ExitInfo> stop(std::string_view ref, std::optional<std::chrono::milliseconds> grace) override;
  Result<void> kill(std::string_view ref, int signal) override;
  Result<void> restart(std::string_view ref, std::optional<std::chrono::milliseconds> grace) override;
  Result<TeardownReport> remove(std::string_view ref, bool force) override;
  Result<WorkloadStatus> status(std::string_view ref) override;
  Result<WorkloadInfo> inspect(std::string_view ref) override;
  Result<ExitInfo> wait(std::string_view ref, std::chrono::milliseconds timeout, std::stop_token stop) override;
  Result<std::unique_ptr<LogReader>> logs(std::string_view ref, const LogOptions& options) override;
  Result<ExecResult> exec(std::string_view ref, const std::vector<std::string>& argv,
                          const ExecOptions& options) override;
  Result<ResourceStats> stats(std::string_view ref) override;
  Result<std::uint16_t> resolve_host_port(std::string_view ref, std::uint16_t container_port) override;
  Result<std::string> resolve_address(std::string_view ref, std::uint16_t port, std::string_view network) override;
  Result<std::vector<WorkloadInfo>> list(const ListOptions& options) override;
  Result<std::unique_ptr<EventReader>> watch(std::uint64_t since_seq) override;
  Result<std::uint64_t> last_event_seq() override;
  // A terminal or stdin stream needs this host's state store: attach is local only.
  Result<int> attach(std::string_view ref) override;
  Result<void> report_health(std::string_view ref, const HealthResult& result,
                             std::optional<WorkloadState> state) override;
  Result<void> restart_by_policy(std::string_view ref) override;
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
  Result<ImageInfo> import_image(const std::string& path, const ImageImportOptions& options) override;
  Result<std::vector<ImageInfo>> list_images() override;
  Result<ImageInfo> inspect_image(std::string_view ref) override;
  Result<std::vector<std::string>> remove_image(std::string_view ref, bool force) override;

  // The stack endpoints, for `berth up -d` and friends: the JSON berthd answers.
  Result<nlohmann::json> call(std::string_view method, const std::string& target,
                              const std::optional<nlohmann::json>& body = std::nullopt,
                              std::chrono::milliseconds timeout = std::chrono::minutes(10));

  const http::Endpoint& endpoint() const { return endpoint_; }

 private:
  explicit RemoteRuntime(http::Endpoint endpoint) : endpoint_(std::move(endpoint)) {}
  std::string workload_path(std::string_view ref, std::string_view tail = {}) const;

  http::Endpoint endpoint_;
  std::mutex mutex_;  // one request at a time on the kept connection
  std::optional<http::Connection> connection_;
};

// Percent-encodes a path segment or query value.
std::string url_encode(std::string_view text);

}  // namespace berth::client
