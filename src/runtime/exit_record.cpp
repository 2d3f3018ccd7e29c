#include "runtime/exit_record.hpp"

#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "common/time.hpp"
#include "runtime/json.hpp"

namespace berth {

Result<void> write_exit_record(const std::string& path, const ExitRecord& record) {
  nlohmann::json j = to_json(record.exit);
  j["finished_at"] = format_rfc3339_nano(record.finished_at);
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
