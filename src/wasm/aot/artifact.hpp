// Compiled artifacts: the generated C compiled by the system C compiler into a shared object,
// wrapped in berth's artifact format (.bwasm: a header, the module's bytes, the shared object)
// and cached on disk by a key over everything that shapes the code.
#pragma once

#include "wasm/module_reader.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace berth::wasm::aot {

struct CompileOptions {
  std::filesystem::path cache_dir;  // empty: default_cache_dir()
  std::string optimization = "-O2";
  std::string compiler = "cc";
};

// $BERTH_WASM_CACHE, else $XDG_CACHE_HOME/berth/wasm, else $HOME/.cache/berth/wasm.
std::filesystem::path default_cache_dir();

struct Artifact {
  std::string key;                    // hex SHA-256 (see cache_key)
  std::vector<std::uint8_t> module;   // the Wasm module, to rebuild ModuleInfo from
  std::string shared_object;          // the ELF shared object
};

// SHA-256 over the module's bytes, BERTH_VERSION, the glue ABI, the compiler's identity
// (first line of `cc --version`) and the flags.
Result<std::string> cache_key(std::span<const std::uint8_t> module, const CompileOptions& options);

// The cached artifact for `module`, compiled now when missing, corrupt or mismatched.
// Concurrent callers (threads or processes) compile once: flock on <key>.lock, then a
// temporary file renamed into place.
Result<Artifact> compile_cached(const LoadedModule& module, const CompileOptions& options);

// The cached artifact for `module` when there is a usable one; nothing is compiled.
std::optional<Artifact> find_cached(const LoadedModule& module, const CompileOptions& options);

// Compiles without the cache.
Result<Artifact> compile_artifact(const LoadedModule& module, const CompileOptions& options);

// The first bytes of every .bwasm file.
std::string_view artifact_magic();

std::string encode_artifact(const Artifact& artifact);
// Checks magic, format/ABI version, architecture, sizes and the checksum.
Result<Artifact> decode_artifact(std::string_view bytes, std::string_view what);

Result<void> write_artifact_file(const Artifact& artifact, const std::filesystem::path& path);
Result<Artifact> read_artifact_file(const std::filesystem::path& path);

}  // namespace berth::wasm::aot
