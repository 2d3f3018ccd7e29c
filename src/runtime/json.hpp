// JSON forms of the public types: the spec as stored in the state store, and what
// `--format json` and the REST API print and take. One place, so every surface agrees.
//
// Every *_from_json reads back exactly what to_json wrote (from_json(to_json(x)) == x, times to
// the nanosecond) and is strict: an unknown key, a value of the wrong type (1.5 or true for an
// integer, -1 for an unsigned one) or an unknown enum name is an invalid_spec error naming the
// key's path ("resources.memroy_bytes: unknown field"). A key that is absent or null leaves the
// field at its default. No exception escapes.
//
// Images: image::image_info_to_json / image_info_from_json (image/image_config.hpp), in the
// image layer, which the shim's library does not link.
#pragma once

#include <nlohmann/json.hpp>

#include "berth/error.hpp"
#include "berth/runtime.hpp"

namespace berth {

nlohmann::json to_json(const WorkloadSpec& spec);
Result<WorkloadSpec> spec_from_json(const nlohmann::json& json);

nlohmann::json to_json(const std::vector<HealthResult>& results);
Result<std::vector<HealthResult>> health_results_from_json(const nlohmann::json& json);
nlohmann::json to_json(const WorkloadStatus& status);
Result<WorkloadStatus> status_from_json(const nlohmann::json& json);
// The status's keys and "spec".
nlohmann::json to_json(const WorkloadInfo& info);
Result<WorkloadInfo> info_from_json(const nlohmann::json& json);
nlohmann::json to_json(const ResourceStats& stats);
Result<ResourceStats> stats_from_json(const nlohmann::json& json);
nlohmann::json to_json(const TeardownReport& report);
Result<TeardownReport> report_from_json(const nlohmann::json& json);
nlohmann::json to_json(const ExitInfo& exit);
Result<ExitInfo> exit_from_json(const nlohmann::json& json);
// Without `stdio`: caller-owned fds do not cross a process boundary (a "stdio" key is refused).
nlohmann::json to_json(const ExecOptions& options);
Result<ExecOptions> exec_options_from_json(const nlohmann::json& json);
nlohmann::json to_json(const ExecResult& result);
Result<ExecResult> exec_result_from_json(const nlohmann::json& json);

nlohmann::json to_json(const Event& event);
Result<Event> event_from_json(const nlohmann::json& json);
nlohmann::json to_json(const LogChunk& chunk);
Result<LogChunk> log_chunk_from_json(const nlohmann::json& json);
nlohmann::json to_json(const LogOptions& options);
Result<LogOptions> log_options_from_json(const nlohmann::json& json);

// {"code": "not_found", "message": "..."}
// Networks (json_network.cpp, in berth_runtime: the shim needs none of it).
nlohmann::json to_json(const NetworkSpec& spec);
Result<NetworkSpec> network_spec_from_json(const nlohmann::json& json);
nlohmann::json to_json(const NetworkInfo& info);
Result<NetworkInfo> network_info_from_json(const nlohmann::json& json);
// Named volumes (json_network.cpp).
nlohmann::json to_json(const VolumeInfo& info);
Result<VolumeInfo> volume_info_from_json(const nlohmann::json& json);
// Stack records (json_network.cpp).
nlohmann::json to_json(const StackRecord& record);
Result<StackRecord> stack_record_from_json(const nlohmann::json& json);

nlohmann::json to_json(const Error& error);
Result<Error> error_from_json(const nlohmann::json& json);

// Dumps without throwing on bytes that are not UTF-8 (they print as U+FFFD). Such bytes (in a
// log chunk or exec output) therefore do not survive a trip through JSON text.
std::string dump_json(const nlohmann::json& json, int indent = -1);

}  // namespace berth
