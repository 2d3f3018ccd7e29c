// wat.hpp over wabt's WAT parser and binary writer. Compiled as C++17.
#include "wasm/interp/wat.hpp"

#include <wabt/binary-writer.h>
#include <wabt/error-formatter.h>
#include <wabt/feature.h>
#include <wabt/ir.h>
#include <wabt/stream.h>
#include <wabt/wast-lexer.h>
#include <wabt/wast-parser.h>

#include <memory>

namespace berth::wasm {

bool wat_to_wasm(std::string_view text, std::vector<std::uint8_t>* out, std::string* error) {
  wabt::Errors errors;
  std::unique_ptr<wabt::WastLexer> lexer =
      wabt::WastLexer::CreateBufferLexer("module.wat", text.data(), text.size(), &errors);
  wabt::Features features;
  wabt::WastParseOptions parse_options(features);
  std::unique_ptr<wabt::Module> module;
  wabt::Result result = wabt::ParseWatModule(lexer.get(), &module, &errors, &parse_options);
  if (wabt::Succeeded(result)) {
    wabt::MemoryStream stream;
    wabt::WriteBinaryOptions write_options;
    write_options.features = features;
    result = wabt::WriteBinaryModule(&stream, module.get(), write_options);
    if (wabt::Succeeded(result)) {
      *out = std::move(stream.output_buffer().data);
      return true;
    }
  }
  auto line_finder = lexer->MakeLineFinder();
  *error = wabt::FormatErrorsToString(errors, wabt::Location::Type::Text, line_finder.get());
  if (error->empty()) *error = "the text is not a module";
  return false;
}

}  // namespace berth::wasm
