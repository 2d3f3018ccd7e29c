#include <gtest/gtest.h>

#include "common/units.hpp"

namespace berth {
namespace {

TEST(ParseSize, ReadsBinaryUnitsAsDockerDoes) {
  EXPECT_EQ(parse_size("1024", "memory"), 1024);
  EXPECT_EQ(parse_size("0", "memory"), 0);
  EXPECT_EQ(parse_size("10b", "memory"), 10);
  EXPECT_EQ(parse_size("100k", "memory"), 100 * 1024);
  EXPECT_EQ(parse_size("512m", "memory"), 512LL << 20);
  EXPECT_EQ(parse_size("1g", "memory"), 1LL << 30);
  EXPECT_EQ(parse_size("1.5g", "memory"), 3LL << 29);
  EXPECT_EQ(parse_size("2t", "memory"), 2LL << 40);
}

TEST(ParseSize, TakesBAndIbSuffixesInAnyCase) {
  EXPECT_EQ(parse_size("512MB", "memory"), 512LL << 20);
  EXPECT_EQ(parse_size("512mib", "memory"), 512LL << 20);
  EXPECT_EQ(parse_size("1.5GiB", "memory"), 3LL << 29);
  EXPECT_EQ(parse_size("100K", "memory"), 100 * 1024);
  EXPECT_EQ(parse_size("100Kb", "memory"), 100 * 1024);
  EXPECT_EQ(parse_size("2TIB", "memory"), 2LL << 40);
  EXPECT_EQ(parse_size("64B", "memory"), 64);
}

TEST(ParseSize, RoundsFractionsOfAByteDown) {
  EXPECT_EQ(parse_size("0.5k", "memory"), 512);
  EXPECT_EQ(parse_size("1.0001k", "memory"), 1024);
  EXPECT_EQ(parse_size(".5m", "memory"), 512 * 1024);
}

TEST(ParseSize, NamesTheFieldAndTheText) {
  for (auto bad : {"12XB", "", "m", "-5m", "+5m", "1..2g", "5 m", " 5m", "5m ", "1e3", "0x10",
                   "5bb", "5bib", "5ib", "5kk", "5mbi", "99999999999999t", "9223372036854775808"}) {
    auto r = parse_size(bad, "memory-swap");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_spec);
    EXPECT_TRUE(r.error().message.starts_with(std::string("memory-swap: invalid size \"") + bad + "\""))
        << r.error().message;
  }
}

TEST(ParseSize, ReachesTheLargestSize) {
  EXPECT_EQ(parse_size("8388607t", "memory"), 8388607LL << 40);
  EXPECT_FALSE(parse_size("8388608t", "memory"));  // 2^63 does not fit
}

TEST(FormatSize, IsHumanReadable) {
  EXPECT_EQ(format_size(0), "0B");
  EXPECT_EQ(format_size(512), "512B");
  EXPECT_EQ(format_size(1023), "1023B");
  EXPECT_EQ(format_size(1024), "1KiB");
  EXPECT_EQ(format_size(1536), "1.5KiB");
  EXPECT_EQ(format_size(64ULL << 20), "64MiB");
  EXPECT_EQ(format_size(12ULL * 1024 * 1024 + 512 * 1024), "12.5MiB");
  EXPECT_EQ(format_size(3ULL << 29), "1.5GiB");
  EXPECT_EQ(format_size(5ULL << 40), "5TiB");
  EXPECT_EQ(format_size(UINT64_MAX), "16EiB");
}

TEST(FormatSize, NeverShows1024OfAUnit) {
  EXPECT_EQ(format_size((1ULL << 20) - 1), "1MiB");
  EXPECT_EQ(format_size((1ULL << 30) - (1ULL << 20)), "1023MiB");
}

TEST(FormatSize, ReadsBackThroughParseSize) {
  for (std::uint64_t bytes : {512ULL, 1536ULL, 64ULL << 20, 3ULL << 29, 5ULL << 40})
    EXPECT_EQ(parse_size(format_size(bytes), "memory"), static_cast<std::int64_t>(bytes)) << bytes;
}

}  // namespace
}  // namespace berth
