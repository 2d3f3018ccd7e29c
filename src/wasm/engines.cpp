#include "wasm/engines.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "wasm/aot/aot_engine.hpp"
#include "wasm/interp/interp_engine.hpp"

namespace berth::wasm {
namespace {

using Loader = Result<std::shared_ptr<CompiledModule>> (*)(const LoadedModule&,
                                                          const std::filesystem::path& aot_cache_dir);

Result<std::shared_ptr<CompiledModule>> load_interp(const LoadedModule& module, const std::filesystem::path&) {
  auto loaded = interp::load_module(module.bytes);
  if (!loaded) return std::unexpected(loaded.error());
  return std::shared_ptr<CompiledModule>(std::move(*loaded));
}

Result<std::shared_ptr<CompiledModule>> load_aot(const LoadedModule& module, const std::filesystem::path& aot_cache_dir) {
  aot::CompileOptions options;
  options.cache_dir = aot_cache_dir;
  return aot::compile(module, options);
}

struct EngineEntry {
  std::string_view name;
  Loader load;
};

// The engines, in the order `engine_names` lists them.
constexpr EngineEntry engines[] = {
    {"aot", load_aot},
    {"interp", load_interp},
};

const EngineEntry* find(std::string_view name) {
  name = effective_engine(name);
  for (const auto& entry : engines)
    if (entry.name == name) return &entry;
  return nullptr;
}

}  // namespace

// AOT: native speed once compiled, and compiled once per module and machine (the cache).
std::string_view default_engine() { return "aot"; }

std::string_view effective_engine(std::string_view engine) { return engine.empty() ? default_engine() : engine; }

std::vector<std::string_view> engine_names() {
  std::vector<std::string_view> names;
  for (const auto& entry : engines) names.push_back(entry.name);
  return names;
}

Result<void> check_engine(std::string_view engine) {
  const auto* entry = find(engine);
  if (!entry)
    return fail(ErrorCode::invalid_spec,
                fmt::format("engine: \"{}\" is not one of {}", engine, fmt::join(engine_names(), ", ")));
  return {};
}

Result<std::shared_ptr<CompiledModule>> load_module(std::string_view engine, const LoadedModule& module,
                                                    const std::filesystem::path& aot_cache_dir) {
  if (auto r = check_engine(engine); !r) return std::unexpected(r.error());
  return find(engine)->load(module, aot_cache_dir);
}

Result<std::shared_ptr<CompiledModule>> load_module(std::string_view engine, std::span<const std::uint8_t> bytes,
                                                    const std::filesystem::path& aot_cache_dir) {
  if (auto r = check_engine(engine); !r) return std::unexpected(r.error());
  auto module = read_module_bytes(bytes);
  if (!module) return std::unexpected(module.error());
  return load_module(engine, *module, aot_cache_dir);
}

}  // namespace berth::wasm
