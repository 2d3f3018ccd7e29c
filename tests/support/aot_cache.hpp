// The AOT artifact cache the Wasm tests share: one per user under /tmp, kept between runs, so a
// module is compiled once per machine (a cold spec suite takes minutes, a warm one seconds).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace berth::testing {

inline std::filesystem::path shared_aot_cache_dir() {
  return std::filesystem::temp_directory_path() / ("berth-spec-cache-" + std::to_string(::getuid()));
}

}  // namespace berth::testing
