#include <gtest/gtest.h>

#include "common/units.hpp"

namespace berth {
namespace {

TEST(ParseSize, ReadsBinaryUnitsAsDockerDoes) {
  EXPECT_EQ(parse_size("1024", "memory"), 1024);
  EXPECT_EQ(parse_size("100k", "memory"), 100 * 1024);
  EXPECT_EQ(parse_size("512m", "memory"), 512LL << 20);
  EXPECT_EQ(parse_size("512MB", "memory"), 512LL << 20);
  EXPECT_EQ(parse_size("1g", "memory"), 1LL << 30);
  EXPECT_EQ(parse_size("1.5GiB", "memory"), 3LL << 29);
  EXPECT_EQ(parse_size("2t", "memory"), 2LL << 40);
}

TEST(ParseSize, NamesTheFieldAndTheText) {
  for (auto bad : {"12XB", "", "m", "-5m", "1..2g", "5 m", "99999999999999t"}) {
    auto r = parse_size(bad, "memory");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_spec);
    EXPECT_NE(r.error().message.find("memory"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(std::string("\"") + bad + "\""), std::string::npos)
        << r.error().message;
  }
}

TEST(FormatSize, IsHumanReadable) {
  EXPECT_EQ(format_size(512), "512B");
  EXPECT_EQ(format_size(64ULL << 20), "64MiB");
  EXPECT_EQ(format_size(1536), "1.5KiB");
}

}  // namespace
}  // namespace berth
