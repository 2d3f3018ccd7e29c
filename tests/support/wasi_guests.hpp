// The WASI guests built from tests/wasm/guests/*.c (cmake/WasiGuests.cmake). Where clang cannot
// target wasm32-wasi they are not built, and tests that need one skip with a note.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "common/fs.hpp"

namespace berth::testing {

inline std::string wasi_guest(const std::string& name) {
  return std::string(BERTH_WASI_GUEST_DIR) + "/" + name + ".wasm";
}

#define BERTH_REQUIRE_GUEST(name)                                                        \
  do {                                                                                   \
    if (!::berth::path_exists(::berth::testing::wasi_guest(name)))                       \
      GTEST_SKIP() << "WASI guest " << (name) << " not built (no wasm32-wasi clang here)"; \
  } while (0)

}  // namespace berth::testing
