// WebAssembly text to binary, in-process, with wabt's WAT parser: for tests and tools that write
// modules as text. C++17-clean (wat_wabt.cpp, which includes wabt, is compiled as C++17).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::wasm {

// Parses `text` (one module) and writes its binary form to `out`. Returns false with wabt's
// messages (line:column) in `error`. The result is not validated: loading a module does that.
bool wat_to_wasm(std::string_view text, std::vector<std::uint8_t>* out, std::string* error);

}  // namespace berth::wasm
