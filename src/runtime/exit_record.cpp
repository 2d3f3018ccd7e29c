#include "runtime/exit_record.hpp"

#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "common/time.hpp"
#include "runtime/json.hpp"

namespace berth {

Result<void> write_exit_record(const std::string& path, const ExitRecord& record) {
  nlohmann::json j = to_json(record.exit);
  j["finished_at"] = format_rfc3339_nano(record.finished_at);
  if (const auto& u = record.usage) {
    nlohmann::json usage = {{"cpu_usage_ns", u->cpu_usage_ns},     {"memory_bytes", u->memory_bytes},
                            {"pids", u->pids},                     {"io_read_bytes", u->io_read_bytes},
                            {"io_write_bytes", u->io_write_bytes}, {"oom_kills", u->oom_kills}};
    if (u->memory_limit_bytes) usage["memory_limit_bytes"] = *u->memory_limit_bytes;
    if (u->memory_peak_bytes) usage["memory_peak_bytes"] = *u->memory_peak_bytes;
    if (u->pids_limit) usage["pids_limit"] = *u->pids_limit;
    j["usage"] = std::move(usage);
  }
  return write_file_atomic(path, j.dump() + "\n");
}

Result<ExitRecord> read_exit_record(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  auto j = nlohmann::json::parse(*text, nullptr, false);
  auto corrupt = [&] { return fail(ErrorCode::internal, "exit record " + path + ": corrupt"); };
  if (!j.is_object()) return corrupt();
  ExitRecord r;
  auto state = parse_workload_state(j.value("state", ""));
  if (!state) return corrupt();
  r.exit.state = *state;
  if (j.contains("exit_code") && j["exit_code"].is_number_integer())
    r.exit.exit_code = j["exit_code"].get<int>();
  if (j.contains("exit_signal") && j["exit_signal"].is_number_integer())
    r.exit.exit_signal = j["exit_signal"].get<int>();
  r.exit.oom_killed = j.value("oom_killed", false);
  r.exit.reason = j.value("reason", "");
  auto finished = parse_rfc3339(j.value("finished_at", ""));
  if (!finished) return corrupt();
  r.finished_at = *finished;
  if (auto it = j.find("usage"); it != j.end() && it->is_object()) {
    auto number = [&](const char* key) -> std::optional<std::uint64_t> {
      auto field = it->find(key);
      if (field == it->end() || !field->is_number_unsigned()) return std::nullopt;
      return field->get<std::uint64_t>();
    };
    linux::CgroupStats u;
    u.cpu_usage_ns = number("cpu_usage_ns").value_or(0);
    u.memory_bytes = number("memory_bytes").value_or(0);
    u.memory_limit_bytes = number("memory_limit_bytes");
    u.memory_peak_bytes = number("memory_peak_bytes");
    u.pids = number("pids").value_or(0);
    u.pids_limit = number("pids_limit");
    u.io_read_bytes = number("io_read_bytes").value_or(0);
    u.io_write_bytes = number("io_write_bytes").value_or(0);
    u.oom_kills = number("oom_kills").value_or(0);
    r.usage = u;
  }
  return r;
}

state::NewEvent exit_event(const ExitInfo& exit) {
  std::map<std::string, std::string> attributes{{"reason", exit.reason}};
  if (exit.exit_code) attributes["exit_code"] = std::to_string(*exit.exit_code);
  if (exit.exit_signal) attributes["signal"] = std::to_string(*exit.exit_signal);
  if (exit.oom_killed) attributes["oom_killed"] = "true";
  return state::NewEvent{std::string(exit.oom_killed ? event_type::oom : event_type::exited),
                         std::move(attributes)};
}

}  // namespace berth
