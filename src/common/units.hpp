// Sizes as people write them: "512m", "1g", "1.5GiB", "1024".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "berth/error.hpp"

namespace berth {

// Binary units (k = 1024) as Docker reads them; `field` names the setting in the error.
Result<std::int64_t> parse_size(std::string_view text, std::string_view field);
// "12.5MiB"
std::string format_size(std::uint64_t bytes);

}  // namespace berth
