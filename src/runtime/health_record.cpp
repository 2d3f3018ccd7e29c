#include "runtime/health_record.hpp"

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "runtime/json.hpp"

namespace berth {

std::string encode_health_results(const std::vector<HealthResult>& results) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : results)
    list.push_back({{"time", format_rfc3339_nano(r.time)}, {"exit_code", r.exit_code}, {"output", r.output}});
  return dump_json(list);
}

std::vector<HealthResult> decode_health_results(const std::string& json_text) {
  std::vector<HealthResult> results;
  auto list = nlohmann::json::parse(json_text, nullptr, false);
  if (!list.is_array()) return results;
  for (const auto& item : list) {
    if (!item.is_object() || !item.contains("time") || !item["time"].is_string()) continue;
    auto time = parse_rfc3339(item["time"].get<std::string>());
    if (!time) continue;
    HealthResult r;
    r.time = *time;
    r.exit_code = item.value("exit_code", 1);
    r.output = item.value("output", std::string());
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace berth
