// How a workload's last health probes are kept in its state-store row (health_json).
#pragma once

#include <string>
#include <vector>

#include "berth/status.hpp"

namespace berth {

// How many probe results a status keeps, as Docker's health log does.
inline constexpr std::size_t health_results_kept = 5;

std::string encode_health_results(const std::vector<HealthResult>& results);
// A row written by an older or damaged store reads as no results rather than an error: health
// history is advisory.
std::vector<HealthResult> decode_health_results(const std::string& json_text);

}  // namespace berth
