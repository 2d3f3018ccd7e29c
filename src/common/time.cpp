#include "common/time.hpp"

#include <ctime>
#include <fmt/format.h>

namespace berth {

namespace {

constexpr std::int64_t nanos_per_second = 1'000'000'000;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

void put2(char* out, int v) {
  out[0] = static_cast<char>('0' + v / 10);
  out[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

std::int64_t to_unix_nanos(TimePoint time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

TimePoint from_unix_nanos(std::int64_t nanos) {
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(nanos)));
}

std::string format_rfc3339_nano(TimePoint time) {
  std::int64_t nanos = to_unix_nanos(time);
  std::int64_t secs = nanos / nanos_per_second;
  std::int64_t frac = nanos % nanos_per_second;
  if (frac < 0) {
    frac += nanos_per_second;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) return fmt::format("{}.{:09}", secs, frac);  // unreachable
  int year = tm.tm_year + 1900;
  if (year < 0 || year > 9999) {
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z", year, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  }
  // Hand-formatted: this runs for every log record the shim writes.
  char buf[30];  // "2026-11-22T17:40:26.123456789Z"
  put2(buf, year / 100);
  put2(buf + 2, year % 100);
  buf[4] = '-';
  put2(buf + 5, tm.tm_mon + 1);
  buf[7] = '-';
  put2(buf + 8, tm.tm_mday);
  buf[10] = 'T';
  put2(buf + 11, tm.tm_hour);
  buf[13] = ':';
  put2(buf + 14, tm.tm_min);
  buf[16] = ':';
  put2(buf + 17, tm.tm_sec);
  buf[19] = '.';
  for (int i = 28; i >= 20; --i) {
    buf[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  buf[29] = 'Z';
  return std::string(buf, sizeof buf);
}

namespace {

std::unexpected<Error> bad_time(std::string_view text) {
  return fail(ErrorCode::invalid_spec,
              fmt::format("invalid time \"{}\": expected RFC 3339 (2006-01-02T15:04:05Z) or "
                          "Unix seconds",
                          text));
}

// Reads exactly `digits` decimal digits (no sign) at `pos`.
bool read_int(std::string_view text, std::size_t& pos, int digits, int& out) {
  if (pos + static_cast<std::size_t>(digits) > text.size()) return false;
  int v = 0;
  for (int i = 0; i < digits; ++i) {
    char c = text[pos + static_cast<std::size_t>(i)];
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  pos += static_cast<std::size_t>(digits);
  return true;
}

bool expect(std::string_view text, std::size_t& pos, char c) {
  if (pos >= text.size()) return false;
  char got = text[pos];
  bool ok = got == c || (c == 'T' && (got == 't' || got == ' '));
  if (ok) ++pos;
  return ok;
}

bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

// "123" or "123.456" (an unsigned decimal) times `unit_nanos`, exactly, in integer arithmetic.
// Fraction digits beyond `max_fraction` are an error when `strict`, otherwise ignored.
std::optional<std::int64_t> parse_decimal_nanos(std::string_view text, std::int64_t unit_nanos,
                                                std::size_t max_fraction, bool strict) {
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac =
      dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  if (dot != std::string_view::npos && frac.empty()) return std::nullopt;  // "5."
  if (whole.empty()) return std::nullopt;                                   // ".5"
  std::int64_t w = 0;
  for (char c : whole) {
    if (!is_digit(c)) return std::nullopt;
    if (__builtin_mul_overflow(w, 10, &w) || __builtin_add_overflow(w, c - '0', &w))
      return std::nullopt;
  }
  std::int64_t total = 0;
  if (__builtin_mul_overflow(w, unit_nanos, &total)) return std::nullopt;
  if (strict && frac.size() > max_fraction) return std::nullopt;
  // The fraction, at most 9 digits: num / den of one unit.
  std::int64_t num = 0, den = 1;
  for (std::size_t i = 0; i < frac.size(); ++i) {
    char c = frac[i];
    if (!is_digit(c)) return std::nullopt;
    if (i >= max_fraction) continue;  // beyond nanosecond precision: ignored
    num = num * 10 + (c - '0');
    den *= 10;
  }
  std::int64_t extra = 0;
  if (num != 0) {
    // unit * num / den, exact and without overflow: unit = q*den + r.
    std::int64_t q = unit_nanos / den, r = unit_nanos % den;
    std::int64_t a = 0;
    if (__builtin_mul_overflow(q, num, &a)) return std::nullopt;
    extra = a + (r * num) / den;  // r < den <= 1e9 and num < 1e9: r*num < 1e18 fits
  }
  if (__builtin_add_overflow(total, extra, &total)) return std::nullopt;
  return total;
}

}  // namespace

Result<TimePoint> parse_rfc3339(std::string_view text) {
  if (text.empty()) return bad_time(text);
  bool numeric = true;
  for (char c : text) numeric = numeric && (is_digit(c) || c == '.');
  if (numeric) {
    auto nanos = parse_decimal_nanos(text, nanos_per_second, 9, true);
    if (!nanos) return bad_time(text);
    return from_unix_nanos(*nanos);
  }
  std::size_t pos = 0;
  int year, month, day, hour, minute, second;
  if (!read_int(text, pos, 4, year) || !expect(text, pos, '-') || !read_int(text, pos, 2, month) ||
      !expect(text, pos, '-') || !read_int(text, pos, 2, day) || !expect(text, pos, 'T') ||
      !read_int(text, pos, 2, hour) || !expect(text, pos, ':') || !read_int(text, pos, 2, minute) ||
      !expect(text, pos, ':') || !read_int(text, pos, 2, second))
    return bad_time(text);
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 60)  // 60: a leap second, which timegm folds into the next minute
    return bad_time(text);
  std::int64_t frac_nanos = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && is_digit(text[pos])) {
      if (++digits > 9) return bad_time(text);
      frac_nanos = frac_nanos * 10 + (text[pos] - '0');
      ++pos;
    }
    if (digits == 0) return bad_time(text);
    for (int i = digits; i < 9; ++i) frac_nanos *= 10;
  }
  std::int64_t offset_seconds = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos] == '+' ? 1 : -1;
    ++pos;
    int oh, om;
    if (!read_int(text, pos, 2, oh) || !expect(text, pos, ':') || !read_int(text, pos, 2, om) ||
        oh > 23 || om > 59)
      return bad_time(text);
    offset_seconds = sign * (oh * 3600 + om * 60);
  } else {
    return bad_time(text);
  }
  if (pos != text.size()) return bad_time(text);
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  std::int64_t secs = static_cast<std::int64_t>(::timegm(&tm)) - offset_seconds;
  std::int64_t nanos = 0;
  if (__builtin_mul_overflow(secs, nanos_per_second, &nanos) ||
      __builtin_add_overflow(nanos, frac_nanos, &nanos))
    return bad_time(text);  // outside what a TimePoint holds (years 1678..2262)
  return from_unix_nanos(nanos);
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorCode::invalid_spec,
                fmt::format("invalid duration \"{}\": expected e.g. 10s, 1m30s, 250ms, 2h or "
                            "plain seconds",
                            text));
  };
  if (text.empty()) return bad();
  bool numeric = true;
  for (char c : text) numeric = numeric && (is_digit(c) || c == '.');
  if (numeric) {
    auto plain = parse_decimal_nanos(text, nanos_per_second, 9, false);
    if (!plain) return bad();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(*plain));
  }
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = pos;
    while (pos < text.size() && (is_digit(text[pos]) || text[pos] == '.')) ++pos;
    std::string_view number = text.substr(start, pos - start);
    std::size_t unit_start = pos;
    while (pos < text.size() && !is_digit(text[pos]) && text[pos] != '.') ++pos;
    std::string_view unit = text.substr(unit_start, pos - unit_start);
    std::int64_t unit_nanos;
    if (unit == "ns") unit_nanos = 1;
    else if (unit == "us" || unit == "\u00b5s") unit_nanos = 1000;
    else if (unit == "ms") unit_nanos = 1000000;
    else if (unit == "s") unit_nanos = nanos_per_second;
    else if (unit == "m") unit_nanos = 60 * nanos_per_second;
    else if (unit == "h") unit_nanos = 3600 * nanos_per_second;
    else if (unit == "d") unit_nanos = 86400 * nanos_per_second;
    else return bad();
    auto value = parse_decimal_nanos(number, unit_nanos, 9, false);
    if (!value || __builtin_add_overflow(total, *value, &total)) return bad();
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(total));
}

}  // namespace berth
