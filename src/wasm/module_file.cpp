#include "wasm/module_file.hpp"

#include <fmt/format.h>

#include "common/fs.hpp"
#include "wasm/aot/aot_engine.hpp"
#include "wasm/engines.hpp"

namespace berth::wasm {
namespace {

bool is_artifact(const std::string& bytes) { return bytes.starts_with(aot::artifact_magic()); }

}  // namespace

Result<LoadedModule> read_module_any(const std::filesystem::path& path) {
  auto text = read_file(path.string());
  if (!text) return std::unexpected(text.error().with_context("module"));
  if (!is_artifact(*text)) return read_module_file(path);
  auto artifact = aot::decode_artifact(*text, path.string());
  if (!artifact) return std::unexpected(artifact.error());
  return read_module_bytes(artifact->module, path.string());
}

Result<std::shared_ptr<CompiledModule>> load_module_file(const std::string& engine, const std::filesystem::path& path,
                                                         const std::filesystem::path& aot_cache_dir) {
  auto context = [&](Error e) { return std::unexpected(e.with_context(fmt::format("module {}", path.string()))); };
  if (auto r = check_engine(engine); !r) return std::unexpected(r.error());
  auto text = read_file(path.string());
  if (!text) return std::unexpected(text.error().with_context("module"));
  std::string_view chosen = engine.empty() ? default_engine() : std::string_view(engine);
  if (is_artifact(*text)) {
    auto artifact = aot::decode_artifact(*text, path.string());
    if (!artifact) return std::unexpected(artifact.error());
    if (chosen == "aot") {
      auto module = aot::load(*artifact);
      if (!module) return context(module.error());
      return module;
    }
    auto module = load_module(chosen, artifact->module, aot_cache_dir);
    if (!module) return context(module.error());
    return module;
  }
  auto read = read_module_file(path);
  if (!read) return std::unexpected(read.error());
  if (chosen == "aot") {  // read and validated already: compile (or find) without reading again
    aot::CompileOptions options;
    options.cache_dir = aot_cache_dir;
    auto module = aot::compile(*read, options);
    if (!module) return context(module.error());
    return module;
  }
  auto module = load_module(chosen, read->bytes, aot_cache_dir);
  if (!module) return context(module.error());
  return module;
}

Result<void> prepare_module_file(const std::string& engine, const std::filesystem::path& path,
                                 const std::filesystem::path& aot_cache_dir) {
  std::string_view chosen = engine.empty() ? default_engine() : std::string_view(engine);
  if (chosen != "aot") return {};
  auto text = read_file(path.string());
  if (!text) return std::unexpected(text.error().with_context("module"));
  if (is_artifact(*text)) return {};
  auto module = read_module_file(path);
  if (!module) return std::unexpected(module.error());
  aot::CompileOptions options;
  options.cache_dir = aot_cache_dir;
  auto artifact = aot::compile_cached(*module, options);
  if (!artifact) return std::unexpected(artifact.error().with_context(fmt::format("module {}", path.string())));
  return {};
}

}  // namespace berth::wasm
