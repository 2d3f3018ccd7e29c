// Per-call cost of a Wasm function (a trivial exported `add`): a direct call on one instance
// (the floor), a call through FunctionModule's pool reusing an instance, and a fresh instance
// per call (a command module), single thread and two threads; against Node's V8 doing
// `new WebAssembly.Instance` + call and a call on a reused instance, in the same run.
//   bench_functions_call [ITERATIONS]     (default 100000)
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include <berth/functions.hpp>

#include "common/fs.hpp"
#include "lifecycle_bench.hpp"
#include "wasm/engines.hpp"
#include "wasm/module_reader.hpp"

using namespace berth;
using bench::die;

namespace {

constexpr const char* kReactor = R"((module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))))";
constexpr const char* kCommand = R"((module
  (memory (export "memory") 1)
  (func (export "_start"))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))))";

struct Figures {
  double p50_us = 0, p99_us = 0;
};

// Times `call` per iteration on `threads` threads; percentiles over every call of every thread.
template <typename Call>
Figures measure(int iterations, int threads, Call call) {
  std::vector<std::vector<double>> samples(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) call(i);
      auto& mine = samples[t];
      mine.reserve(iterations);
      for (int i = 0; i < iterations; ++i) {
        auto t0 = bench::Clock::now();
        call(i);
        mine.push_back(std::chrono::duration<double, std::micro>(bench::Clock::now() - t0).count());
      }
    });
  for (auto& w : workers) w.join();
  std::vector<double> all;
  for (auto& s : samples) all.insert(all.end(), s.begin(), s.end());
  std::sort(all.begin(), all.end());
  return {all[all.size() / 2], all[std::min(all.size() - 1, all.size() * 99 / 100)]};
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 100000;
  if (iterations <= 0) die("ITERATIONS must be a positive number");
  bench::ScratchDir scratch("berth-bench-fn");
  const std::string& dir = scratch.path;
  auto reactor_wasm = wasm::read_wat(kReactor);
  if (!reactor_wasm) die(reactor_wasm.error().message);
  (void)write_file(dir + "/reactor.wasm", std::string(reactor_wasm->bytes.begin(), reactor_wasm->bytes.end()));
  (void)write_file(dir + "/command.wat", kCommand);

  functions::LoadOptions options;
  options.engine = "aot";
  options.aot_cache_dir = dir + "/cache";
  options.limits.pool_size = 4;
  auto reactor = functions::FunctionModule::load(dir + "/reactor.wasm", options);
  if (!reactor) die(reactor.error().message);
  auto command = functions::FunctionModule::load(dir + "/command.wat", options);
  if (!command) die(command.error().message);
  auto compiled = wasm::load_module("aot", reactor_wasm->bytes, dir + "/cache");
  if (!compiled) die(compiled.error().message);

  auto add_via = [](functions::FunctionModule& m) {
    return [&m](int i) {
      functions::Val args[] = {std::int32_t{i}, std::int32_t{1}};
      auto r = m.call("add", args);
      if (!r || std::get<std::int32_t>((*r)[0]) != i + 1) die("a pooled call failed");
    };
  };
  struct Row {
    std::string name;
    Figures one, two;
  };
  std::vector<Row> rows;
  {
    // The floor: one instance per thread, called directly (no pool, no signature check).
    auto direct = [&](int threads) {
      std::vector<std::unique_ptr<wasm::Instance>> instances;
      for (int t = 0; t < threads; ++t) instances.push_back(std::move(*(*compiled)->instantiate({}, {})));
      std::atomic<int> next{0};
      thread_local wasm::Instance* mine = nullptr;
      return measure(iterations, threads, [&](int i) {
        if (!mine || i == 0) mine = instances[next++ % threads].get();
        wasm::Value args[] = {wasm::Value::i32(static_cast<std::uint32_t>(i)), wasm::Value::i32(1)};
        auto r = mine->call("add", args);
        if (!r || (*r)[0].as_i32() != static_cast<std::uint32_t>(i + 1)) die("a direct call failed");
      });
    };
    rows.push_back({"direct call on one instance (floor)", direct(1), direct(2)});
  }
  rows.push_back({"berth pool, reused instance", measure(iterations, 1, add_via(**reactor)),
                  measure(iterations, 2, add_via(**reactor))});
  int fresh_iterations = std::max(1, iterations / 10);
  rows.push_back({"berth pool, fresh instance per call", measure(fresh_iterations, 1, add_via(**command)),
                  measure(fresh_iterations, 2, add_via(**command))});

  fmt::print("Per-call cost of a trivial Wasm export (AOT engine), {} calls per thread ({} for fresh instances)\n",
             iterations, fresh_iterations);
  fmt::print("  {:<38} {:>9} {:>9} {:>13} {:>13}\n", "path", "p50 us", "p99 us", "2 thr p50 us", "2 thr p99 us");
  for (auto& r : rows)
    fmt::print("  {:<38} {:>9.3f} {:>9.3f} {:>13.3f} {:>13.3f}\n", r.name, r.one.p50_us, r.one.p99_us, r.two.p50_us,
               r.two.p99_us);
  fmt::print("  pool overhead over a direct call: {:.3f} us (aim: under 1 us)\n", rows[1].one.p50_us - rows[0].one.p50_us);
  fmt::print("  fresh instance + call: {:.2f} us p50 (aim: under 5 us)\n", rows[2].one.p50_us);
  std::string out;
  std::string node_command = fmt::format("node --no-warnings {}/bench/wasm/instantiate_call.mjs {}/reactor.wasm {} 2>/dev/null",
                                    BERTH_SOURCE_DIR, dir, iterations);
  FILE* p = ::popen(node_command.c_str(), "r");
  char buffer[4096];
  while (p && std::fgets(buffer, sizeof buffer, p)) out += buffer;
  bool node_ran = p && ::pclose(p) == 0;
  if (node_ran) {
    auto j = nlohmann::json::parse(out);
    double fresh = j["fresh"]["p50"], pooled = j["pooled"]["p50"];
    fmt::print("  node: new WebAssembly.Instance + call p50 {:.2f} us (p99 {:.2f}); reused instance call p50 {:.3f} us\n",
               fresh, j["fresh"]["p99"].get<double>(), pooled);
    fmt::print("  berth fresh instance vs node's: {:.2f}x faster\n", fresh / rows[2].one.p50_us);
  } else {
    fmt::print("  node not available: no peer row\n");
  }
  return 0;
}
