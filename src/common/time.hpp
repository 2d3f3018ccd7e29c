// Timestamps as berth writes them: RFC 3339 with nanoseconds, in UTC.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "berth/error.hpp"
#include "berth/status.hpp"

namespace berth {

// "2026-11-22T17:40:26.123456789Z"
std::string format_rfc3339_nano(TimePoint time);
// Accepts RFC 3339 with or without fraction, "Z" or "+hh:mm"; also a plain Unix time in seconds
// ("1732290000" or "1732290000.5"). Error names the text.
Result<TimePoint> parse_rfc3339(std::string_view text);
// A duration such as "10s", "1m30s", "250ms", "2h", or plain seconds "5".
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

std::int64_t to_unix_nanos(TimePoint time);
TimePoint from_unix_nanos(std::int64_t nanos);

}  // namespace berth
