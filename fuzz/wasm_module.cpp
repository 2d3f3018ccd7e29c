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
  // Both validate with wabt: a module one engine takes, the reader takes too.
  if (module && !read) std::abort();
  if (module && read && module->info().exports.size() != read->info.exports.size()) std::abort();
  return 0;
}
