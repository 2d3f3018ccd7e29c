// A real berthd on a private root and socket, started per test and stopped (workloads removed,
// nothing left) even when the test fails.
#pragma once

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "client/remote_runtime.hpp"
#include "support/runtime_fixture.hpp"

extern char** environ;

namespace berth::testing {

inline constexpr const char* berthd_path = BERTH_DAEMON_PATH;

class DaemonTest : public RuntimeTest {
 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    socket_ = root_ + "/berth.sock";
    start_daemon();
  }

  void TearDown() override {
    remote_.reset();
    stop_daemon(SIGTERM);
    RuntimeTest::TearDown();
  }

  void start_daemon(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{berthd_path, "--root", root_, "--socket", socket_};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    std::string log = root_ + "/berthd.log";
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ASSERT_EQ(posix_spawn(&daemon_pid_, berthd_path, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    http::Endpoint endpoint;
    endpoint.unix_path = socket_;
    ASSERT_TRUE(eventually([&] {
      auto r = client::RemoteRuntime::connect(endpoint);
      if (r) remote_ = std::move(*r);
      return r.has_value();
    })) << "berthd did not answer: " << read_file(log).value_or("");
  }

  // Returns berthd's wait status.
  int stop_daemon(int signal) {
    if (daemon_pid_ <= 0) return 0;
    ::kill(daemon_pid_, signal);
    int status = 0;
    ::waitpid(daemon_pid_, &status, 0);
    daemon_pid_ = -1;
    return status;
  }

  std::string daemon_log() { return read_file(root_ + "/berthd.log").value_or(""); }

  // Restarts berthd serving TCP too, on a free port, with `token` as its one bearer token (and
  // `extra` flags); returns the port (from its log), 0 when it said none.
  std::uint16_t restart_daemon_with_tcp(const std::string& token, std::vector<std::string> extra = {}) {
    stop_daemon(SIGTERM);
    std::string tokens = root_ + "/tokens";
    EXPECT_TRUE(write_file(tokens, "# clients\n" + token + "\n"));
    EXPECT_EQ(::chmod(tokens.c_str(), 0600), 0);
    extra.insert(extra.begin(), {"--tcp", "127.0.0.1:0", "--token-file", tokens});
    start_daemon(extra);
    auto log = daemon_log();
    auto at = log.find("tcp port ");
    EXPECT_NE(at, std::string::npos) << log;
    return at == std::string::npos ? 0 : static_cast<std::uint16_t>(std::atoi(log.c_str() + at + 9));
  }

  std::string socket_;
  pid_t daemon_pid_ = -1;
  std::unique_ptr<client::RemoteRuntime> remote_;
};

}  // namespace berth::testing
