#include "shim/wasm_runner.hpp"

#include <unistd.h>

#include <fmt/format.h>

namespace berth::shim {

Result<std::string> find_wasm_runner() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<std::size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    if (auto candidate = dir + "/berth-wasm"; ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  for (const char* candidate : {BERTH_BUILD_WASM_RUNNER_PATH, BERTH_INSTALL_WASM_RUNNER_PATH})
    if (::access(candidate, X_OK) == 0) return std::string(candidate);
  return fail(ErrorCode::not_found, "berth-wasm not found (install it beside berth-shim)");
}

Result<WorkloadSpec> wasm_runner_spec(const WorkloadSpec& spec, const StateLayout& layout, const std::string& id) {
  auto runner = find_wasm_runner();
  if (!runner) return std::unexpected(runner.error());
  WorkloadSpec process = spec;
  process.kind = WorkloadKind::process;
  const auto& w = spec.wasm;
  auto& args = process.args;
  args = {*runner};
  if (!w.engine.empty()) args.insert(args.end(), {"--engine", w.engine});
  args.insert(args.end(), {"--cache-dir", layout.wasm_cache_dir()});
  if (w.memory_limit_bytes) args.insert(args.end(), {"--memory", std::to_string(*w.memory_limit_bytes)});
  if (w.execution_time_limit) args.insert(args.end(), {"--timeout-ms", std::to_string(w.execution_time_limit->count())});
  if (w.fuel) args.insert(args.end(), {"--fuel", std::to_string(*w.fuel)});
  for (const auto& dir : w.preopened_dirs) args.insert(args.end(), {"--dir", dir});
  for (const auto& peer : w.allowed_peers) args.insert(args.end(), {"--allow", peer});
  if (!w.http_listen.empty()) args.insert(args.end(), {"--http", w.http_listen});
  if (!w.http_route.empty()) args.insert(args.end(), {"--route", w.http_route});
  if (w.pool_size) args.insert(args.end(), {"--pool-size", std::to_string(*w.pool_size)});
  if (w.kv_max_entries) args.insert(args.end(), {"--kv-max-entries", std::to_string(*w.kv_max_entries)});
  if (w.kv_max_value_bytes) args.insert(args.end(), {"--kv-max-value-bytes", std::to_string(*w.kv_max_value_bytes)});
  args.insert(args.end(), {"--kv-file", layout.wasm_kv_path(id)});
  args.insert(args.end(), {"--memory-file", layout.wasm_memory_path(id), "--reason-file", layout.wasm_reason_path(id),
                           spec.module, "--"});
  args.insert(args.end(), spec.args.begin(), spec.args.end());
  return process;
}

}  // namespace berth::shim
