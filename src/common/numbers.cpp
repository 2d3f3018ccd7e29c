#include "common/numbers.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace berth {

Result<std::int64_t> parse_integer(std::string_view text, std::string_view field, std::int64_t min,
                                   std::int64_t max) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return fail(ErrorCode::invalid_spec, fmt::format("{}: \"{}\" is not a whole number", field, text));
  if (value < min || value > max) {
    std::string range = max == INT64_MAX ? fmt::format("at least {}", min)
                                         : fmt::format("in [{}, {}]", min, max);
    return fail(ErrorCode::invalid_spec, fmt::format("{}: {} is not {}", field, value, range));
  }
  return value;
}

Result<double> parse_number(std::string_view text, std::string_view field) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return fail(ErrorCode::invalid_spec, fmt::format("{}: \"{}\" is not a number", field, text));
  return value;
}

}  // namespace berth
