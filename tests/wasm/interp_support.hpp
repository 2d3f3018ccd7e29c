// Helpers for the interpreter engine's tests: modules are written as WAT in the test and
// converted in-process (wasm/interp/wat.hpp, wabt's parser).
#pragma once

#include "wasm/interp/interp_engine.hpp"
#include "wasm/interp/wat.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace berth::wasm::test {

inline std::vector<std::uint8_t> wat(std::string_view text) {
  std::vector<std::uint8_t> bytes;
  std::string error;
  EXPECT_TRUE(wat_to_wasm(text, &bytes, &error)) << error;
  return bytes;
}

inline std::shared_ptr<interp::InterpModule> load_wat(std::string_view text) {
  auto module = interp::load_module(wat(text));
  EXPECT_TRUE(module.has_value()) << module.error().message;
  if (!module) return nullptr;
  return std::shared_ptr<interp::InterpModule>(std::move(*module));
}

inline std::unique_ptr<Instance> instantiate(CompiledModule& module, const Imports& imports = {},
                                             const InstanceLimits& limits = {}) {
  auto instance = module.instantiate(imports, limits);
  EXPECT_TRUE(instance.has_value()) << instance.error().message;
  if (!instance) return nullptr;
  return std::move(*instance);
}

}  // namespace berth::wasm::test
