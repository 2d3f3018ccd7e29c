// What the benchmarks share: timing a repeated action (p50, p99), timing berth's lifecycle
// phase by phase, and the memory of a shim watching a running workload.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <string>
#include <vector>

#include "berth/runtime.hpp"
#include "common/fs.hpp"

namespace berth::bench {

using Clock = std::chrono::steady_clock;

struct Summary {
  double p50_ms, p99_ms;
};

[[noreturn]] inline void die(const std::string& what) {
  fmt::print(stderr, "bench: {}\n", what);
  std::exit(1);
}

// A temporary directory for a benchmark's files (/tmp/PREFIX-XXXXXX), removed with everything in
// it when the benchmark ends.
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string& prefix) {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) die("mkdtemp " + pattern + ": " + std::strerror(errno));
    path = pattern;
  }
  ~ScratchDir() { (void)remove_tree(path); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
};

// Starts a program with stdin and stdout on /dev/null (and stderr into `stderr_path` when
// given); its pid, or -1 when it could not start.
inline pid_t spawn_quietly(const std::vector<std::string>& args, const std::string& stderr_path = "") {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (!stderr_path.empty())
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Runs a program with stdin and stdout on /dev/null; its exit code (128 + signal, -1 when it
// could not start).
inline int run_quietly(const std::vector<std::string>& args) {
  pid_t pid = spawn_quietly(args);
  if (pid < 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs `once` once to warm caches and page in binaries, then `iterations` times, timed. With
// `sync_first`, nothing dirty is left in the page cache to be written back during the runs.
inline Summary measure(int iterations, const std::function<void()>& once, bool sync_first = false) {
  if (sync_first) ::sync();
  once();
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

// create, start, wait (exit code 0 expected) and remove of `spec`, each phase timed.
struct LifecycleRun {
  Summary total;
  double create_p50, start_p50, wait_p50, remove_p50;
};

inline LifecycleRun measure_lifecycle(Runtime& runtime, const WorkloadSpec& spec, int iterations,
                                      bool sync_first = false) {
  std::vector<double> create_ms, start_ms, wait_ms, remove_ms;
  auto since = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
  auto total = measure(
      iterations,
      [&] {
        auto t0 = Clock::now();
        auto h = runtime.create(spec);
        if (!h) die(h.error().message);
        create_ms.push_back(since(t0));
        t0 = Clock::now();
        if (auto s = runtime.start(h->id); !s) die(s.error().message);
        start_ms.push_back(since(t0));
        t0 = Clock::now();
        auto exit = runtime.wait(h->id, std::chrono::seconds(10));
        if (!exit || exit->exit_code != 0) die("workload did not exit 0");
        wait_ms.push_back(since(t0));
        t0 = Clock::now();
        if (auto r = runtime.remove(h->id); !r) die(r.error().message);
        remove_ms.push_back(since(t0));
      },
      sync_first);
  auto median = [](std::vector<double>& v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return {total, median(create_ms), median(start_ms), median(wait_ms), median(remove_ms)};
}

struct ShimMemory {
  long rss_kib = -1, anonymous_kib = -1;
};

// Starts `sleeper` (a long-running spec), reads its shim's VmRSS and RssAnon, removes it.
inline ShimMemory shim_memory(Runtime& runtime, const WorkloadSpec& sleeper) {
  auto h = runtime.create(sleeper);
  if (!h || !runtime.start(h->id)) die("could not start a sleeper");
  auto st = runtime.status(h->id);
  std::string stat = read_file(fmt::format("/proc/{}/stat", st->pid.value_or(0))).value_or("");
  int shim = std::atoi(stat.substr(stat.rfind(')') + 4).c_str());  // the parent of the workload
  std::string status = read_file(fmt::format("/proc/{}/status", shim)).value_or("");
  auto field = [&](const char* key) {
    auto at = status.find(key);
    return at == std::string::npos ? -1L : std::atol(status.c_str() + at + std::strlen(key));
  };
  ShimMemory out{field("VmRSS:"), field("RssAnon:")};
  (void)runtime.remove(h->id, true);
  return out;
}

}  // namespace berth::bench
