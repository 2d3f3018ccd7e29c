// wabt's reader, validator and C writer behind wabt_bridge.hpp. Compiled as C++17.
#include "wasm/wabt_bridge.hpp"

#include <wabt/apply-names.h>
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/c-writer.h>
#include <wabt/error-formatter.h>
#include <wabt/feature.h>
#include <wabt/generate-names.h>
#include <wabt/ir.h>
#include <wabt/resolve-names.h>
#include <wabt/stream.h>
#include <wabt/validator.h>
#include <wabt/wast-lexer.h>
#include <wabt/wast-parser.h>

namespace berth::wasm::wabt_bridge {
namespace {

wabt::Features berth_features() {
  wabt::Features features;  // 1.0.32's defaults: the 2.0 core proposals are on
  features.set_mutable_globals_enabled(true);
  features.set_sign_extension_enabled(true);
  features.set_sat_float_to_int_enabled(true);
  features.set_multi_value_enabled(true);
  features.set_bulk_memory_enabled(true);
  features.set_reference_types_enabled(true);
  features.set_simd_enabled(false);  // the 1.0.32 C writer aborts on SIMD
  features.set_exceptions_enabled(false);
  features.set_threads_enabled(false);
  features.set_memory64_enabled(false);
  features.set_multi_memory_enabled(false);
  features.set_tail_call_enabled(false);
  return features;
}

char type_char(wabt::Type type) {
  switch (type) {
    case wabt::Type::I32: return 'i';
    case wabt::Type::I64: return 'I';
    case wabt::Type::F32: return 'f';
    case wabt::Type::F64: return 'F';
    case wabt::Type::V128: return 'v';
    case wabt::Type::FuncRef: return 'r';
    case wabt::Type::ExternRef: return 'e';
    default: return '?';
  }
}

Signature signature_of(const wabt::FuncSignature& sig) {
  Signature out;
  for (auto t : sig.param_types) out.params += type_char(t);
  for (auto t : sig.result_types) out.results += type_char(t);
  return out;
}

char kind_char(wabt::ExternalKind kind) {
  switch (kind) {
    case wabt::ExternalKind::Func: return 'f';
    case wabt::ExternalKind::Table: return 't';
    case wabt::ExternalKind::Memory: return 'm';
    case wabt::ExternalKind::Global: return 'g';
    case wabt::ExternalKind::Tag: return 'e';
  }
  return '?';
}

Description describe(const wabt::Module& module) {
  Description d;
  for (const wabt::Import* import : module.imports) {
    Import out;
    out.module = import->module_name;
    out.name = import->field_name;
    out.kind = kind_char(import->kind());
    if (auto* f = wabt::dyn_cast<wabt::FuncImport>(import)) {
      out.signature = signature_of(f->func.decl.sig);
    } else if (auto* g = wabt::dyn_cast<wabt::GlobalImport>(import)) {
      out.global_type = type_char(g->global.type);
      out.global_mutable = g->global.mutable_;
    } else if (auto* t = wabt::dyn_cast<wabt::TableImport>(import)) {
      out.table_type = type_char(t->table.elem_type);
    }
    d.imports.push_back(std::move(out));
  }
  for (const wabt::Export* e : module.exports) {
    Export out;
    out.name = e->name;
    out.kind = kind_char(e->kind);
    if (e->kind == wabt::ExternalKind::Func) {
      if (const wabt::Func* f = module.GetFunc(e->var)) out.signature = signature_of(f->decl.sig);
    } else if (e->kind == wabt::ExternalKind::Global) {
      if (const wabt::Global* g = module.GetGlobal(e->var)) {
        out.global_type = type_char(g->type);
        out.global_mutable = g->mutable_;
      }
    }
    d.exports.push_back(std::move(out));
  }
  if (!module.memories.empty() && module.num_memory_imports == 0) {
    const wabt::Memory* memory = module.memories[0];
    d.has_own_memory = true;
    d.memory_initial_pages = memory->page_limits.initial;
    d.memory_has_max = memory->page_limits.has_max;
    d.memory_max_pages = memory->page_limits.max;
  }
  return d;
}

}  // namespace

Output translate(const std::uint8_t* data, std::size_t size, const Options& options) {
  Output out;
  wabt::Features features = berth_features();
  wabt::Errors errors;

  if (options.is_text) {
    std::unique_ptr<wabt::WastLexer> lexer =
        wabt::WastLexer::CreateBufferLexer(options.filename, data, size, &errors);
    std::unique_ptr<wabt::Module> module;
    wabt::WastParseOptions parse_options(features);
    wabt::Result result = wabt::ParseWatModule(lexer.get(), &module, &errors, &parse_options);
    if (wabt::Succeeded(result)) result = wabt::ResolveNamesModule(module.get(), &errors);
    if (wabt::Succeeded(result)) {
      wabt::ValidateOptions validate_options(features);
      result = wabt::ValidateModule(module.get(), &errors, validate_options);
    }
    if (wabt::Failed(result)) {
      // A file that is not WAT at all can make hundreds of errors: the first few say enough.
      constexpr std::size_t shown = 5;
      std::size_t more = errors.size() > shown ? errors.size() - shown : 0;
      if (more) errors.resize(shown);
      out.error = wabt::FormatErrorsToString(errors, wabt::Location::Type::Text);
      if (more) out.error += "... and " + std::to_string(more) + " more errors\n";
      if (out.error.empty()) out.error = "cannot parse the WAT text";
      return out;
    }
    wabt::MemoryStream stream;
    wabt::WriteBinaryOptions write_options(features, /*canonicalize_lebs=*/true,
                                           /*relocatable=*/false, /*write_debug_names=*/false);
    if (wabt::Failed(wabt::WriteBinaryModule(&stream, module.get(), write_options))) {
      out.error = "cannot write the module as binary";
      return out;
    }
    const std::vector<std::uint8_t>& bytes = stream.output_buffer().data;
    Options binary_options = options;
    binary_options.is_text = false;
    Output converted = translate(bytes.data(), bytes.size(), binary_options);
    return converted;
  }

  wabt::Module module;
  wabt::ReadBinaryOptions read_options(features, nullptr, /*read_debug_names=*/false,
                                       /*stop_on_first_error=*/true,
                                       /*fail_on_custom_section_error=*/true);
  wabt::Result result =
      wabt::ReadBinaryIr(options.filename.c_str(), data, size, read_options, &errors, &module);
  if (wabt::Succeeded(result)) {
    wabt::ValidateOptions validate_options(features);
    result = wabt::ValidateModule(&module, &errors, validate_options);
  }
  if (wabt::Failed(result)) {
    out.error = wabt::FormatErrorsToString(errors, wabt::Location::Type::Binary);
    while (!out.error.empty() && out.error.back() == '\n') out.error.pop_back();
    if (out.error.empty()) out.error = "invalid module";
    return out;
  }
  out.binary.assign(data, data + size);
  out.description = describe(module);

  if (options.generate_c) {
    if (wabt::Failed(wabt::GenerateNames(&module))) {
      out.error = "wasm2c: cannot generate names";
      return out;
    }
    (void)wabt::ApplyNames(&module);  // as wasm2c does: a name that can't apply is skipped
    wabt::MemoryStream c_stream;
    wabt::MemoryStream h_stream;
    wabt::WriteCOptions write_options;
    write_options.module_name = options.c_module_name;
    if (wabt::Failed(wabt::WriteC(&c_stream, &h_stream, options.c_header_name.c_str(), &module,
                                  write_options))) {
      out.error = "wasm2c: cannot write C";
      return out;
    }
    const auto& c = c_stream.output_buffer().data;
    const auto& h = h_stream.output_buffer().data;
    out.c_source.assign(c.begin(), c.end());
    out.c_header.assign(h.begin(), h.end());
  }
  out.ok = true;
  return out;
}

}  // namespace berth::wasm::wabt_bridge
