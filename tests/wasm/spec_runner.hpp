// The WebAssembly spec test-suite runner, generic over engines: converts a .wast file with
// wast2json, provides the `spectest` module, and runs every command against modules made by
// the engine's factory.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
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

// A file an engine cannot pass entirely: at most `failures` of its commands may fail, and why.
struct ExpectedFailures {
  int failures = 0;
  std::string reason;
};

struct SuiteOptions {
  std::string engine;  // for the report: "aot", "interp"
  std::map<std::string, ExpectedFailures> expected;  // by file name
  // Files the engine does not run at all, with the reason printed once (e.g. SIMD on AOT).
  std::function<bool(const std::string& file)> not_run;
  std::string not_run_reason;
  int threads = 2;
};

// Runs every .wast file of the suite (BERTH_SPEC_ONLY=name.wast for one), prints a line per
// file and the totals per engine, and fails the current test on any failure beyond the
// expected ones. Skips the test when the suite is absent.
void run_suite(const ModuleFactory& factory, const SuiteOptions& options);

}  // namespace berth::wasm::spec
