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

std::optional<std::uint16_t> parse_port_number(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value < 1 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace berth
