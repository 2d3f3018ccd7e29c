// Sizes as people write them: "512m", "1g", "1.5GiB", "1024".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "berth/error.hpp"

namespace berth {

// A number (decimals allowed) with an optional unit b, k, m, g or t, each optionally followed
// by "b" or "ib" (k, kb, kib), in any case. Units are binary (k = 1024), as Docker reads them.
// `field` names the setting in the error: memory: invalid size "12XB" (...).
Result<std::int64_t> parse_size(std::string_view text, std::string_view field);
// Binary units with up to 4 significant digits: "512B", "1.5KiB", "12.5MiB", "2GiB".
std::string format_size(std::uint64_t bytes);

}  // namespace berth
