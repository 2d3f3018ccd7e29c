// Engine selection: a name ("interp", "aot") to the function that loads a module with that
// engine. One table (engines.cpp), so plugging in an engine is one line there. An engine that is
// named but not built in fails with an error that says so; nothing falls back to another engine.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <berth/error.hpp>

#include "wasm/engine.hpp"

namespace berth::wasm {

// What an empty engine name means. "interp" until the AOT engine lands; then "aot".
std::string_view default_engine();

// Every engine name berth knows, built in or not ("aot", "interp").
std::vector<std::string_view> engine_names();

// invalid_spec for a name berth does not know, unavailable for one that is not built in.
// An empty name is the default engine.
Result<void> check_engine(std::string_view engine);

// Validates and loads a binary module with `engine` (empty: the default).
Result<std::unique_ptr<CompiledModule>> load_module(std::string_view engine,
                                                    std::span<const std::uint8_t> bytes);

}  // namespace berth::wasm
