#include "wasm/engines.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "wasm/interp/interp_engine.hpp"

namespace berth::wasm {
namespace {

using Loader = Result<std::unique_ptr<CompiledModule>> (*)(std::span<const std::uint8_t>);

Result<std::unique_ptr<CompiledModule>> load_interp(std::span<const std::uint8_t> bytes) {
  auto module = interp::load_module(bytes);
  if (!module) return std::unexpected(module.error());
  return std::unique_ptr<CompiledModule>(std::move(*module));
}

struct EngineEntry {
  std::string_view name;
  Loader load;  // null: known, but not built into this berth
  std::string_view missing;  // why, when load is null
};

// The engines, in the order `engine_names` lists them.
constexpr EngineEntry engines[] = {
    {"aot", nullptr, "the AOT engine (wasm2c) is not built yet; use --engine interp"},
    {"interp", load_interp, {}},
};

const EngineEntry* find(std::string_view name) {
  if (name.empty()) name = default_engine();
  for (const auto& entry : engines)
    if (entry.name == name) return &entry;
  return nullptr;
}

}  // namespace

std::string_view default_engine() { return "interp"; }

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
  if (!entry->load)
    return fail(ErrorCode::unavailable, fmt::format("engine {}: {}", entry->name, entry->missing));
  return {};
}

Result<std::unique_ptr<CompiledModule>> load_module(std::string_view engine,
                                                    std::span<const std::uint8_t> bytes) {
  if (auto r = check_engine(engine); !r) return std::unexpected(r.error());
  return find(engine)->load(bytes);
}

}  // namespace berth::wasm
