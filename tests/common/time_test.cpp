#include "common/time.hpp"

#include <gtest/gtest.h>

namespace berth {
namespace {

using namespace std::chrono_literals;

TEST(TimeFormat, AlwaysNineFractionDigitsInUtc) {
  EXPECT_EQ(format_rfc3339_nano(from_unix_nanos(0)), "1970-01-01T00:00:00.000000000Z");
  EXPECT_EQ(format_rfc3339_nano(from_unix_nanos(1'795'887'626'123'456'789)),
            "2026-11-28T17:40:26.123456789Z");
  EXPECT_EQ(format_rfc3339_nano(from_unix_nanos(1'700'000'000'000'000'001)),
            "2023-11-14T22:13:20.000000001Z");
  // Before the epoch the fraction still counts forward from the second.
  EXPECT_EQ(format_rfc3339_nano(from_unix_nanos(-1)), "1969-12-31T23:59:59.999999999Z");
}

TEST(TimeFormat, UnixNanosRoundTrip) {
  for (std::int64_t n : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1},
                         std::int64_t{1'795'887'626'123'456'789}}) {
    EXPECT_EQ(to_unix_nanos(from_unix_nanos(n)), n);
  }
  auto now = Clock::now();
  auto parsed = parse_rfc3339(format_rfc3339_nano(now));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(to_unix_nanos(*parsed), to_unix_nanos(now));
}

TEST(TimeParse, Rfc3339Forms) {
  auto expect_nanos = [](std::string_view text, std::int64_t nanos) {
    auto t = parse_rfc3339(text);
    ASSERT_TRUE(t) << text << ": " << t.error().message;
    EXPECT_EQ(to_unix_nanos(*t), nanos) << text;
  };
  expect_nanos("2026-11-28T17:40:26Z", 1'795'887'626'000'000'000);
  expect_nanos("2026-11-28T17:40:26.123456789Z", 1'795'887'626'123'456'789);
  expect_nanos("2026-11-28T17:40:26.1Z", 1'795'887'626'100'000'000);
  expect_nanos("2026-11-28T17:40:26.000001Z", 1'795'887'626'000'001'000);
  expect_nanos("2026-11-28T19:40:26+02:00", 1'795'887'626'000'000'000);
  expect_nanos("2026-11-28T12:10:26.5-05:30", 1'795'887'626'500'000'000);
  expect_nanos("2026-11-28t17:40:26z", 1'795'887'626'000'000'000);
  expect_nanos("2024-02-29T00:00:00Z", 1'709'164'800'000'000'000);
  expect_nanos("1970-01-01T00:00:00Z", 0);
}

TEST(TimeParse, UnixSeconds) {
  auto t = parse_rfc3339("1732290000");
  ASSERT_TRUE(t);
  EXPECT_EQ(to_unix_nanos(*t), 1'732'290'000'000'000'000);
  t = parse_rfc3339("1732290000.5");
  ASSERT_TRUE(t);
  EXPECT_EQ(to_unix_nanos(*t), 1'732'290'000'500'000'000);
  t = parse_rfc3339("1732290000.123456789");  // exact, no floating point rounding
  ASSERT_TRUE(t);
  EXPECT_EQ(to_unix_nanos(*t), 1'732'290'000'123'456'789);
  t = parse_rfc3339("0");
  ASSERT_TRUE(t);
  EXPECT_EQ(to_unix_nanos(*t), 0);
}

TEST(TimeParse, RejectsWithMessageNamingText) {
  for (std::string_view bad :
       {"", "xyz", "2026-11-28", "2026-11-28T17:40:26", "2026-11-28T17:40:26.Z",
        "2026-11-28T17:40:26.1234567890Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z", "2026-11-28T24:00:00Z", "2026-11-28T-1:40:26Z",
        "2026-11-28T17:40:26+0200", "2026-11-28T17:40:26+24:00", "2026-11-28T17:40:26Zjunk",
        "1732290000.", ".5", "1.2.3", "1732290000.1234567890", "99999999999999999999",
        "-5"}) {
    auto t = parse_rfc3339(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().code, ErrorCode::invalid_spec);
  }
  auto t = parse_rfc3339("xyz");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().message,
            "invalid time \"xyz\": expected RFC 3339 (2006-01-02T15:04:05Z) or Unix seconds");
}

TEST(Duration, Forms) {
  auto expect_ms = [](std::string_view text, std::chrono::milliseconds want) {
    auto d = parse_duration(text);
    ASSERT_TRUE(d) << text << ": " << d.error().message;
    EXPECT_EQ(*d, want) << text;
  };
  expect_ms("10s", 10s);
  expect_ms("1m30s", 90s);
  expect_ms("250ms", 250ms);
  expect_ms("2h", 2h);
  expect_ms("1.5s", 1500ms);
  expect_ms("5", 5s);
  expect_ms("0.25", 250ms);
  expect_ms("0", 0ms);
  expect_ms("1h2m3s4ms", 1h + 2min + 3s + 4ms);
  expect_ms("1500us", 1ms);
  expect_ms("2000000ns", 2ms);
  expect_ms("0.1h", 6min);
}

TEST(Duration, RejectsWithMessageNamingText) {
  for (std::string_view bad : {"", "s", "10x", "1.s", "abc", "-5s", "5 s", "1m30",
                               "99999999999999999999h"}) {
    auto d = parse_duration(bad);
    ASSERT_FALSE(d) << bad;
    EXPECT_EQ(d.error().code, ErrorCode::invalid_spec);
    EXPECT_NE(d.error().message.find("\"" + std::string(bad) + "\""), std::string::npos) << d.error().message;
  }
}

}  // namespace
}  // namespace berth
