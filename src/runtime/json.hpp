// JSON forms of the public types: the spec as stored in the state store, and what
// `--format json` and the REST API print. One place, so every surface agrees.
#pragma once

#include <nlohmann/json.hpp>

#include "berth/error.hpp"
#include "berth/runtime.hpp"

namespace berth {

nlohmann::json to_json(const WorkloadSpec& spec);
// Strict: an unknown key or a value of the wrong type is an invalid_spec error naming it.
Result<WorkloadSpec> spec_from_json(const nlohmann::json& json);

nlohmann::json to_json(const WorkloadStatus& status);
nlohmann::json to_json(const WorkloadInfo& info);
nlohmann::json to_json(const ResourceStats& stats);
nlohmann::json to_json(const TeardownReport& report);
nlohmann::json to_json(const ExitInfo& exit);
nlohmann::json to_json(const ExecResult& result);
nlohmann::json to_json(const Event& event);
nlohmann::json to_json(const LogChunk& chunk);

// Dumps without throwing on bytes that are not UTF-8 (they print as U+FFFD).
std::string dump_json(const nlohmann::json& json, int indent = -1);

}  // namespace berth
