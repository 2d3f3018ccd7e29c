#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "common/sha256.hpp"

namespace berth {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, IncrementalMatchesSha256sum) {
  std::string data;
  for (int i = 0; i < 1000003; ++i) data += static_cast<char>(i * 7 + (i >> 9));
  Sha256 pieces;
  for (std::size_t at = 0; at < data.size(); at += 1237) pieces.update(std::string_view(data).substr(at, 1237));
  std::string path = "/tmp/berth-sha256-test";
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
  FILE* p = ::popen(("sha256sum " + path).c_str(), "r");
  char buf[65] = {};
  std::fread(buf, 1, 64, p);
  ::pclose(p);
  std::remove(path.c_str());
  EXPECT_EQ(pieces.hex_digest(), std::string(buf));
}

}  // namespace
}  // namespace berth
