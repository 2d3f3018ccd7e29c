// Wasm at native speed? CPU-bound kernels (bench/wasm/kernels.c) compiled natively with gcc -O2
// and to wasm32 with clang -O2, run in one process: native, berth's AOT engine (wasm2c, cc -O2),
// Node's V8 (node run_kernel.mjs), and berth's interpreter (on a smaller size, scaled), each best
// of three, printed as ratios to native speed. Every engine's checksum must equal native's.
// Also: AOT compile time of the module (cold cache) per MB of Wasm.
//   bench_wasm_speed [SCALE_PERCENT]
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "wasm/aot/aot_engine.hpp"
#include "wasm/interp/interp_engine.hpp"
#include "wasm/module_reader.hpp"

extern "C" {
std::uint64_t k_hash(std::uint32_t);
std::uint64_t k_sieve(std::uint32_t);
std::uint64_t k_matmul(std::uint32_t);
std::uint64_t k_sort(std::uint32_t);
std::uint64_t k_search(std::uint32_t);
std::uint64_t k_bytecode(std::uint32_t);
std::uint64_t k_nbody(std::uint32_t);
}

extern char** environ;

using namespace berth;
using namespace berth::wasm;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_wasm_speed: %s\n", what.c_str());
  std::exit(1);
}

struct Kernel {
  const char* name;
  std::uint64_t (*native)(std::uint32_t);
  std::uint32_t n;               // at 100%: about a third of a second natively here
  std::uint32_t interp_divisor;  // the interpreter runs n / this (at least 1), its time scaled back
};

struct Timed {
  std::uint64_t result = 0;
  double seconds = 0;
};

Timed best_of_three(const std::function<std::uint64_t()>& run) {
  Timed best{0, 1e100};
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    std::uint64_t r = run();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s < best.seconds) best = {r, s};
  }
  return best;
}

std::uint64_t call_kernel(Instance& instance, const char* name, std::uint32_t n) {
  Value arg = Value::i32(n);
  auto r = instance.call(name, std::span<const Value>(&arg, 1));
  if (!r) die(fmt::format("{}: {}", name, r.error().message));
  return (*r)[0].as_i64();
}

std::unique_ptr<Instance> instantiate(CompiledModule& module) {
  InstanceLimits limits;
  auto instance = module.instantiate(Imports{}, limits);
  if (!instance) die("instantiate: " + instance.error().message);
  if (module.info().has_initialize_export())
    if (auto r = (*instance)->call("_initialize", {}); !r) die("_initialize: " + r.error().message);
  return std::move(*instance);
}

// Runs node with the kernel; its JSON answer.
Timed node_kernel(const char* name, std::uint32_t n) {
  std::string command = fmt::format("node {}/bench/wasm/run_kernel.mjs {} {} {}", BERTH_SOURCE_DIR, BERTH_KERNELS_WASM, name, n);
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) die("popen node");
  std::string out;
  char buffer[512];
  while (std::size_t got = std::fread(buffer, 1, sizeof buffer, p)) out.append(buffer, got);
  if (::pclose(p) != 0) die("node failed: " + out);
  auto json = nlohmann::json::parse(out, nullptr, false);
  if (!json.is_object()) die("node said: " + out);
  return {std::stoull(json["result"].get<std::string>()), json["seconds"].get<double>()};
}

}  // namespace

int main(int argc, char** argv) {
  double scale = (argc > 1 ? std::atof(argv[1]) : 100.0) / 100.0;
  std::vector<Kernel> kernels = {
      {"k_hash", k_hash, 70'000'000, 200},  {"k_sieve", k_sieve, 40, 40},       {"k_matmul", k_matmul, 300, 300},
      {"k_sort", k_sort, 4, 4},             {"k_search", k_search, 100, 100},  {"k_bytecode", k_bytecode, 20'000'000, 500},
      {"k_nbody", k_nbody, 2'000'000, 200},
  };
  for (auto& k : kernels) k.n = std::max<std::uint32_t>(1, static_cast<std::uint32_t>(k.n * scale));

  auto module = read_module_file(BERTH_KERNELS_WASM);
  if (!module) die(module.error().message);
  char cache[] = "/tmp/berth-bench-wasm-XXXXXX";
  if (!::mkdtemp(cache)) die("mkdtemp");
  aot::CompileOptions options;
  options.cache_dir = cache;
  auto t0 = Clock::now();
  auto compiled = aot::compile(*module, options);
  double compile_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!compiled) die("AOT compile: " + compiled.error().message);
  auto aot_instance = instantiate(**compiled);
  auto interp_module = interp::load_module(module->bytes);
  if (!interp_module) die("interp load: " + interp_module.error().message);
  auto interp_instance = instantiate(**interp_module);

  fmt::print("Wasm speed: {} kernels, best of 3 each; ratio = native time / engine time (1.00 = native speed)\n",
             kernels.size());
  fmt::print("  {:<12} {:>10} {:>10} {:>7} {:>10} {:>7} {:>10} {:>7}\n", "kernel", "native s", "aot s", "aot x",
             "node s", "node x", "interp s", "interp x");
  double worst_aot = 1e9;
  bool mismatch = false;
  for (const auto& k : kernels) {
    auto native = best_of_three([&] { return k.native(k.n); });
    auto aot = best_of_three([&] { return call_kernel(*aot_instance, k.name, k.n); });
    auto node = node_kernel(k.name, k.n);
    // The interpreter runs a smaller size; its time is scaled to the full one.
    std::uint32_t small = std::max<std::uint32_t>(1, k.n / k.interp_divisor);
    auto interp_run = best_of_three([&] { return call_kernel(*interp_instance, k.name, small); });
    auto native_small = k.native(small);
    double interp_seconds = interp_run.seconds * k.n / small;
    for (auto [engine, got, want] : {std::tuple{"aot", aot.result, native.result}, std::tuple{"node", node.result, native.result},
                                     std::tuple{"interp", interp_run.result, native_small}})
      if (got != want) {
        fmt::print(stderr, "  {} {}: checksum {} differs from native's {}\n", k.name, engine, got, want);
        mismatch = true;
      }
    double aot_ratio = native.seconds / aot.seconds;
    worst_aot = std::min(worst_aot, aot_ratio);
    fmt::print("  {:<12} {:>10.3f} {:>10.3f} {:>6.2f}x {:>10.3f} {:>6.2f}x {:>10.2f} {:>6.3f}x\n", k.name, native.seconds,
               aot.seconds, aot_ratio, node.seconds, native.seconds / node.seconds, interp_seconds,
               native.seconds / interp_seconds);
  }
  fmt::print("  slowest AOT kernel: {:.2f}x native (aim: 0.95x or better on every kernel)\n", worst_aot);
  fmt::print("AOT compile (in-process wasm2c + cc -O2, cold cache): {:.0f} KiB of Wasm in {:.2f} s = {:.1f} s per MB\n",
             module->bytes.size() / 1024.0, compile_seconds, compile_seconds / (module->bytes.size() / 1e6));
  std::filesystem::remove_all(cache);
  return mismatch ? 1 : 0;
}
