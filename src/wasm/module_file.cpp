#include "wasm/module_file.hpp"

#include <fmt/format.h>

#include <cstring>

#include "common/fs.hpp"
#include "wasm/engines.hpp"
#include "wasm/interp/wat.hpp"

namespace berth::wasm {

Result<std::vector<std::uint8_t>> read_module_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error().with_context("module"));
  static constexpr char magic[4] = {'\0', 'a', 's', 'm'};
  if (text->size() >= 4 && std::memcmp(text->data(), magic, 4) == 0)
    return std::vector<std::uint8_t>(text->begin(), text->end());
  std::vector<std::uint8_t> binary;
  std::string error;
  if (!wat_to_wasm(*text, &binary, &error))
    return fail(ErrorCode::invalid_spec,
                fmt::format("module {}: neither a binary module nor valid WebAssembly text: {}", path, error));
  return binary;
}

Result<std::unique_ptr<CompiledModule>> load_module_file(const std::string& engine, const std::string& path) {
  auto bytes = read_module_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  auto module = load_module(engine, *bytes);
  if (!module) return std::unexpected(module.error().with_context(fmt::format("module {}", path)));
  return module;
}

}  // namespace berth::wasm
