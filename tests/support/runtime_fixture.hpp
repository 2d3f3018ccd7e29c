// A fresh state root per test, a runtime over it, and a teardown that removes every workload
// and checks nothing of them is left on the host, even when the test failed.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>

#include "berth/runtime.hpp"
#include "common/fs.hpp"
#include "linux/process.hpp"

namespace berth::testing {

inline std::string make_temp_root() {
  char tmpl[] = "/tmp/berth-test-XXXXXX";
  char* dir = ::mkdtemp(tmpl);
  if (!dir) throw std::runtime_error("mkdtemp failed");
  return dir;
}

// Every cgroup directory a workload id may have on this host.
inline std::vector<std::string> cgroup_dirs_of(const std::string& id) {
  std::vector<std::string> out;
  for (auto base : {"/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu",
                    "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/freezer",
                    "/sys/fs/cgroup/blkio", "/sys/fs/cgroup/unified"})
    out.push_back(std::string(base) + "/berth/" + id);
  return out;
}

// Gone or a zombie: either way it no longer runs.
inline bool process_gone(int pid) { return !linux::process_start_time(pid); }

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = make_temp_root();
    auto rt = open_runtime(RuntimeOptions{root_, BERTH_SHIM_PATH});
    ASSERT_TRUE(rt) << rt.error().message;
    runtime_ = std::move(*rt);
  }

  void TearDown() override {
    if (runtime_) {
      if (auto all = runtime_->list({.all = true})) {
        for (auto& w : *all) {
          auto r = runtime_->remove(w.status.id, true);
          EXPECT_TRUE(r || r.error().code == ErrorCode::not_found)
              << "teardown of " << w.status.name << ": " << r.error().message;
          for (auto& dir : cgroup_dirs_of(w.status.id))
            EXPECT_FALSE(path_exists(dir)) << dir << " left behind";
        }
      }
      // Networks the test made go too: their bridges and rules are on the host.
      if (auto networks = runtime_->list_networks()) {
        for (auto& n : *networks) {
          auto r = runtime_->remove_network(n.name);
          EXPECT_TRUE(r) << "teardown of network " << n.name << ": " << r.error().message;
        }
      }
      runtime_.reset();
    }
    (void)remove_tree(root_);
  }

  static WorkloadSpec process_spec(std::vector<std::string> args, std::string name = {}) {
    WorkloadSpec spec;
    spec.kind = WorkloadKind::process;
    spec.name = std::move(name);
    spec.args = std::move(args);
    spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"};
    return spec;
  }

  // Creates and starts; fails the test on error.
  WorkloadHandle run(const WorkloadSpec& spec) {
    auto h = runtime_->create(spec);
    EXPECT_TRUE(h) << h.error().message;
    if (!h) return {};
    auto s = runtime_->start(h->id);
    EXPECT_TRUE(s) << s.error().message;
    return *h;
  }

  // Polls `predicate` until it is true or `timeout` passes.
  template <typename F>
  static bool eventually(F predicate, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return predicate();
  }

  // Everything the workload wrote, both streams in order (not following).
  std::string all_output(const std::string& ref) {
    auto logs = runtime_->logs(ref, {});
    std::string out;
    if (!logs) return out;
    while (auto c = (*logs)->next(std::chrono::seconds(1))) {
      if (!*c) break;
      out += (**c).bytes;
    }
    return out;
  }

  // The parent of `pid` (for a workload's main process: its shim).
  static int parent_pid_of(int pid) {
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return -1;
    auto after = stat->substr(stat->rfind(')') + 2);
    return std::stoi(after.substr(after.find(' ') + 1));
  }

  std::string root_;
  std::unique_ptr<Runtime> runtime_;
};

}  // namespace berth::testing
