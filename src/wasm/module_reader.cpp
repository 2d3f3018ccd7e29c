#include "wasm/module_reader.hpp"

#include "wasm/wabt_bridge.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cctype>
#include <cstring>

#include "common/fd.hpp"

namespace berth::wasm {
namespace {

std::optional<ValueType> value_type(char c) {
  switch (c) {
    case 'i': return ValueType::i32;
    case 'I': return ValueType::i64;
    case 'f': return ValueType::f32;
    case 'F': return ValueType::f64;
    case 'v': return ValueType::v128;
    case 'r': return ValueType::funcref;
    case 'e': return ValueType::externref;
    default: return std::nullopt;
  }
}

FunctionType function_type(const wabt_bridge::Signature& sig) {
  FunctionType type;
  for (char c : sig.params) type.params.push_back(value_type(c).value_or(ValueType::i32));
  for (char c : sig.results) type.results.push_back(value_type(c).value_or(ValueType::i32));
  return type;
}

ImportInfo::Kind kind(char c) {
  switch (c) {
    case 't': return ImportInfo::Kind::table;
    case 'm': return ImportInfo::Kind::memory;
    case 'g': return ImportInfo::Kind::global;
    case 'e': return ImportInfo::Kind::tag;
    default: return ImportInfo::Kind::function;
  }
}

LoadedModule convert(wabt_bridge::Output&& out) {
  LoadedModule loaded;
  loaded.bytes = std::move(out.binary);
  const wabt_bridge::Description& d = out.description;
  for (const auto& i : d.imports) {
    ImportInfo info{i.module, i.name, kind(i.kind), std::nullopt};
    if (i.kind == 'f') info.function_type = function_type(i.signature);
    loaded.info.imports.push_back(std::move(info));
    loaded.import_globals.push_back(
        i.kind == 'g' ? std::optional(GlobalType{value_type(i.global_type).value_or(ValueType::i32),
                                                 i.global_mutable})
                      : std::nullopt);
    loaded.import_tables.push_back(i.kind == 't' ? value_type(i.table_type) : std::nullopt);
  }
  for (const auto& e : d.exports) {
    ExportInfo info{e.name, kind(e.kind), std::nullopt};
    if (e.kind == 'f') info.function_type = function_type(e.signature);
    loaded.info.exports.push_back(std::move(info));
    loaded.export_globals.push_back(
        e.kind == 'g' ? std::optional(GlobalType{value_type(e.global_type).value_or(ValueType::i32),
                                                 e.global_mutable})
                      : std::nullopt);
  }
  if (d.has_own_memory) {
    MemoryInfo memory{d.memory_initial_pages, std::nullopt};
    if (d.memory_has_max) memory.maximum_pages = d.memory_max_pages;
    loaded.info.memory = memory;
  }
  loaded.info.size_bytes = loaded.bytes.size();
  return loaded;
}

Result<LoadedModule> translate(const std::uint8_t* data, std::size_t size, bool text,
                               std::string_view name) {
  wabt_bridge::Options options;
  options.is_text = text;
  options.filename = std::string(name);
  wabt_bridge::Output out = wabt_bridge::translate(data, size, options);
  if (!out.ok) return fail(ErrorCode::invalid_spec, std::string(name) + ": invalid module: " + out.error);
  return convert(std::move(out));
}

}  // namespace

Result<LoadedModule> read_module_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail(errno == ENOENT ? ErrorCode::not_found : ErrorCode::unavailable,
                       path.string() + ": " + std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  std::uint8_t buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::unavailable, path.string() + ": read: " + std::strerror(errno));
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  return read_module_contents(bytes, path);
}

namespace {

// WAT text starts, after blanks and comments (";; ..." lines, "(; ... ;)" blocks), with '('.
bool looks_like_wat(std::span<const std::uint8_t> bytes) {
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
    } else if (text.substr(i, 2) == ";;") {
      i = text.find('\n', i);
    } else if (text.substr(i, 2) == "(;") {
      i = text.find(";)", i + 2);
      if (i != std::string_view::npos) i += 2;
    } else {
      return text[i] == '(';
    }
  }
  return false;
}

}  // namespace

Result<LoadedModule> read_module_contents(std::span<const std::uint8_t> bytes, const std::filesystem::path& path) {
  bool binary = bytes.size() >= 4 && std::memcmp(bytes.data(), "\0asm", 4) == 0;
  if (!binary && !looks_like_wat(bytes))
    return fail(ErrorCode::invalid_spec,
                path.string() + ": not a Wasm binary (no \\0asm magic) or .wat text (no '(' at the start)");
  bool text = path.extension() == ".wat" || (!binary && path.extension() != ".wasm");
  return translate(bytes.data(), bytes.size(), text, path.string());
}

Result<LoadedModule> read_module_bytes(std::span<const std::uint8_t> bytes, std::string_view name) {
  return translate(bytes.data(), bytes.size(), false, name);
}

Result<LoadedModule> read_wat(std::string_view text, std::string_view name) {
  return translate(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), true, name);
}

Result<CSource> generate_c(std::span<const std::uint8_t> bytes, std::string_view module_name,
                           std::string_view header_name) {
  wabt_bridge::Options options;
  options.filename = "module.wasm";
  options.generate_c = true;
  options.c_module_name = std::string(module_name);
  options.c_header_name = std::string(header_name);
  wabt_bridge::Output out = wabt_bridge::translate(bytes.data(), bytes.size(), options);
  if (!out.ok) return fail(ErrorCode::invalid_spec, "invalid module: " + out.error);
  return CSource{std::move(out.c_source), std::move(out.c_header)};
}

}  // namespace berth::wasm
