#include "wasm/aot/glue.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

namespace berth::wasm::aot {
namespace {

std::string_view c_type(ValueType type) {
  switch (type) {
    case ValueType::i32: return "u32";
    case ValueType::i64: return "u64";
    case ValueType::f32: return "f32";
    case ValueType::f64: return "f64";
    case ValueType::funcref: return "wasm_rt_funcref_t";
    case ValueType::externref: return "wasm_rt_externref_t";
    case ValueType::v128: return "v128";
  }
  return "u32";
}

char mangle_type(ValueType type) {
  switch (type) {
    case ValueType::i32: return 'i';
    case ValueType::i64: return 'j';
    case ValueType::f32: return 'f';
    case ValueType::f64: return 'd';
    case ValueType::funcref: return 'r';
    case ValueType::externref: return 'e';
    case ValueType::v128: return 'o';
  }
  return 'i';
}

std::string return_type(const std::vector<ValueType>& results) {
  if (results.empty()) return "void";
  if (results.size() == 1) return std::string(c_type(results[0]));
  std::string name = "struct wasm_multi_";
  for (ValueType t : results) name += mangle_type(t);
  return name;
}

std::string to_slot(ValueType type, const std::string& v) {
  switch (type) {
    case ValueType::f32: return fmt::format("berth_f32_bits({})", v);
    case ValueType::f64: return fmt::format("berth_f64_bits({})", v);
    case ValueType::funcref: return fmt::format("(uint64_t)(uintptr_t)({}).func", v);
    case ValueType::externref: return fmt::format("(uint64_t)(uintptr_t)({})", v);
    default: return fmt::format("(uint64_t)({})", v);
  }
}

std::string from_slot(ValueType type, const std::string& s) {
  switch (type) {
    case ValueType::i32: return fmt::format("(u32){}", s);
    case ValueType::i64: return fmt::format("(u64){}", s);
    case ValueType::f32: return fmt::format("berth_f32_from({})", s);
    case ValueType::f64: return fmt::format("berth_f64_from({})", s);
    case ValueType::funcref: return "wasm_rt_funcref_null_value";
    case ValueType::externref: return fmt::format("(wasm_rt_externref_t)(uintptr_t){}", s);
    case ValueType::v128: return "0";
  }
  return s;
}

constexpr std::string_view kPrelude = R"(
/* ---- berth glue ---- */
#include <stdint.h>
#include <stddef.h>
typedef struct {
  uint64_t magic;
  int (*call)(void* host, uint32_t index, uint64_t* slots);
  void* host;
  void** pointers;
} berth_import_context_t;
static inline uint64_t berth_f32_bits(f32 v) { union { f32 f; u32 u; } x; x.f = v; return x.u; }
static inline uint64_t berth_f64_bits(f64 v) { union { f64 f; u64 u; } x; x.f = v; return x.u; }
static inline f32 berth_f32_from(uint64_t s) { union { f32 f; u32 u; } x; x.u = (u32)s; return x.f; }
static inline f64 berth_f64_from(uint64_t s) { union { f64 f; u64 u; } x; x.u = s; return x.f; }
typedef void (*berth_entry_t)(void*, uint64_t*);
static inline berth_import_context_t* berth_context(void* p) {
  berth_import_context_t* c = (berth_import_context_t*)p;
  if (c->magic != BERTH_CONTEXT_MAGIC) c = *(berth_import_context_t**)p;  /* see glue.hpp */
  return c;
}
typedef void* (*berth_pointer_t)(void*);
)";

}  // namespace

std::string mangle(std::string_view name) {
  std::string result = "Z_";
  for (unsigned char c : name) {
    if ((std::isalnum(c) && c != 'Z') || c == '_') {
      result += static_cast<char>(c);
    } else {
      result += fmt::format("Z{:02X}", c);
    }
  }
  return result;
}

Result<void> check_translatable(const LoadedModule& module) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const ImportInfo& import : module.info.imports) {
    if (!seen.emplace(import.module, import.name).second)
      return fail(ErrorCode::invalid_spec, fmt::format("import \"{}\" \"{}\" appears twice: the AOT engine "
                                                       "(wasm2c 1.0.32) cannot translate duplicate imports",
                                                       import.module, import.name));
    if (import.kind == ImportInfo::Kind::tag)
      return fail(ErrorCode::invalid_spec, "the AOT engine cannot import tags (exceptions)");
    if (import.module == kCModuleName)
      return fail(ErrorCode::invalid_spec, fmt::format("import module name \"{}\" is reserved", kCModuleName));
  }
  return {};
}

std::string generate_glue(const LoadedModule& module) {
  const std::string prefix = mangle(kCModuleName);
  const std::string instance_type = prefix + "_instance_t";
  std::string out = fmt::format("#define BERTH_CONTEXT_MAGIC {}ull\n", kImportContextMagic);
  out += kPrelude;

  // Imports.
  std::set<std::string> import_modules;  // sorted, as wasm2c orders instantiate's parameters
  for (std::size_t i = 0; i < module.info.imports.size(); ++i) {
    const ImportInfo& import = module.info.imports[i];
    import_modules.insert(import.module);
    const std::string symbol = mangle(import.module) + mangle(import.name);
    const std::string context_type = "struct " + mangle(import.module) + "_instance_t*";
    switch (import.kind) {
      case ImportInfo::Kind::function: {
        const FunctionType& type = *import.function_type;
        std::string params;
        std::string stores;
        for (std::size_t p = 0; p < type.params.size(); ++p) {
          params += fmt::format(", {} a{}", c_type(type.params[p]), p);
          stores += fmt::format("  s[{}] = {};\n", p, to_slot(type.params[p], fmt::format("a{}", p)));
        }
        std::size_t slots = std::max<std::size_t>({type.params.size(), type.results.size(), 1});
        out += fmt::format("{} {}({} ctx{}) {{\n  uint64_t s[{}];\n{}", return_type(type.results), symbol,
                           context_type, params, slots, stores);
        out += fmt::format(
            "  berth_import_context_t* c = berth_context(ctx);\n"
            "  int rc = c->call(c->host, {}u, s);\n"
            "  if (rc) wasm_rt_trap((wasm_rt_trap_t)rc);\n",
            i);
        if (type.results.size() == 1) {
          out += fmt::format("  return {};\n", from_slot(type.results[0], "s[0]"));
        } else if (type.results.size() > 1) {
          out += fmt::format("  {} r;\n", return_type(type.results));
          for (std::size_t r = 0; r < type.results.size(); ++r)
            out += fmt::format("  r.{}{} = {};\n", mangle_type(type.results[r]), r,
                               from_slot(type.results[r], fmt::format("s[{}]", r)));
          out += "  return r;\n";
        }
        out += "}\n";
        break;
      }
      case ImportInfo::Kind::memory:
      case ImportInfo::Kind::table:
      case ImportInfo::Kind::global: {
        std::string type;
        if (import.kind == ImportInfo::Kind::memory) {
          type = "wasm_rt_memory_t";
        } else if (import.kind == ImportInfo::Kind::table) {
          type = module.import_tables[i] == ValueType::externref ? "wasm_rt_externref_table_t"
                                                                  : "wasm_rt_funcref_table_t";
        } else {
          type = std::string(c_type(module.import_globals[i]->type));
        }
        out += fmt::format("{}* {}({} ctx) {{ return ({}*)berth_context(ctx)->pointers[{}]; }}\n",
                           type, symbol, context_type, type, i);
        break;
      }
      case ImportInfo::Kind::tag: break;
    }
  }

  // Instantiation, with the one import context for every import module.
  std::string contexts;
  for (const std::string& name : import_modules)
    contexts += fmt::format(", (struct {}_instance_t*)imports", mangle(name));
  out += fmt::format(
      "void berth_instantiate(void* instance, uint64_t* s) {{\n"
      "  void* imports = (void*)(uintptr_t)s[0];\n  (void)imports;\n"
      "  {}_instantiate(({}*)instance{});\n}}\n"
      "void berth_free(void* instance, uint64_t* s) {{ (void)s; {}_free(({}*)instance); }}\n"
      "void berth_init_module(void) {{ {}_init_module(); }}\n"
      "const size_t berth_instance_size = sizeof({});\n"
      "const uint32_t berth_abi_version = {}u;\n",
      prefix, instance_type, contexts, prefix, instance_type, prefix, instance_type, kGlueAbiVersion);

  // Exports.
  std::string calls;
  std::string pointers;
  for (std::size_t i = 0; i < module.info.exports.size(); ++i) {
    const ExportInfo& e = module.info.exports[i];
    const std::string symbol = prefix + mangle(e.name);
    if (e.kind == ImportInfo::Kind::function) {
      const FunctionType& type = *e.function_type;
      std::string args;
      for (std::size_t p = 0; p < type.params.size(); ++p)
        args += ", " + from_slot(type.params[p], fmt::format("s[{}]", p));
      out += fmt::format("static void berth_call_{}(void* instance, uint64_t* s) {{\n", i);
      std::string call = fmt::format("{}(({}*)instance{})", symbol, instance_type, args);
      if (type.results.empty()) {
        out += fmt::format("  {};\n", call);
      } else if (type.results.size() == 1) {
        out += fmt::format("  s[0] = {};\n", to_slot(type.results[0], call));
      } else {
        out += fmt::format("  {} r = {};\n", return_type(type.results), call);
        for (std::size_t r = 0; r < type.results.size(); ++r)
          out += fmt::format("  s[{}] = {};\n", r, to_slot(type.results[r], fmt::format("r.{}{}", mangle_type(type.results[r]), r)));
      }
      out += "}\n";
      calls += fmt::format("  berth_call_{},\n", i);
      pointers += "  0,\n";
    } else if (e.kind != ImportInfo::Kind::tag) {
      out += fmt::format("static void* berth_pointer_{}(void* instance) {{ return (void*){}(({}*)instance); }}\n",
                         i, symbol, instance_type);
      calls += "  0,\n";
      pointers += fmt::format("  berth_pointer_{},\n", i);
    } else {
      calls += "  0,\n";
      pointers += "  0,\n";
    }
  }
  out += fmt::format("const berth_entry_t berth_export_calls[] = {{\n{}  0}};\n", calls);
  out += fmt::format("const berth_pointer_t berth_export_pointers[] = {{\n{}  0}};\n", pointers);
  return out;
}

}  // namespace berth::wasm::aot
