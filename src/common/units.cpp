#include "common/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <fmt/format.h>

namespace berth {

Result<std::int64_t> parse_size(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: invalid size \"{}\" (use a number with b, k, m, g or t)", field, text));
  };
  std::size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.'))
    ++digits;
  if (digits == 0) return bad();
  double number = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc() || p != text.data() + digits) return bad();
  std::string unit;
  for (char c : text.substr(digits)) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double scale;
  if (unit.empty() || unit == "b") scale = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") scale = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib") scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib") scale = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  else return bad();
  double bytes = number * scale;
  if (!std::isfinite(bytes) || bytes > 9.2e18) return bad();
  return static_cast<std::int64_t>(bytes);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{}B", bytes) : fmt::format("{:.4g}{}", v, units[u]);
}

}  // namespace berth
