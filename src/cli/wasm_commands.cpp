// berth wasm inspect: what a module imports and exports, its memory and size.
// berth wasm compile: a module compiled ahead of time into an artifact (.bwasm) that runs on a
// host without a C compiler.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "common/units.hpp"
#include "wasm/aot/aot_engine.hpp"
#include "wasm/module_file.hpp"

namespace berth::cli {

namespace {

std::string_view kind_name(wasm::ImportInfo::Kind kind) {
  switch (kind) {
    case wasm::ImportInfo::Kind::function: return "func";
    case wasm::ImportInfo::Kind::table: return "table";
    case wasm::ImportInfo::Kind::memory: return "memory";
    case wasm::ImportInfo::Kind::global: return "global";
    case wasm::ImportInfo::Kind::tag: return "tag";
  }
  return "unknown";
}

std::vector<std::string> type_names(const std::vector<wasm::ValueType>& types) {
  std::vector<std::string> out;
  for (auto t : types) out.emplace_back(wasm::to_string(t));
  return out;
}

std::string signature(const std::optional<wasm::FunctionType>& type) {
  if (!type) return "";
  return fmt::format("({}) -> ({})", fmt::join(type_names(type->params), ", "),
                     fmt::join(type_names(type->results), ", "));
}

nlohmann::json entry_json(std::string module, const std::string& name, wasm::ImportInfo::Kind kind,
                          const std::optional<wasm::FunctionType>& type) {
  nlohmann::json j{{"name", name}, {"kind", kind_name(kind)}};
  if (!module.empty()) j["module"] = module;
  if (type) {
    j["params"] = type_names(type->params);
    j["results"] = type_names(type->results);
  }
  return j;
}

std::string module_kind(const wasm::ModuleInfo& info) {
  if (info.has_start_export()) return "command";
  if (info.has_initialize_export()) return "reactor";
  return "library";
}

CommandResult wasm_inspect(Context&, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, format_flag}, "wasm inspect", "MODULE");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto& pos = (*p)->positionals;
  if (pos.size() != 1) return fail(ErrorCode::invalid_spec, "wasm inspect: give one MODULE (.wasm or .wat)");
  // Read and validated, not compiled: the information is the module's, whatever the engine.
  auto module = wasm::read_module_any(pos[0]);
  if (!module) return std::unexpected(module.error());
  const auto& info = module->info;
  if (*json) {
    nlohmann::json out{{"path", pos[0]}, {"size_bytes", info.size_bytes}, {"kind", module_kind(info)}};
    out["imports"] = nlohmann::json::array();
    for (auto& i : info.imports) out["imports"].push_back(entry_json(i.module, i.name, i.kind, i.function_type));
    out["exports"] = nlohmann::json::array();
    for (auto& e : info.exports) out["exports"].push_back(entry_json("", e.name, e.kind, e.function_type));
    if (info.memory) {
      out["memory"] = {{"initial_pages", info.memory->initial_pages}, {"initial_bytes", info.memory->initial_pages * 65536}};
      out["memory"]["maximum_pages"] = info.memory->maximum_pages ? nlohmann::json(*info.memory->maximum_pages) : nlohmann::json();
    } else {
      out["memory"] = nullptr;
    }
    print_json(out);
    return 0;
  }
  fmt::print("module:  {}\nsize:    {} ({} bytes)\nkind:    {}\n", pos[0], format_size(info.size_bytes), info.size_bytes,
             module_kind(info));
  if (info.memory)
    fmt::print("memory:  {} pages ({}), maximum {}\n", info.memory->initial_pages,
               format_size(info.memory->initial_pages * 65536),
               info.memory->maximum_pages ? fmt::format("{} pages", *info.memory->maximum_pages) : "none");
  else
    fmt::print("memory:  none of its own\n");
  fmt::print("imports: {}\n", info.imports.size());
  for (auto& i : info.imports)
    fmt::print("  {}.{}  {} {}\n", i.module, i.name, kind_name(i.kind), signature(i.function_type));
  fmt::print("exports: {}\n", info.exports.size());
  for (auto& e : info.exports) fmt::print("  {}  {} {}\n", e.name, kind_name(e.kind), signature(e.function_type));
  return 0;
}

const FlagSpec output_flag{"output", 'o', true, "FILE", "where to write the artifact (required)"};

CommandResult wasm_compile(Context&, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, output_flag}, "wasm compile", "MODULE");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto& pos = (*p)->positionals;
  if (pos.size() != 1) return fail(ErrorCode::invalid_spec, "wasm compile: give one MODULE (.wasm or .wat)");
  auto output = (*p)->last("output");
  if (!output || output->empty()) return fail(ErrorCode::invalid_spec, "wasm compile: give the artifact's path with -o FILE");
  // compile_file writes a temporary file and renames it: a failed compile leaves no artifact.
  if (auto r = wasm::aot::compile_file(pos[0], *output); !r) return std::unexpected(r.error());
  return 0;
}

}  // namespace

CommandResult cmd_wasm(Context& ctx, const std::vector<std::string>& args) {
  static constexpr Subcommand subcommands[] = {{"inspect", wasm_inspect}, {"compile", wasm_compile}};
  return dispatch_subcommand(ctx, args, "wasm", subcommands,
                             "usage: berth wasm COMMAND\n\n"
                             "  inspect MODULE           imports, exports with signatures, memory and size (--format json)\n"
                             "  compile MODULE -o FILE   compile ahead of time into an artifact that runs without a C compiler\n"
                             "\nRun a module with `berth run --wasm MODULE [--dir HOST[::GUEST]] [-- ARGS]`.\n");
}

}  // namespace berth::cli
