#include "cli/wasm_flags.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "common/numbers.hpp"
#include "common/time.hpp"
#include "common/units.hpp"
#include "wasm/runner/command.hpp"

namespace berth::cli {

const std::vector<FlagSpec>& wasm_flags() {
  static const std::vector<FlagSpec> flags = {
      {"wasm", 0, true, "MODULE", "run a WebAssembly module (.wasm or .wat, a WASI command); --memory is then its linear memory limit"},
      {"dir", 0, true, "HOST[::GUEST]", "wasm: give the module a host directory, at GUEST (default: the same path)"},
      {"timeout", 0, true, "DURATION", "wasm: longest its _start may run (then it traps): 2s, 500ms"},
      {"fuel", 0, true, "N", "wasm: most instructions its _start may run (interp engine)"},
      {"engine", 0, true, "aot|interp", "wasm: the engine (default aot)"},
      {"http", 0, true, "HOST:PORT", "wasm: serve HTTP there and run the module per request (WAGI)"},
      {"route", 0, true, "PREFIX", "wasm --http: the route prefix it serves (default /)"},
      {"pool-size", 0, true, "N", "wasm --http: most requests handled at once (default 16)"},
      {"kv-max-entries", 0, true, "N", "wasm: most entries in the module's key-value store (berth_kv_*; default 10000)"},
      {"kv-max-value", 0, true, "SIZE", "wasm: largest value in its key-value store (default 1m)"},
      {"allow", 0, true, "PEER", "wasm: a peer the module may connect to (berth_tcp_connect): CIDR, IP, IP:PORT or HOST[:PORT]; repeatable; none: no network"},
  };
  return flags;
}

bool wants_wasm(const ParsedArgs& args) { return args.has("wasm"); }

Result<void> wasm_spec_from_flags(const ParsedArgs& p, WorkloadSpec& spec) {
  auto absolute = [](const std::string& path) {
    std::error_code ec;
    auto made = std::filesystem::absolute(path, ec);
    return ec ? path : made.lexically_normal().string();
  };
  auto module = *p.last("wasm");
  if (module.empty()) return fail(ErrorCode::invalid_spec, "wasm: an empty module path");
  spec.module = absolute(module);
  auto& w = spec.wasm;
  w.engine = p.last("engine").value_or("");
  for (const auto& text : p.all("dir")) {
    auto dir = wasm::parse_dir_mapping(text);
    if (!dir) return std::unexpected(dir.error());
    // The host path made absolute; GUEST as given, or HOST as given (--dir . is the guest's ".").
    w.preopened_dirs.push_back(fmt::format("{}::{}", absolute(dir->host), dir->guest));
  }
  if (auto v = p.last("memory")) {
    auto bytes = parse_size(*v, "memory");
    if (!bytes) return std::unexpected(bytes.error());
    w.memory_limit_bytes = *bytes;
  }
  if (auto v = p.last("timeout")) {
    auto d = parse_duration(*v);
    if (!d) return std::unexpected(d.error().with_context("timeout"));
    w.execution_time_limit = *d;
  }
  for (const auto& peer : p.all("allow")) w.allowed_peers.push_back(peer);
  if (auto v = p.last("kv-max-entries")) {
    auto n = parse_integer(*v, "kv-max-entries", 1, INT64_MAX);
    if (!n) return std::unexpected(n.error());
    w.kv_max_entries = *n;
  }
  if (auto v = p.last("kv-max-value")) {
    auto bytes = parse_size(*v, "kv-max-value");
    if (!bytes) return std::unexpected(bytes.error());
    w.kv_max_value_bytes = *bytes;
  }
  w.http_listen = p.last("http").value_or("");
  w.http_route = p.last("route").value_or("");
  if (auto v = p.last("pool-size")) {
    auto n = parse_integer(*v, "pool-size", 1, 1 << 16);
    if (!n) return std::unexpected(n.error());
    w.pool_size = static_cast<int>(*n);
  }
  if (auto v = p.last("fuel")) {
    auto n = parse_integer(*v, "fuel", 1, INT64_MAX);
    if (!n) return std::unexpected(n.error());
    w.fuel = static_cast<std::uint64_t>(*n);
  }
  return {};
}

}  // namespace berth::cli
