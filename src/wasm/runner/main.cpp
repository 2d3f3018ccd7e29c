// berth-wasm: runs one WASI command module, as the program of a wasm workload (the shim starts
// it as it starts a process: in the workload's cgroup, with the shim's pipes as stdio and the
// spec's environment as its own, which the guest gets exactly).
//
//   berth-wasm [--engine aot|interp] [--memory BYTES] [--timeout-ms N] [--fuel N]
//              [--dir HOST[::GUEST]]... [--memory-file PATH] [--reason-file PATH]
//              [--cache-dir DIR] [--http HOST:PORT [--route PREFIX] [--pool-size N]]
//              [--allow PEER]... MODULE [--] [ARGS...]
//
// Exits with the guest's proc_exit code (0 when `_start` returns), 134 on a trap (after one line
// "berth: wasm trap: <kind>" on stderr), 125 when the module could not be run at all. With
// --reason-file, a trap or setup failure is also written there (one line) for the workload's
// status; with --memory-file, the guest's linear memory size in bytes is kept there.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <fmt/format.h>

#include <charconv>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs.hpp"
#include "functions/http_trigger.hpp"
#include "wasm/module_file.hpp"
#include "wasm/runner/command.hpp"

extern char** environ;

namespace {

using namespace berth;
using namespace berth::wasm;

constexpr std::string_view usage =
    "usage: berth-wasm [--engine aot|interp] [--memory BYTES] [--timeout-ms N] [--fuel N]\n"
    "                  [--dir HOST[::GUEST]]... [--memory-file PATH] [--reason-file PATH]\n"
    "                  [--cache-dir DIR] [--http HOST:PORT [--route PREFIX] [--pool-size N]]\n"
    "                  [--allow PEER]... [--kv-max-entries N] [--kv-max-value-bytes N]\n"
    "                  [--kv-file PATH] MODULE [--] [ARGS...]\n";

std::optional<std::uint64_t> parse_positive(std::string_view text) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v == 0) return std::nullopt;
  return v;
}

int setup_failed(const std::string& reason_file, const std::string& message) {
  fmt::print(stderr, "berth: wasm: {}\n", message);
  if (!reason_file.empty()) (void)write_file_atomic(reason_file, "wasm: " + message);
  return setup_failure_exit_code;
}

struct HttpMode {
  std::string listen, route = "/";
  std::size_t pool_size = 16;
};

// The `berth` import module's store (include/berth/guest/berth.h): its limits, and the file
// that keeps it across runs (the workload's directory gives one).
struct KvMode {
  std::size_t max_entries = 10'000;
  std::size_t max_value_bytes = 1 << 20;
  std::string persist_path;
};

// --http: serves the module as an HTTP trigger until SIGTERM or SIGINT (then exits 0).
int serve_http(const CommandOptions& options, const HttpMode& http, const KvMode& kv, const std::string& reason_file) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // before any thread starts: sigwait gets them
  auto module = load_module_file(options.engine, options.module_path, options.aot_cache_dir);
  if (!module) return setup_failed(reason_file, module.error().message);
  functions::HttpTriggerOptions trigger_options;
  trigger_options.listen = http.listen;
  trigger_options.route = http.route;
  trigger_options.concurrency = http.pool_size;
  if (options.timeout) trigger_options.execution_time = std::chrono::duration_cast<std::chrono::milliseconds>(*options.timeout);
  if (options.memory_limit_bytes) trigger_options.memory_bytes = *options.memory_limit_bytes;
  trigger_options.env = options.env;
  trigger_options.allowed_peers = options.allowed_peers;
  trigger_options.kv_max_entries = kv.max_entries;
  trigger_options.kv_max_value_bytes = kv.max_value_bytes;
  trigger_options.kv_persist_path = kv.persist_path;
  trigger_options.log = functions::log_to_stderr;
  auto trigger = functions::HttpTrigger::start(*module, trigger_options);
  if (!trigger) return setup_failed(reason_file, trigger.error().message);
  fmt::print(stderr, "berth: wasm: serving http://{}{} (port {})\n", http.listen, http.route, (*trigger)->port());
  int signal = 0;
  sigwait(&stop_signals, &signal);
  (*trigger)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CommandOptions options;
  HttpMode http;
  KvMode kv;
  std::string memory_file, reason_file;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag.size() < 2 || flag.substr(0, 2) != "--") break;
    if (flag == "--") {
      ++i;
      break;
    }
    if (flag == "--help") {
      fmt::print("{}", usage);
      return 0;
    }
    if (i + 1 >= argc) return setup_failed(reason_file, fmt::format("{} needs a value", flag));
    std::string value = argv[++i];
    if (flag == "--engine") {
      options.engine = value;
    } else if (flag == "--dir") {
      auto mapping = parse_dir_mapping(value);
      if (!mapping) return setup_failed(reason_file, mapping.error().message);
      options.dirs.push_back(*mapping);
    } else if (flag == "--http") {
      http.listen = value;
    } else if (flag == "--allow") {
      options.allowed_peers.push_back(value);
    } else if (flag == "--route") {
      http.route = value;
    } else if (flag == "--pool-size") {
      auto n = parse_positive(value);
      if (!n) return setup_failed(reason_file, fmt::format("{}: \"{}\" is not a positive number", flag, value));
      http.pool_size = *n;
    } else if (flag == "--kv-max-entries" || flag == "--kv-max-value-bytes") {
      auto n = parse_positive(value);
      if (!n) return setup_failed(reason_file, fmt::format("{}: \"{}\" is not a positive number", flag, value));
      (flag == "--kv-max-entries" ? kv.max_entries : kv.max_value_bytes) = *n;
    } else if (flag == "--kv-file") {
      kv.persist_path = value;
    } else if (flag == "--cache-dir") {
      options.aot_cache_dir = value;
    } else if (flag == "--memory-file") {
      memory_file = value;
    } else if (flag == "--reason-file") {
      reason_file = value;
    } else if (flag == "--memory" || flag == "--timeout-ms" || flag == "--fuel") {
      auto n = parse_positive(value);
      if (!n) return setup_failed(reason_file, fmt::format("{}: \"{}\" is not a positive number", flag, value));
      if (flag == "--memory") options.memory_limit_bytes = *n;
      else if (flag == "--fuel") options.fuel = *n;
      else options.timeout = std::chrono::milliseconds(*n);
    } else {
      fmt::print(stderr, "{}", usage);
      return setup_failed(reason_file, fmt::format("unknown flag {}", flag));
    }
  }
  if (i >= argc) {
    fmt::print(stderr, "{}", usage);
    return setup_failed(reason_file, "no module given");
  }
  options.module_path = argv[i++];
  if (i < argc && std::string_view(argv[i]) == "--") ++i;
  // The guest's program name is the module's file name.
  auto slash = options.module_path.rfind('/');
  options.args.push_back(slash == std::string::npos ? options.module_path : options.module_path.substr(slash + 1));
  for (; i < argc; ++i) options.args.push_back(argv[i]);
  for (char** e = environ; e && *e; ++e) options.env.push_back(*e);
  if (!memory_file.empty())
    options.on_memory_size = [&memory_file](std::uint64_t bytes) {
      (void)write_file_atomic(memory_file, std::to_string(bytes));
    };

  if (!http.listen.empty()) return serve_http(options, http, kv, reason_file);
  // A command gets the `berth` module too: the store lives for this run (and in --kv-file).
  auto store = std::make_shared<functions::KvStore>(kv.max_entries, kv.max_value_bytes, kv.persist_path);
  if (auto loaded = store->load(); !loaded) return setup_failed(reason_file, loaded.error().message);
  options.extra_imports = functions::berth_imports(std::move(store), functions::log_to_stderr);
  auto outcome = run_command(options);
  if (!outcome) return setup_failed(reason_file, outcome.error().message);
  if (outcome->trap) {
    auto line = describe_trap(*outcome->trap);
    fmt::print(stderr, "berth: {}\n", line);
    if (!reason_file.empty()) (void)write_file_atomic(reason_file, line);
  }
  return outcome->exit_code;
}
