// Cold start of a cached Wasm module: from spawning the process to the end of a `_start` that
// returns at once, so the figure is everything berth does before the guest's first instruction
// (reading and validating the module, finding the artifact in the cache, loading it, making the
// instance with its guard pages, WASI set-up) plus process start and exit. In one run against:
//   - the floor: a native program that exits at once (/bin/true);
//   - berth-wasm on the AOT engine, the artifact already in the cache (one warm-up run made it);
//   - berth-wasm on the AOT engine from a .bwasm artifact (`berth wasm compile`);
//   - berth-wasm on the interpreter (no compile at all);
//   - Node's V8 (node:wasi), which compiles in process, when node is installed.
// Also the compile time of that module on a cold cache.
//   bench_wasm_cold_start [ITERATIONS]
#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>

#include "lifecycle_bench.hpp"
#include "wasm_start_module.hpp"
#include "wasm/aot/aot_engine.hpp"
#include "wasm/module_reader.hpp"

using namespace berth;
using namespace berth::bench;

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 100;
  if (iterations <= 0) die("ITERATIONS must be a positive number");
  ScratchDir scratch("berth-bench-cold");
  const std::string& dir = scratch.path;

  auto module = wasm::read_wat(kEmptyWasiCommand);
  if (!module) die(module.error().message);
  std::string wasm_path = dir + "/start.wasm", bwasm_path = dir + "/start.bwasm", cache = dir + "/cache";
  if (auto r = write_file(wasm_path, std::string(module->bytes.begin(), module->bytes.end())); !r) die(r.error().message);

  // Compile time on a cold cache (what the first start of a new module, or create, pays).
  auto t0 = bench::Clock::now();
  if (run_quietly({BERTH_WASM_RUNNER_PATH, "--engine", "aot", "--cache-dir", cache, wasm_path}) != 0)
    die("berth-wasm failed on the AOT engine");
  double compile_ms = std::chrono::duration<double, std::milli>(bench::Clock::now() - t0).count();
  if (auto r = wasm::aot::compile_file(wasm_path, bwasm_path); !r) die(r.error().message);

  auto runs = [&](std::vector<std::string> args) {
    return [args] {
      if (int code = run_quietly(args); code != 0) die(fmt::format("{} exited {}", args[0], code));
    };
  };
  struct Row {
    std::string name;
    Summary s;
  };
  std::vector<Row> rows;
  rows.push_back({"floor: native /bin/true", measure(iterations, runs({"/bin/true"}))});
  rows.push_back({"berth-wasm aot, cached artifact",
                  measure(iterations, runs({BERTH_WASM_RUNNER_PATH, "--engine", "aot", "--cache-dir", cache, wasm_path}))});
  rows.push_back({"berth-wasm aot, .bwasm file",
                  measure(iterations, runs({BERTH_WASM_RUNNER_PATH, "--engine", "aot", bwasm_path}))});
  rows.push_back({"berth-wasm interp", measure(iterations, runs({BERTH_WASM_RUNNER_PATH, "--engine", "interp", wasm_path}))});
  bool node = have_node();
  if (node)
    rows.push_back({"node (node:wasi)",
                    measure(iterations, runs({"node", "--no-warnings", BERTH_SOURCE_DIR "/bench/wasm/run_command.mjs", wasm_path}))});

  fmt::print("Cold start of a WASI command (spawn to exit; _start returns at once), {} runs each\n", iterations);
  fmt::print("  {:<34} {:>9} {:>9} {:>10}\n", "contender", "p50 ms", "p99 ms", "vs floor");
  for (auto& row : rows)
    fmt::print("  {:<34} {:>9.3f} {:>9.3f} {:>9.2f}x\n", row.name, row.s.p50_ms, row.s.p99_ms, row.s.p50_ms / rows[0].s.p50_ms);
  if (node)
    fmt::print("  berth aot (cached) starts {:.1f}x faster than node\n", rows.back().s.p50_ms / rows[1].s.p50_ms);
  else
    fmt::print("  node not installed: no peer row\n");
  fmt::print("  first start on a cold cache (compile {} bytes of Wasm, then run): {:.0f} ms\n", module->bytes.size(),
             compile_ms);
  return 0;
}
