// The WebAssembly spec test-suite runner, generic over engines: converts a .wast file with
// wast2json, provides the `spectest` module, and runs every command against modules made by
// the engine's factory.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "wasm/engine.hpp"

namespace berth::wasm::spec {

using ModuleFactory =
    std::function<Result<std::shared_ptr<CompiledModule>>(std::span<const std::uint8_t> bytes)>;

struct FileResult {
  std::string file;
  int passed = 0;
  int failed = 0;
  int skipped = 0;  // commands the runner does not judge (text-format assert_malformed, v128)
  std::vector<std::string> failures;  // "line N: what" (the first few)
};

// The test-suite directory (BERTH_SOURCE_DIR/../shared/wasm-testsuite); empty when absent.
std::filesystem::path testsuite_dir();

// Runs one .wast file; `work_dir` receives the converted modules.
FileResult run_file(const std::filesystem::path& wast, const ModuleFactory& factory,
                    const std::filesystem::path& work_dir);

}  // namespace berth::wasm::spec
