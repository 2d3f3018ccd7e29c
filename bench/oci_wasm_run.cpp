// `berth-oci run` of a Wasm container (run.oci.handler=wasm, a rootfs holding only the module,
// its artifact already in berth-oci's cache) against, in the same run:
//   - berth-oci run of a native container doing the same nothing (/bin/true, busybox rootfs,
//     the same config): what the container itself costs;
//   - berth-wasm running the module directly, no container (cached artifact);
//   - Node's V8 (node:wasi) running the module, when node is installed.
// The module is a WASI command whose _start returns at once (the imports a libc program has).
//
//   bench_oci_wasm_run [ITERATIONS]     (default 50; root; busybox-static installed)
#include <stdlib.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string>

#include "common/fs.hpp"
#include "lifecycle_bench.hpp"
#include "wasm_start_module.hpp"
#include "wasm/module_reader.hpp"

using namespace berth::bench;

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 50;
  if (iterations <= 0) die("ITERATIONS must be a positive number");
  ScratchDir scratch("berth-bench-oci-wasm");
  const std::string& work = scratch.path;
  auto module = berth::wasm::read_wat(kEmptyWasiCommand);
  if (!module) die(module.error().message);
  std::string bytes(module->bytes.begin(), module->bytes.end());

  std::string native = work + "/native", wasm = work + "/wasm";
  std::string script =
      "set -e; r=" + native + "/rootfs; mkdir -p $r/bin " + wasm + "/rootfs; cp /bin/busybox $r/bin/; "
      "ln -s busybox $r/bin/true";
  if (run_quietly({"sh", "-c", script}) != 0) die("could not build the rootfs (is busybox-static installed?)");
  if (!berth::write_file(wasm + "/rootfs/start.wasm", bytes)) die("write start.wasm");
  if (!berth::write_file(work + "/start.wasm", bytes)) die("write start.wasm");
  for (auto& bundle : {native, wasm})
    if (run_quietly({BERTH_OCI_PATH, "spec", "--bundle", bundle}) != 0) die("berth-oci spec failed");
  for (auto& bundle : {native, wasm}) {
    auto config = nlohmann::json::parse(berth::read_file(bundle + "/config.json").value_or("{}"));
    config["process"]["terminal"] = false;
    config["root"]["readonly"] = false;  // the mount points are made once, by the warm-up run
    if (bundle == wasm) {
      config["process"]["args"] = {"/start.wasm"};
      config["annotations"]["run.oci.handler"] = "wasm";
    } else {
      config["process"]["args"] = {"/bin/true"};
    }
    if (!berth::write_file(bundle + "/config.json", config.dump())) die("write config.json");
  }

  std::string root = work + "/berth-oci";
  int n = 0;
  auto oci_run = [&](const std::string& bundle) {
    return [&, bundle] {
      if (int rc = run_quietly({BERTH_OCI_PATH, "--root", root, "run", "--bundle", bundle, fmt::format("c{}", n++)});
          rc != 0)
        die(fmt::format("berth-oci run of {} exited {}", bundle, rc));
    };
  };
  auto program = [](std::vector<std::string> args) {
    return [args] {
      if (int rc = run_quietly(args); rc != 0) die(fmt::format("{} exited {}", args[0], rc));
    };
  };
  // The warm-up run of each (measure's first) compiles the module into the cache.
  auto oci_wasm = measure(iterations, oci_run(wasm), true);
  auto oci_native = measure(iterations, oci_run(native));
  auto direct = measure(iterations, program({BERTH_WASM_RUNNER_PATH, "--cache-dir", work + "/cache", work + "/start.wasm"}));
  bool node = have_node();
  Summary by_node{};
  if (node)
    by_node = measure(iterations, program({"node", "--no-warnings", BERTH_SOURCE_DIR "/bench/wasm/run_command.mjs",
                                           work + "/start.wasm"}));

  fmt::print("A WASI command whose _start returns at once, {} runs each (ms; artifacts cached)\n", iterations);
  fmt::print("  {:<44} {:>8} {:>8}\n", "", "p50", "p99");
  fmt::print("  {:<44} {:>8.3f} {:>8.3f}\n", "berth-oci run, run.oci.handler=wasm", oci_wasm.p50_ms, oci_wasm.p99_ms);
  fmt::print("  {:<44} {:>8.3f} {:>8.3f}\n", "berth-oci run, native /bin/true", oci_native.p50_ms, oci_native.p99_ms);
  fmt::print("  {:<44} {:>8.3f} {:>8.3f}\n", "berth-wasm, no container", direct.p50_ms, direct.p99_ms);
  if (node) fmt::print("  {:<44} {:>8.3f} {:>8.3f}\n", "node (node:wasi), no container", by_node.p50_ms, by_node.p99_ms);
  fmt::print("  the Wasm container costs {:.2f}x a native one (p50)\n", oci_wasm.p50_ms / oci_native.p50_ms);
  if (node) fmt::print("  and starts {:.1f}x faster than node runs the module alone\n", by_node.p50_ms / oci_wasm.p50_ms);
  return 0;
}
