// Signal names as people type them: TERM, SIGTERM, sigterm, 15.
#pragma once

#include <string_view>

#include "berth/error.hpp"

namespace berth::cli {

Result<int> parse_signal(std::string_view text);

}  // namespace berth::cli
