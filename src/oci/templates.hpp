// The documents berth-oci prints rather than reads: `spec` (a default config.json, as
// `runc spec` writes it) and `features` (runtime-spec features.md).
#pragma once

#include <string>

namespace berth::oci {

inline constexpr const char* oci_version = "1.1.0";

std::string default_config_json();
std::string features_json();

}  // namespace berth::oci
