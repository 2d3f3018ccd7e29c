// The C glue berth appends to wasm2c's output: a uniform entry per export (arguments and
// results in 64-bit slots), definitions of the import symbols the generated code expects
// (forwarding to berth's host trampoline or to pointers berth fills in), and the tables
// berth finds with dlsym.
#pragma once

#include "wasm/module_reader.hpp"

#include <cstdint>
#include <string>

namespace berth::wasm::aot {

inline constexpr std::string_view kCModuleName = "berth_guest";
inline constexpr std::uint32_t kGlueAbiVersion = 2;
inline constexpr std::uint64_t kImportContextMagic = 0x6265727468637478ull;  // "berthctx"

// What the generated code gets for every import module (berth passes one for all of them).
// Must match the C definition in glue.cpp.
struct ImportContext {
  // wasm2c 1.0.32 closes a funcref of an imported function (put into a table by an element
  // segment) over the address of the instance field that holds this context's address, not
  // over the context: the glue tells the two apart by this first word.
  std::uint64_t magic = kImportContextMagic;
  // Calls import `index` (a function); slots hold the arguments, then the results.
  // Returns 0, or the trap code the guest unwinds with.
  int (*call)(void* host, std::uint32_t index, std::uint64_t* slots);
  void* host;
  void** pointers;  // per import index: the memory, table or global it resolves to
};

// wasm2c's name mangling (1.0.32's CWriter::MangleName).
std::string mangle(std::string_view name);

// Fails when wasm2c 1.0.32 cannot translate the module (e.g. duplicate imports of one name).
Result<void> check_translatable(const LoadedModule& module);

std::string generate_glue(const LoadedModule& module);

}  // namespace berth::wasm::aot
