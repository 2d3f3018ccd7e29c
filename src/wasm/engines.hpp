// Engine selection: a name ("interp", "aot") to the function that loads a module with that
// engine. One table (engines.cpp), so plugging in an engine is one line there. Nothing falls back
// to another engine: an engine that cannot load a module (no C compiler for aot) says why.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <berth/error.hpp>

#include "wasm/engine.hpp"
#include "wasm/module_reader.hpp"

namespace berth::wasm {

// What an empty engine name means: "aot".
std::string_view default_engine();
// `engine`, or the default when it is empty.
std::string_view effective_engine(std::string_view engine);

// Every engine name berth knows, built in or not ("aot", "interp").
std::vector<std::string_view> engine_names();

// invalid_spec for a name berth does not know.
// An empty name is the default engine.
Result<void> check_engine(std::string_view engine);

// Validates and loads a binary module with `engine` (empty: the default). The AOT engine
// compiles into (or finds in) `aot_cache_dir`; empty means aot::default_cache_dir().
Result<std::shared_ptr<CompiledModule>> load_module(std::string_view engine, std::span<const std::uint8_t> bytes,
                                                    const std::filesystem::path& aot_cache_dir = {});
// The same for a module already read and validated (module_reader.hpp).
Result<std::shared_ptr<CompiledModule>> load_module(std::string_view engine, const LoadedModule& module,
                                                    const std::filesystem::path& aot_cache_dir = {});

}  // namespace berth::wasm
