#include "client/remote_runtime.hpp"

#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include "common/time.hpp"
#include "image/image_config.hpp"
#include "runtime/json.hpp"

namespace berth::client {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

Result<json> parse_body(const http::ClientResponse& response) {
  if (response.status >= 400) {
    auto body = json::parse(response.body, nullptr, false);
    if (auto error = error_from_json(body)) return std::unexpected(*error);
    return fail(ErrorCode::internal, fmt::format("berthd answered HTTP {}: {}", response.status, response.body));
  }
  if (response.body.empty()) return json();
  auto body = json::parse(response.body, nullptr, false);
  if (body.is_discarded()) return fail(ErrorCode::internal, "berthd's answer is not JSON");
  return body;
}

std::string ms_query(std::string_view key, std::optional<std::chrono::milliseconds> value) {
  return value ? fmt::format("?{}={}", key, value->count()) : std::string();
}

// A streamed body of JSON lines, one value per next().
class LineStream {
 public:
  LineStream(http::Connection connection) : connection_(std::move(connection)) {}

  Result<std::optional<json>> next(std::chrono::milliseconds timeout, std::stop_token stop) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        if (line.empty()) continue;
        auto value = json::parse(line, nullptr, false);
        if (value.is_discarded()) return fail(ErrorCode::internal, "berthd streamed a line that is not JSON");
        return std::optional<json>(std::move(value));
      }
      if (ended_) return std::optional<json>();
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return fail(ErrorCode::timeout, "nothing new within the timeout");
      auto part = connection_.read_body_part(left, stop);
      if (!part) return std::unexpected(part.error());
      if (!*part) ended_ = true;
      else buffer_ += **part;
    }
  }

 private:
  http::Connection connection_;
  std::string buffer_;
  bool ended_ = false;
};

class RemoteLogReader final : public LogReader {
 public:
  explicit RemoteLogReader(http::Connection c) : stream_(std::move(c)) {}
  Result<std::optional<LogChunk>> next(std::chrono::milliseconds timeout, std::stop_token stop) override {
    auto line = stream_.next(timeout, stop);
    if (!line) return std::unexpected(line.error());
    if (!*line) return std::optional<LogChunk>();
    auto chunk = log_chunk_from_json(**line);
    if (!chunk) return std::unexpected(chunk.error());
    return std::optional<LogChunk>(std::move(*chunk));
  }

 private:
  LineStream stream_;
};

// Sleeps until `when`; false when `stop` was requested first.
bool sleep_until(std::chrono::steady_clock::time_point when, const std::stop_token& stop) {
  std::mutex mutex;
  std::condition_variable_any woken;
  std::unique_lock lock(mutex);
  woken.wait_until(lock, stop, when, [] { return false; });
  return !stop.stop_requested();
}

// Follows /v1/events across berthd going away and coming back (a restart, a crash): losing the
// connection is a backend_disconnected event, reconnecting is retried with backoff while the
// caller keeps calling next(), and a backend_reconnected event comes before the stream resumes
// after the last seq delivered, so nothing is missed and nothing comes twice.
class RemoteEventReader final : public EventReader {
 public:
  static constexpr std::chrono::milliseconds first_retry = 100ms;
  static constexpr std::chrono::milliseconds longest_retry = 5s;

  RemoteEventReader(http::Endpoint endpoint, http::Connection c, std::uint64_t since)
      : endpoint_(std::move(endpoint)), stream_(std::move(c)), last_(since) {}

  Result<std::optional<Event>> next(std::chrono::milliseconds timeout, std::stop_token stop) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (stop.stop_requested()) return fail(ErrorCode::unavailable, "watch cancelled");
      if (!stream_) {
        if (!sleep_until(std::min(deadline, retry_at_), stop)) return fail(ErrorCode::unavailable, "watch cancelled");
        if (std::chrono::steady_clock::now() < retry_at_)
          return fail(ErrorCode::timeout, fmt::format("{} is not back yet", endpoint_.describe()));
        auto opened = open_event_stream(endpoint_, last_, stop);
        ++attempts_;
        if (!opened) {
          if (stop.stop_requested()) return fail(ErrorCode::unavailable, "watch cancelled");
          // berthd answered but refused (4xx): that is for the caller to see, not to retry blindly.
          if (opened.error().code != ErrorCode::unavailable && opened.error().code != ErrorCode::timeout) {
            retry_at_ = std::chrono::steady_clock::now() + retry_delay_;
            return std::unexpected(opened.error());
          }
          retry_delay_ = std::min(retry_delay_ * 2, longest_retry);
          retry_at_ = std::chrono::steady_clock::now() + retry_delay_;
          continue;
        }
        stream_.emplace(std::move(*opened));
        return backend_event(event_type::backend_reconnected, "attempts", std::to_string(attempts_));
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto line = stream_->next(std::max(left, 0ms), stop);
      if (!line) {
        if (line.error().code == ErrorCode::timeout || stop.stop_requested()) return std::unexpected(line.error());
        return lost(line.error().message);
      }
      if (!*line) return lost("berthd ended the event stream");
      auto event = event_from_json(**line);
      if (!event) return std::unexpected(event.error());
      last_ = event->seq;
      return std::optional<Event>(std::move(*event));
    }
  }

  static Result<http::Connection> open_event_stream(const http::Endpoint& endpoint, std::uint64_t since,
                                                    std::stop_token stop = {}) {
    auto c = http::Connection::open(endpoint, 2s);
    if (!c) return std::unexpected(c.error());
    auto head = c->start_request("GET", fmt::format("/v1/events?since={}&follow=true", since), {}, "application/json",
                                 10s, stop);
    if (!head) return std::unexpected(head.error());
    // 5xx (503: too many connections) may pass, so a reconnecting reader tries again; 4xx won't.
    if (head->status != 200)
      return fail(head->status >= 500 ? ErrorCode::unavailable : ErrorCode::internal,
                  fmt::format("berthd answered HTTP {} to watch", head->status));
    return std::move(*c);
  }

 private:
  Result<std::optional<Event>> lost(std::string reason) {
    stream_.reset();
    attempts_ = 0;
    retry_delay_ = first_retry;
    retry_at_ = std::chrono::steady_clock::now() + retry_delay_;
    return backend_event(event_type::backend_disconnected, "reason", std::move(reason));
  }

  Result<std::optional<Event>> backend_event(std::string_view type, std::string key, std::string value) const {
    Event e;
    e.seq = last_;  // not a stored event: it repeats the last seq delivered (see event_type)
    e.time = Clock::now();
    e.workload_name = "berthd";
    e.type = std::string(type);
    e.attributes = {{"backend", endpoint_.describe()}, {std::move(key), std::move(value)}};
    return std::optional<Event>(std::move(e));
  }

  http::Endpoint endpoint_;
  std::optional<LineStream> stream_;
  std::uint64_t last_;
  int attempts_ = 0;  // reconnects tried since the connection was lost
  std::chrono::milliseconds retry_delay_ = first_retry;
  std::chrono::steady_clock::time_point retry_at_{};
};

}  // namespace

std::string url_encode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else out += fmt::format("%{:02X}", c);
  }
  return out;
}

Result<std::unique_ptr<RemoteRuntime>> RemoteRuntime::connect(const http::Endpoint& endpoint,
                                                              std::chrono::milliseconds timeout) {
  std::unique_ptr<RemoteRuntime> self(new RemoteRuntime(endpoint));
  auto c = http::Connection::open(endpoint, timeout);
  if (!c) return std::unexpected(c.error());
  auto version = c->request("GET", "/v1/version", {}, "application/json", timeout);
  if (!version) return std::unexpected(version.error());
  // berthd answers, but serves as many clients or bodies as it takes already.
  if (version->status == 503) {
    auto said = error_from_json(json::parse(version->body, nullptr, false));
    return fail(ErrorCode::limit_exceeded, fmt::format("berthd at {} is busy ({})", endpoint.describe(),
                                                       said ? said->message : "HTTP 503"));
  }
  if (auto parsed = parse_body(*version); !parsed) return std::unexpected(parsed.error());
  self->connection_.emplace(std::move(*c));
  return self;
}

Result<json> RemoteRuntime::call(std::string_view method, const std::string& target,
                                 const std::optional<json>& body, std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  std::string payload = body ? dump_json(*body) : std::string();
  for (int attempt = 0;; ++attempt) {
    if (!connection_) {
      auto c = http::Connection::open(endpoint_, 2s);
      if (!c) return std::unexpected(c.error());
      connection_.emplace(std::move(*c));
    }
    auto response = connection_->request(method, target, payload, "application/json", timeout);
    if (response) return parse_body(*response);
    connection_.reset();
    // A kept connection berthd closed meanwhile: one fresh try for requests that are safe to repeat.
    if (attempt > 0 || method != "GET") return std::unexpected(response.error());
  }
}

std::string RemoteRuntime::workload_path(std::string_view ref, std::string_view tail) const {
  return fmt::format("/v1/workloads/{}{}", url_encode(ref), tail);
}

Result<WorkloadHandle> RemoteRuntime::create(const WorkloadSpec& spec) {
  auto r = call("POST", "/v1/workloads", to_json(spec));
  if (!r) return std::unexpected(r.error());
  return WorkloadHandle{r->value("id", ""), r->value("name", "")};
}

Result<void> RemoteRuntime::start(std::string_view ref) {
  auto r = call("POST", workload_path(ref, "/start"));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<ExitInfo> RemoteRuntime::stop(std::string_view ref, std::optional<std::chrono::milliseconds> grace) {
  auto r = call("POST", workload_path(ref, "/stop") + ms_query("grace_ms", grace));
  if (!r) return std::unexpected(r.error());
  return exit_from_json(*r);
}

Result<void> RemoteRuntime::kill(std::string_view ref, int signal) {
  auto r = call("POST", workload_path(ref, fmt::format("/kill?signal={}", signal)));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> RemoteRuntime::restart(std::string_view ref, std::optional<std::chrono::milliseconds> grace) {
  auto r = call("POST", workload_path(ref, "/restart") + ms_query("grace_ms", grace));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<TeardownReport> RemoteRuntime::remove(std::string_view ref, bool force) {
  auto r = call("DELETE", workload_path(ref, force ? "?force=true" : ""));
  if (!r) return std::unexpected(r.error());
  return report_from_json(*r);
}

Result<WorkloadStatus> RemoteRuntime::status(std::string_view ref) {
  auto r = call("GET", workload_path(ref, "/status"));
  if (!r) return std::unexpected(r.error());
  return status_from_json(*r);
}

Result<WorkloadInfo> RemoteRuntime::inspect(std::string_view ref) {
  auto r = call("GET", workload_path(ref));
  if (!r) return std::unexpected(r.error());
  return info_from_json(*r);
}

Result<ExitInfo> RemoteRuntime::wait(std::string_view ref, std::chrono::milliseconds timeout, std::stop_token) {
  auto r = call("POST", workload_path(ref, fmt::format("/wait?timeout_ms={}", timeout.count())), std::nullopt,
                timeout + 10s);
  if (!r) return std::unexpected(r.error());
  return exit_from_json(*r);
}

Result<std::unique_ptr<LogReader>> RemoteRuntime::logs(std::string_view ref, const LogOptions& options) {
  std::string query = fmt::format("?follow={}&stdout={}&stderr={}", options.follow, options.include_stdout,
                                  options.include_stderr);
  if (options.tail) query += fmt::format("&tail={}", *options.tail);
  if (options.since) query += "&since=" + url_encode(format_rfc3339_nano(*options.since));
  if (options.until) query += "&until=" + url_encode(format_rfc3339_nano(*options.until));
  auto c = http::Connection::open(endpoint_, 2s);
  if (!c) return std::unexpected(c.error());
  auto head = c->start_request("GET", workload_path(ref, "/logs") + query, {}, "application/json", 30s);
  if (!head) return std::unexpected(head.error());
  if (head->status != 200) {
    std::string body;
    while (auto part = c->read_body_part(5s)) {
      if (!*part) break;
      body += **part;
    }
    head->body = body;
    auto error = parse_body(*head);
    return std::unexpected(error ? Error{ErrorCode::internal, "logs failed"} : error.error());
  }
  return std::unique_ptr<LogReader>(new RemoteLogReader(std::move(*c)));
}

Result<ExecResult> RemoteRuntime::exec(std::string_view ref, const std::vector<std::string>& argv,
                                       const ExecOptions& options) {
  if (options.stdio)
    return fail(ErrorCode::unavailable, "an interactive exec needs this host's state store, not berthd");
  auto r = call("POST", workload_path(ref, "/exec"), json{{"argv", argv}, {"options", to_json(options)}},
                options.timeout + 10s);
  if (!r) return std::unexpected(r.error());
  return exec_result_from_json(*r);
}

Result<ResourceStats> RemoteRuntime::stats(std::string_view ref) {
  auto r = call("GET", workload_path(ref, "/stats"));
  if (!r) return std::unexpected(r.error());
  return stats_from_json(*r);
}

Result<std::uint16_t> RemoteRuntime::resolve_host_port(std::string_view ref, std::uint16_t container_port) {
  auto r = call("GET", workload_path(ref, fmt::format("/ports/{}", container_port)));
  if (!r) return std::unexpected(r.error());
  return r->value("host_port", std::uint16_t{0});
}

Result<std::string> RemoteRuntime::resolve_address(std::string_view ref, std::uint16_t port, std::string_view network) {
  auto r = call("GET", workload_path(ref, fmt::format("/address?port={}&network={}", port, url_encode(network))));
  if (!r) return std::unexpected(r.error());
  return r->value("address", "");
}

Result<std::vector<WorkloadInfo>> RemoteRuntime::list(const ListOptions& options) {
  auto r = call("GET", fmt::format("/v1/workloads?all={}", options.all));
  if (!r) return std::unexpected(r.error());
  if (!r->is_array()) return fail(ErrorCode::internal, "berthd's workload list is not an array");
  std::vector<WorkloadInfo> out;
  for (const auto& item : *r) {
    auto info = info_from_json(item);
    if (!info) return std::unexpected(info.error());
    out.push_back(std::move(*info));
  }
  return out;
}

Result<std::unique_ptr<EventReader>> RemoteRuntime::watch(std::uint64_t since_seq) {
  auto c = RemoteEventReader::open_event_stream(endpoint_, since_seq);
  if (!c) return std::unexpected(c.error());
  return std::unique_ptr<EventReader>(new RemoteEventReader(endpoint_, std::move(*c), since_seq));
}

Result<std::uint64_t> RemoteRuntime::last_event_seq() {
  auto r = call("GET", "/v1/version");
  if (!r) return std::unexpected(r.error());
  return r->value("last_event_seq", std::uint64_t{0});
}

Result<int> RemoteRuntime::attach(std::string_view) {
  return fail(ErrorCode::unavailable, "attach needs this host's state store, not berthd's API");
}

Result<void> RemoteRuntime::report_health(std::string_view, const HealthResult&, std::optional<WorkloadState>) {
  return fail(ErrorCode::permission_denied, "health is berthd's own to record");
}

Result<void> RemoteRuntime::restart_by_policy(std::string_view) {
  return fail(ErrorCode::permission_denied, "restart policies are berthd's own to apply");
}

Result<std::uint64_t> RemoteRuntime::publish_event(std::string_view, std::string_view,
                                                   const std::map<std::string, std::string>&) {
  return fail(ErrorCode::permission_denied, "events are berthd's own to publish");
}

Result<NetworkInfo> RemoteRuntime::create_network(const NetworkSpec& spec) {
  auto r = call("POST", "/v1/networks", to_json(spec));
  if (!r) return std::unexpected(r.error());
  return network_info_from_json(*r);
}

Result<std::vector<NetworkInfo>> RemoteRuntime::list_networks() {
  auto r = call("GET", "/v1/networks");
  if (!r) return std::unexpected(r.error());
  std::vector<NetworkInfo> out;
  for (const auto& item : *r) {
    auto info = network_info_from_json(item);
    if (!info) return std::unexpected(info.error());
    out.push_back(std::move(*info));
  }
  return out;
}

Result<NetworkInfo> RemoteRuntime::inspect_network(std::string_view ref) {
  auto r = call("GET", fmt::format("/v1/networks/{}", url_encode(ref)));
  if (!r) return std::unexpected(r.error());
  return network_info_from_json(*r);
}

Result<std::vector<std::string>> RemoteRuntime::remove_network(std::string_view ref) {
  auto r = call("DELETE", fmt::format("/v1/networks/{}", url_encode(ref)));
  if (!r) return std::unexpected(r.error());
  return r->value("released", std::vector<std::string>{});
}

Result<std::vector<std::string>> RemoteRuntime::prune_networks() {
  auto r = call("POST", "/v1/networks/prune");
  if (!r) return std::unexpected(r.error());
  return r->value("removed", std::vector<std::string>{});
}

Result<std::vector<VolumeInfo>> RemoteRuntime::list_volumes() {
  auto r = call("GET", "/v1/volumes");
  if (!r) return std::unexpected(r.error());
  std::vector<VolumeInfo> out;
  for (const auto& item : *r) {
    auto info = volume_info_from_json(item);
    if (!info) return std::unexpected(info.error());
    out.push_back(std::move(*info));
  }
  return out;
}

Result<VolumeInfo> RemoteRuntime::inspect_volume(std::string_view name) {
  auto r = call("GET", fmt::format("/v1/volumes/{}", url_encode(name)));
  if (!r) return std::unexpected(r.error());
  return volume_info_from_json(*r);
}

Result<void> RemoteRuntime::remove_volume(std::string_view name) {
  auto r = call("DELETE", fmt::format("/v1/volumes/{}", url_encode(name)));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<std::string>> RemoteRuntime::prune_volumes() {
  auto r = call("POST", "/v1/volumes/prune");
  if (!r) return std::unexpected(r.error());
  return r->value("removed", std::vector<std::string>{});
}

Result<void> RemoteRuntime::record_stack(const StackRecord& record) {
  auto r = call("PUT", fmt::format("/v1/stack-records/{}", url_encode(record.name)), to_json(record));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> RemoteRuntime::forget_stack(std::string_view name) {
  auto r = call("DELETE", fmt::format("/v1/stack-records/{}", url_encode(name)));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<std::vector<StackRecord>> RemoteRuntime::stack_records() {
  auto r = call("GET", "/v1/stack-records");
  if (!r) return std::unexpected(r.error());
  std::vector<StackRecord> out;
  for (const auto& item : *r) {
    auto record = stack_record_from_json(item);
    if (!record) return std::unexpected(record.error());
    out.push_back(std::move(*record));
  }
  return out;
}

Result<ImageInfo> RemoteRuntime::import_image(const std::string& path, const ImageImportOptions& options) {
  if (options.format != ImageFormat::automatic)
    return fail(ErrorCode::invalid_spec, "import through berthd: the format is detected, not given");
  json body{{"path", path}, {"reference", options.reference}};
  if (options.max_layer_size > 0) body["max_layer_size"] = options.max_layer_size;
  if (options.max_entry_size > 0) body["max_entry_size"] = options.max_entry_size;
  auto r = call("POST", "/v1/images", body);
  if (!r) return std::unexpected(r.error());
  return image::image_info_from_json(*r, "berthd's image");
}

Result<std::vector<ImageInfo>> RemoteRuntime::list_images() {
  auto r = call("GET", "/v1/images");
  if (!r) return std::unexpected(r.error());
  std::vector<ImageInfo> out;
  for (const auto& item : *r) {
    auto info = image::image_info_from_json(item, "berthd's image");
    if (!info) return std::unexpected(info.error());
    out.push_back(std::move(*info));
  }
  return out;
}

Result<ImageInfo> RemoteRuntime::inspect_image(std::string_view ref) {
  auto r = call("GET", fmt::format("/v1/images/{}", url_encode(ref)));
  if (!r) return std::unexpected(r.error());
  return image::image_info_from_json(*r, "berthd's image");
}

Result<std::vector<std::string>> RemoteRuntime::remove_image(std::string_view ref, bool force) {
  auto r = call("DELETE", fmt::format("/v1/images/{}{}", url_encode(ref), force ? "?force=true" : ""));
  if (!r) return std::unexpected(r.error());
  return r->value("removed", std::vector<std::string>{});
}

}  // namespace berth::client
