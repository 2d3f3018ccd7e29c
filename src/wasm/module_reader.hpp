// Reading a Wasm module (binary or WAT text, from a file or bytes): validated with wabt and
// described as a ModuleInfo, plus what the engines need beyond it (global types).
#pragma once

#include "wasm/engine.hpp"

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace berth::wasm {

struct GlobalType {
  ValueType type = ValueType::i32;
  bool is_mutable = false;
};

struct LoadedModule {
  std::vector<std::uint8_t> bytes;  // the binary module (converted when read from WAT)
  ModuleInfo info;
  // Parallel to info.imports / info.exports: the type of each global (nullopt for others).
  std::vector<std::optional<GlobalType>> import_globals;
  std::vector<std::optional<GlobalType>> export_globals;
  // Parallel to info.imports: the element type of each table (nullopt for others).
  std::vector<std::optional<ValueType>> import_tables;
};

// A file ending in .wat (or whose bytes don't start with "\0asm") is read as WAT text.
Result<LoadedModule> read_module_file(const std::filesystem::path& path);
// A file's contents already read, told apart as read_module_file does.
Result<LoadedModule> read_module_contents(std::span<const std::uint8_t> bytes, const std::filesystem::path& path);
Result<LoadedModule> read_module_bytes(std::span<const std::uint8_t> bytes,
                                       std::string_view name = "module.wasm");
Result<LoadedModule> read_wat(std::string_view text, std::string_view name = "module.wat");

struct CSource {
  std::string source;  // includes the header by the name given
  std::string header;
};

// In-process wasm2c: the module as C, its symbols prefixed by the mangled `module_name`.
Result<CSource> generate_c(std::span<const std::uint8_t> bytes, std::string_view module_name,
                           std::string_view header_name);

}  // namespace berth::wasm
