// String forms of the public enums, shared by the store, the CLI and the JSON output.
#include <array>
#include <utility>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "berth/status.hpp"
#include "berth/streams.hpp"

namespace berth {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::invalid_spec: return "invalid_spec";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::unavailable: return "unavailable";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::limit_exceeded: return "limit_exceeded";
    case ErrorCode::permission_denied: return "permission_denied";
    case ErrorCode::internal: return "internal";
  }
  return "internal";
}

std::optional<ErrorCode> parse_error_code(std::string_view text) {
  for (auto code : {ErrorCode::not_found, ErrorCode::invalid_spec, ErrorCode::conflict,
                    ErrorCode::unavailable, ErrorCode::timeout, ErrorCode::limit_exceeded,
                    ErrorCode::permission_denied, ErrorCode::internal})
    if (to_string(code) == text) return code;
  return std::nullopt;
}

std::string_view to_string(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::process: return "process";
    case WorkloadKind::container: return "container";
    case WorkloadKind::wasm: return "wasm";
  }
  return "process";
}

std::optional<WorkloadKind> parse_workload_kind(std::string_view text) {
  for (auto kind : {WorkloadKind::process, WorkloadKind::container, WorkloadKind::wasm})
    if (to_string(kind) == text) return kind;
  return std::nullopt;
}

namespace {
constexpr std::array<std::pair<WorkloadState, std::string_view>, 9> state_names{{
    {WorkloadState::created, "created"},
    {WorkloadState::starting, "starting"},
    {WorkloadState::running, "running"},
    {WorkloadState::healthy, "healthy"},
    {WorkloadState::unhealthy, "unhealthy"},
    {WorkloadState::stopping, "stopping"},
    {WorkloadState::exited, "exited"},
    {WorkloadState::oom_killed, "oom-killed"},
    {WorkloadState::failed, "failed"},
}};
}  // namespace

std::string_view to_string(WorkloadState state) {
  for (auto& [s, name] : state_names)
    if (s == state) return name;
  return "failed";
}

std::optional<WorkloadState> parse_workload_state(std::string_view text) {
  for (auto& [s, name] : state_names)
    if (name == text) return s;
  return std::nullopt;
}

bool is_active(WorkloadState state) {
  switch (state) {
    case WorkloadState::starting:
    case WorkloadState::running:
    case WorkloadState::healthy:
    case WorkloadState::unhealthy:
    case WorkloadState::stopping:
      return true;
    default:
      return false;
  }
}

std::string_view to_string(LogStream stream) {
  return stream == LogStream::stdout_stream ? "stdout" : "stderr";
}

std::optional<LogStream> parse_log_stream(std::string_view text) {
  for (auto stream : {LogStream::stdout_stream, LogStream::stderr_stream})
    if (to_string(stream) == text) return stream;
  return std::nullopt;
}

}  // namespace berth
