// Helpers for the AOT engine's tests: modules from WAT text, compiled into a per-run cache.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "wasm/aot/aot_engine.hpp"
#include "wasm/module_reader.hpp"

namespace berth::wasm::aot::testing {

// One cache directory for the test binary's run (removed at exit).
inline const std::filesystem::path& test_cache_dir() {
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "berth-aot-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    static struct Remover {
      std::filesystem::path dir;
      ~Remover() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
    } remover{pattern};
    return std::filesystem::path(pattern);
  }();
  return dir;
}

inline CompileOptions test_options(std::string optimization = "-O1") {
  CompileOptions options;
  options.cache_dir = test_cache_dir();
  options.optimization = std::move(optimization);
  return options;
}

inline std::shared_ptr<CompiledModule> compile_wat(std::string_view wat, std::string optimization = "-O1") {
  auto module = read_wat(wat);
  EXPECT_TRUE(module.has_value()) << (module ? "" : module.error().message);
  if (!module) return nullptr;
  auto compiled = compile(*module, test_options(std::move(optimization)));
  EXPECT_TRUE(compiled.has_value()) << (compiled ? "" : compiled.error().message);
  return compiled ? *compiled : nullptr;
}

inline std::unique_ptr<Instance> instantiate(CompiledModule& module, const Imports& imports = {},
                                             const InstanceLimits& limits = {}) {
  auto instance = module.instantiate(imports, limits);
  EXPECT_TRUE(instance.has_value()) << (instance ? "" : instance.error().message);
  return instance ? std::move(*instance) : nullptr;
}

}  // namespace berth::wasm::aot::testing
