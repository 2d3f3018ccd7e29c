// A Wasm module from bytes, as the interpreter engine loads it (wabt's reader and validator,
// then berth's limits and its description of imports and exports), and as module_reader
// describes it for the CLI and the runtime's checks at create. No instantiation, no compiler.
// wabt is a prebuilt Debian library: its code carries no coverage, so the fuzzer is guided by
// berth's side only (the bridge and what it makes of wabt's answers).
#include <cstdint>
#include <cstdlib>
#include <span>

#include "wasm/interp/interp_engine.hpp"
#include "wasm/module_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  auto module = berth::wasm::interp::load_module(bytes);
  auto read = berth::wasm::read_module_bytes(bytes);
  // Both read with wabt, with different features (the reader refuses SIMD, which wasm2c's C
  // writer cannot take): when both accept a module, they must describe the same one.
  if (module && read) {
    const auto& a = (*module)->info();
    const auto& b = read->info;
    if (a.imports.size() != b.imports.size() || a.exports.size() != b.exports.size()) std::abort();
    for (std::size_t i = 0; i < a.exports.size(); ++i)
      if (a.exports[i].name != b.exports[i].name || a.exports[i].kind != b.exports[i].kind) std::abort();
  }
  return 0;
}
