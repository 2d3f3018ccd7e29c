// Run-to-exit of /bin/true as a process workload, through the library API and through the
// CLI, each against the floor of plain fork+exec+wait measured in the same run.
//
//   bench_run_to_exit [ITERATIONS]     (default 200; needs root for cgroups)
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <string>
#include <vector>

#include "berth/runtime.hpp"
#include "common/fs.hpp"
#include "lifecycle_bench.hpp"

namespace {

using namespace berth::bench;

int spawn_and_wait(const char* path, char* const argv[]) {
  pid_t pid;
  if (posix_spawn(&pid, path, nullptr, nullptr, argv, environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 200;
  char tmpl[] = "/tmp/berth-bench-XXXXXX";
  std::string root = mkdtemp(tmpl);

  // The floor: fork + exec + wait of /bin/true, no isolation at all.
  char* true_argv[] = {const_cast<char*>("/bin/true"), nullptr};
  auto floor = measure(iterations, [&] {
    pid_t pid = fork();
    if (pid == 0) {
      execv("/bin/true", true_argv);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
  });

  auto runtime = berth::open_runtime({root, BERTH_SHIM_PATH});
  if (!runtime) die(runtime.error().message);
  berth::WorkloadSpec spec;
  spec.args = {"/bin/true"};
  // Where the time goes, phase by phase.
  auto library = measure_lifecycle(**runtime, spec, iterations);
  // The shim's memory while it watches a running workload: RSS (shared libraries included)
  // and the anonymous part that each extra workload really costs.
  berth::WorkloadSpec sleeper;
  sleeper.args = {"/bin/sleep", "30"};
  auto shim = shim_memory(**runtime, sleeper);

  std::string root_flag = "--root=" + root;
  char* cli_argv[] = {const_cast<char*>(BERTH_CLI_PATH), root_flag.data(),
                      const_cast<char*>("run"), const_cast<char*>("--rm"),
                      const_cast<char*>("--"), const_cast<char*>("/bin/true"), nullptr};
  auto cli = measure(iterations, [&] {
    if (spawn_and_wait(BERTH_CLI_PATH, cli_argv) != 0) die("berth run --rm /bin/true failed");
  });
  (void)berth::remove_tree(root);

  fmt::print("run-to-exit of /bin/true, {} iterations (ms)\n", iterations);
  fmt::print("{:<46} {:>8} {:>8} {:>14} {:>14}\n", "", "p50", "p99", "p50 vs floor", "p50 overhead");
  auto row = [&](const char* name, Summary s) {
    fmt::print("{:<46} {:>8.3f} {:>8.3f} {:>13.2f}x {:>11.3f} ms\n", name, s.p50_ms, s.p99_ms,
               s.p50_ms / floor.p50_ms, s.p50_ms - floor.p50_ms);
  };
  row("floor: fork+exec+wait", floor);
  row("library: create+start+wait", library.total);
  row("cli: berth run --rm /bin/true (incl. remove)", cli);
  fmt::print("library phases, p50 (ms): create {:.3f}, start {:.3f}, wait {:.3f}; then remove {:.3f}\n",
             library.create_p50, library.start_p50, library.wait_p50, library.remove_p50);
  fmt::print("berth-shim memory while watching a workload: RSS {} KiB, of which anonymous {} KiB\n",
             shim.rss_kib, shim.anonymous_kib);
  return 0;
}
