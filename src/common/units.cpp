#include "common/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace berth {

namespace {

// Bytes per unit, by the unit's letter; 0 when it is not a unit.
double unit_scale(char letter) {
  switch (letter) {
    case 'b': return 1;
    case 'k': return 0x1p10;
    case 'm': return 0x1p20;
    case 'g': return 0x1p30;
    case 't': return 0x1p40;
    default: return 0;
  }
}

}  // namespace

Result<std::int64_t> parse_size(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: invalid size \"{}\" (a number with b, k, m, g or t)", field, text));
  };
  std::size_t digits = 0;
  while (digits < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  if (digits == 0) return bad();
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || end != text.data() + digits) return bad();
  std::string unit;
  for (char c : text.substr(digits)) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double scale = 1;
  if (!unit.empty()) {
    scale = unit_scale(unit[0]);
    std::string_view suffix = std::string_view(unit).substr(1);
    bool suffix_ok = suffix.empty() || (unit[0] != 'b' && (suffix == "b" || suffix == "ib"));
    if (scale == 0 || !suffix_ok) return bad();
  }
  double bytes = std::floor(number * scale);
  if (!std::isfinite(bytes) || bytes >= 0x1p63) return bad();
  return static_cast<std::int64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{}B", bytes);
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  // 1023.5 and up would print as "1024" at 4 digits: show it in the next unit instead.
  while (v >= 1023.5 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.4g}{}", v, units[u]);
}

}  // namespace berth
