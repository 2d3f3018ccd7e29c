// Where an HTTP or TCP health check connects: the target text of a HealthCheck.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "berth/error.hpp"

namespace berth {

// "8080", ":8080/healthz", "8080/healthz", "127.0.0.1:8080/x", "http://127.0.0.1:8080/x".
// The host defaults to 127.0.0.1: the workload's own loopback.
struct ProbeTarget {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string path = "/";
};
Result<ProbeTarget> parse_probe_target(std::string_view text);

}  // namespace berth
