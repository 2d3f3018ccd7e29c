// Numbers as people write them in flags and files, with errors that name the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "berth/error.hpp"

namespace berth {

// Whole numbers in [min, max]; the error names `field` and the text.
Result<std::int64_t> parse_integer(std::string_view text, std::string_view field,
                                   std::int64_t min = INT64_MIN, std::int64_t max = INT64_MAX);
// A TCP or UDP port, 1-65535, in plain digits; nothing for anything else.
std::optional<std::uint16_t> parse_port_number(std::string_view text);
// Finite decimal numbers ("0.5", "2").
Result<double> parse_number(std::string_view text, std::string_view field);

}  // namespace berth
