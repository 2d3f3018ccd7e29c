// The AOT engine: modules compiled through wasm2c and the system C compiler, loaded with
// dlopen, run on berth's runtime support (runtime.hpp).
#pragma once

#include "wasm/aot/artifact.hpp"
#include "wasm/engine.hpp"
#include "wasm/module_reader.hpp"

#include <filesystem>
#include <memory>
#include <span>

namespace berth::wasm::aot {

// Compiles (or finds in the cache) and loads.
Result<std::shared_ptr<CompiledModule>> compile(const LoadedModule& module, const CompileOptions& options = {});

// Loads an artifact: from a .bwasm file (no compiler needed) or already in memory.
Result<std::shared_ptr<CompiledModule>> load(const Artifact& artifact);
Result<std::shared_ptr<CompiledModule>> load_file(const std::filesystem::path& bwasm);

// `berth wasm compile in.wasm -o out.bwasm`: reads, validates, compiles, writes the artifact.
Result<void> compile_file(const std::filesystem::path& input, const std::filesystem::path& output,
                          const CompileOptions& options = {});

}  // namespace berth::wasm::aot
