// Fault injection for the shim: find a running workload's berth-shim and SIGKILL it, and look
// at what its cgroup still holds. Teardown is the fixture's: remove -f kills the cgroup.
#pragma once

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "linux/process.hpp"
#include "runtime/unsupervised.hpp"
#include "support/runtime_fixture.hpp"

namespace berth::testing {

// The pids listed in the workload's cgroup.procs that still run (zombies left out), in the
// first hierarchy that has the cgroup (v1 lists the same processes in each).
inline std::vector<int> live_pids_in_cgroup(const std::string& id) {
  std::vector<int> out;
  for (const auto& dir : cgroup_dirs_of(id)) {
    auto text = read_file(dir + "/cgroup.procs");
    if (!text) continue;
    std::size_t at = 0;
    while (at < text->size()) {
      auto end = text->find('\n', at);
      if (end == std::string::npos) end = text->size();
      if (end > at) {
        int pid = std::stoi(text->substr(at, end - at));
        if (!process_gone(pid)) out.push_back(pid);
      }
      at = end + 1;
    }
    return out;
  }
  return out;
}

// The process whose command line names berth-shim and `id`: the workload's shim.
inline int shim_pid_of(const std::string& id) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto cmdline = read_file(entry.path().string() + "/cmdline");
    if (!cmdline || cmdline->find("berth-shim") == std::string::npos || cmdline->find(id) == std::string::npos)
      continue;
    return std::stoi(name);
  }
  return -1;
}

// SIGKILLs the workload's shim and waits until it is gone; false when there was none.
inline bool kill_shim_of(const std::string& id) {
  int shim = shim_pid_of(id);
  if (shim <= 0 || ::kill(shim, SIGKILL) != 0) return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!process_gone(shim)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// The most live processes the workload's cgroup held at once, looked at every few ms for
// `period`: a restart policy that started a second copy beside a live one shows as 2.
inline std::size_t most_live_pids_over(const std::string& id, std::chrono::milliseconds period) {
  std::size_t most = 0;
  auto deadline = std::chrono::steady_clock::now() + period;
  while (std::chrono::steady_clock::now() < deadline) {
    most = std::max(most, live_pids_in_cgroup(id).size());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return most;
}

// Whether every "started" of `events` (one workload's, oldest first) after the first comes
// after an end ("exited" or "oom") of the run before it.
inline bool each_start_follows_an_end(const std::vector<Event>& events) {
  bool running = false;
  for (const auto& e : events) {
    if (e.type == "started") {
      if (running) return false;
      running = true;
    } else if (e.type == "exited" || e.type == "oom") {
      running = false;
    }
  }
  return true;
}

// The events of workload `id` so far, oldest first.
inline std::vector<Event> events_of(Runtime& runtime, const std::string& id) {
  std::vector<Event> out;
  auto reader = runtime.watch(0);
  if (!reader) return out;
  for (;;) {
    auto e = (*reader)->next(std::chrono::milliseconds(50));
    if (!e || !*e) break;
    if ((*e)->workload_id == id) out.push_back(**e);
  }
  return out;
}

}  // namespace berth::testing
