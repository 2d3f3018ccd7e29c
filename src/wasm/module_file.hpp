// A module as a file, for an engine: binary (.wasm), WebAssembly text (.wat), or an AOT artifact
// made by `berth wasm compile` (.bwasm, recognised by its magic number), which the AOT engine
// loads without a C compiler and the interpreter runs from the module bytes it carries.
// Errors name the path.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <berth/error.hpp>

#include "wasm/engine.hpp"
#include "wasm/module_reader.hpp"

namespace berth::wasm {

// Read and validated, whatever the file's form; nothing compiled.
Result<LoadedModule> read_module_any(const std::filesystem::path& path);

// Whether `path` is an AOT artifact (.bwasm, by its magic number); false when unreadable.
bool is_artifact_file(const std::filesystem::path& path);

// Reads `path` and loads it with `engine` (empty: the default). The AOT engine compiles into
// (or finds in) `aot_cache_dir`, empty meaning aot::default_cache_dir().
Result<std::shared_ptr<CompiledModule>> load_module_file(const std::string& engine, const std::filesystem::path& path,
                                                         const std::filesystem::path& aot_cache_dir = {});

// What create does so that start does not wait for a compiler: for the AOT engine, compiles
// `path` into the cache (unless it is already an artifact); for the interpreter, nothing.
Result<void> prepare_module_file(const std::string& engine, const std::filesystem::path& path,
                                 const std::filesystem::path& aot_cache_dir);

}  // namespace berth::wasm
