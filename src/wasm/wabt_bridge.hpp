// The narrow interface between berth's C++23 code and wabt 1.0.32, whose headers compile only
// as C++17: plain structs and strings, nothing newer than C++17 (see CMakeLists.txt).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace berth::wasm::wabt_bridge {

// Value types as one character each: i=i32 I=i64 f=f32 F=f64 v=v128 r=funcref e=externref.
struct Signature {
  std::string params;
  std::string results;
};

// Kinds as one character each: f=function t=table m=memory g=global e=tag (exception).
struct Import {
  std::string module;
  std::string name;
  char kind = 'f';
  Signature signature;      // functions
  char global_type = 'i';   // globals
  bool global_mutable = false;
  char table_type = 'r';    // tables: funcref or externref elements
};

struct Export {
  std::string name;
  char kind = 'f';
  Signature signature;
  char global_type = 'i';
  bool global_mutable = false;
};

struct Description {
  std::vector<Import> imports;
  std::vector<Export> exports;
  bool has_own_memory = false;  // memory 0 is defined (not imported) by the module
  std::uint64_t memory_initial_pages = 0;
  bool memory_has_max = false;
  std::uint64_t memory_max_pages = 0;
};

struct Options {
  bool is_text = false;         // the input is WAT, not a binary module
  std::string filename;         // for messages
  bool generate_c = false;      // also run wabt's C writer
  std::string c_module_name;    // wasm2c's module name (the symbol prefix)
  std::string c_header_name;    // the name the C source #includes its header by
};

struct Output {
  bool ok = false;
  std::string error;                 // the reader's or validator's messages, with byte offsets
  std::vector<std::uint8_t> binary;  // the module in binary form (converted, for WAT input)
  Description description;
  std::string c_source;
  std::string c_header;
};

// Reads (binary or WAT), validates with the WebAssembly 2.0 feature set minus SIMD (which
// wabt 1.0.32's C writer cannot emit), describes, and optionally converts to C.
Output translate(const std::uint8_t* data, std::size_t size, const Options& options);

}  // namespace berth::wasm::wabt_bridge
