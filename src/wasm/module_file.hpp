// A module as a file: binary (.wasm, recognised by its magic number) or WebAssembly text (.wat,
// anything else that is not binary), read and turned into binary. Errors name the path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <berth/error.hpp>

#include "wasm/engine.hpp"

namespace berth::wasm {

Result<std::vector<std::uint8_t>> read_module_file(const std::string& path);

// Reads `path` and loads it with `engine` (empty: the default): a validated module.
Result<std::unique_ptr<CompiledModule>> load_module_file(const std::string& engine, const std::string& path);

}  // namespace berth::wasm
