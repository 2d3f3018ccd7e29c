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

namespace {

using Clock = std::chrono::steady_clock;

struct Summary {
  double p50_ms, p99_ms;
};

Summary measure(int iterations, const std::function<void()>& once) {
  once();  // warm caches, page in binaries
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    auto t0 = Clock::now();
    once();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
  return {at(0.50), at(0.99)};
}

int spawn_and_wait(const char* path, char* const argv[]) {
  pid_t pid;
  if (posix_spawn(&pid, path, nullptr, nullptr, argv, environ) != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "bench: {}\n", what);
  std::exit(1);
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
  std::vector<double> create_ms, start_ms, wait_ms, remove_ms;
  auto since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  auto library = measure(iterations, [&] {
    auto t0 = Clock::now();
    auto h = (*runtime)->create(spec);
    if (!h) die(h.error().message);
    create_ms.push_back(since(t0));
    t0 = Clock::now();
    if (auto s = (*runtime)->start(h->id); !s) die(s.error().message);
    start_ms.push_back(since(t0));
    t0 = Clock::now();
    auto exit = (*runtime)->wait(h->id, std::chrono::seconds(10));
    if (!exit || exit->exit_code != 0) die("workload did not exit 0");
    wait_ms.push_back(since(t0));
    t0 = Clock::now();
    if (auto r = (*runtime)->remove(h->id); !r) die(r.error().message);
    remove_ms.push_back(since(t0));
  });
  for (auto* v : {&create_ms, &start_ms, &wait_ms, &remove_ms}) std::sort(v->begin(), v->end());

  // The shim's memory while it watches a running workload: RSS (shared libraries included)
  // and the anonymous part that each extra workload really costs.
  long shim_rss_kib = -1, shim_anon_kib = -1;
  {
    berth::WorkloadSpec sleeper;
    sleeper.args = {"/bin/sleep", "30"};
    auto h = (*runtime)->create(sleeper);
    if (!h || !(*runtime)->start(h->id)) die("could not start a sleeper");
    auto st = (*runtime)->status(h->id);
    std::string stat = berth::read_file(fmt::format("/proc/{}/stat", st->pid.value_or(0))).value_or("");
    auto fields = stat.substr(stat.rfind(')') + 4);
    int shim = std::atoi(fields.c_str());
    std::string status = berth::read_file(fmt::format("/proc/{}/status", shim)).value_or("");
    auto field = [&](const char* key) {
      auto at = status.find(key);
      return at == std::string::npos ? -1L : std::atol(status.c_str() + at + std::strlen(key));
    };
    shim_rss_kib = field("VmRSS:");
    shim_anon_kib = field("RssAnon:");
    (void)(*runtime)->remove(h->id, true);
  }

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
  row("library: create+start+wait", library);
  row("cli: berth run --rm /bin/true (incl. remove)", cli);
  fmt::print("library phases, p50 (ms): create {:.3f}, start {:.3f}, wait {:.3f}; then remove {:.3f}\n",
             create_ms[create_ms.size() / 2], start_ms[start_ms.size() / 2],
             wait_ms[wait_ms.size() / 2], remove_ms[remove_ms.size() / 2]);
  fmt::print("berth-shim memory while watching a workload: RSS {} KiB, of which anonymous {} KiB\n",
             shim_rss_kib, shim_anon_kib);
  return 0;
}
