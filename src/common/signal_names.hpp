// Signals by the names people and image configs write: TERM, SIGTERM, sigterm, 15, RTMIN+3.
#pragma once

#include <string_view>

#include "berth/error.hpp"

namespace berth {

// The signal number; the error names `field` and the text.
Result<int> parse_signal(std::string_view text, std::string_view field = "signal");

}  // namespace berth
