#include "runtime/health_record.hpp"

#include <nlohmann/json.hpp>

#include "runtime/json.hpp"

namespace berth {

std::string encode_health_results(const std::vector<HealthResult>& results) { return dump_json(to_json(results)); }

std::vector<HealthResult> decode_health_results(const std::string& json_text) {
  auto results = health_results_from_json(nlohmann::json::parse(json_text, nullptr, false));
  return results ? std::move(*results) : std::vector<HealthResult>{};
}

}  // namespace berth
