#include "wasm/module_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "wasm/aot/aot_engine.hpp"
#include "wasm/engines.hpp"

namespace berth::wasm {
namespace {

// A module file read once: an AOT artifact (decoded; its module is read only when needed) or a
// module (.wasm / .wat, read and validated).
struct ModuleFile {
  std::optional<aot::Artifact> artifact;
  LoadedModule module;
};

Result<ModuleFile> read_once(const std::filesystem::path& path) {
  auto text = read_file(path.string());
  if (!text) return std::unexpected(text.error().with_context("module"));
  ModuleFile file;
  if (text->starts_with(aot::artifact_magic())) {
    auto artifact = aot::decode_artifact(*text, path.string());
    if (!artifact) return std::unexpected(artifact.error());
    file.artifact = std::move(*artifact);
    return file;
  }
  auto module = read_module_contents(
      std::span(reinterpret_cast<const std::uint8_t*>(text->data()), text->size()), path);
  if (!module) return std::unexpected(module.error());
  file.module = std::move(*module);
  return file;
}

}  // namespace

bool is_artifact_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  auto magic = aot::artifact_magic();
  std::string head(magic.size(), '\0');
  ssize_t n = ::read(fd.get(), head.data(), head.size());
  return n == static_cast<ssize_t>(head.size()) && head == magic;
}

Result<LoadedModule> read_module_any(const std::filesystem::path& path) {
  auto file = read_once(path);
  if (!file) return std::unexpected(file.error());
  if (!file->artifact) return std::move(file->module);
  return read_module_bytes(file->artifact->module, path.string());
}

Result<std::shared_ptr<CompiledModule>> load_module_file(const std::string& engine, const std::filesystem::path& path,
                                                         const std::filesystem::path& aot_cache_dir) {
  if (auto r = check_engine(engine); !r) return std::unexpected(r.error());
  auto file = read_once(path);
  if (!file) return std::unexpected(file.error());
  std::string_view chosen = effective_engine(engine);
  auto module = file->artifact && chosen == "aot" ? aot::load(*file->artifact)  // no compiler needed
                : file->artifact                 ? load_module(chosen, file->artifact->module, aot_cache_dir)
                                                 : load_module(chosen, file->module, aot_cache_dir);
  if (!module) return std::unexpected(module.error().with_context(fmt::format("module {}", path.string())));
  return module;
}

Result<void> prepare_module_file(const std::string& engine, const std::filesystem::path& path,
                                 const std::filesystem::path& aot_cache_dir) {
  if (effective_engine(engine) != "aot") return {};
  auto file = read_once(path);
  if (!file) return std::unexpected(file.error());
  if (file->artifact) return {};
  aot::CompileOptions options;
  options.cache_dir = aot_cache_dir;
  auto artifact = aot::compile_cached(file->module, options);
  if (!artifact) return std::unexpected(artifact.error().with_context(fmt::format("module {}", path.string())));
  return {};
}

}  // namespace berth::wasm
