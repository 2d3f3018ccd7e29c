// berthd against clients that send too much: authentication on the headers before any body,
// chunk sizes and lengths that would wrap, the memory many uploads can make it hold, and what the
// CLI says when berthd is busy or the socket is not this user's.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "daemon_fixture.hpp"
#include "support/cli.hpp"
#include "support/raw_client.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

// berthd's resident memory, in bytes (0 when it cannot be read).
std::size_t resident_bytes(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:")) return std::stoul(line.substr(6)) * 1024;
  return 0;
}

TEST_F(DaemonTest, OnTcpATokenIsCheckedOnTheHeadersBeforeAnyBody) {
  auto port = restart_daemon_with_tcp("the-token");
  ASSERT_NE(port, 0);
  // 15 MB announced and none sent: the 401 comes without berthd waiting for the body.
  auto c = RawClient::tcp(port);
  ASSERT_TRUE(c.send("POST /v1/workloads HTTP/1.1\r\nHost: x\r\nContent-Length: 15000000\r\n\r\n"));
  auto a = c.read(5s);
  EXPECT_EQ(a.status_line(), "HTTP/1.1 401 Unauthorized") << a.bytes;
  EXPECT_NE(a.bytes.find("bearer token"), std::string::npos) << a.bytes;
  EXPECT_TRUE(a.closed);
  // The stream: a chunk size that wraps the length check, and no token.
  auto wrap = RawClient::tcp(port);
  ASSERT_TRUE(wrap.send("POST /v1/workloads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n"));
  a = wrap.read(5s);
  EXPECT_EQ(a.status_line(), "HTTP/1.1 401 Unauthorized") << a.bytes;
  EXPECT_TRUE(a.closed);
  // With the token, the wrapping sizes are refused for what they are.
  for (std::string chunks : {"ffffffffffffffff\r\n", "5\r\nhello\r\nfffffffffffffffc\r\n"}) {
    auto authed = RawClient::tcp(port);
    ASSERT_TRUE(authed.send("POST /v1/workloads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer the-token\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n" + chunks));
    a = authed.read(5s);
    EXPECT_EQ(a.status_line(), "HTTP/1.1 413 Content Too Large") << a.bytes;
    EXPECT_TRUE(a.closed);
  }
  auto huge = RawClient::tcp(port);
  ASSERT_TRUE(huge.send("POST /v1/workloads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer the-token\r\n"
                        "Content-Length: 18446744073709551616\r\n\r\n"));
  a = huge.read(5s);
  EXPECT_EQ(a.status_line(), "HTTP/1.1 413 Content Too Large") << a.bytes;
}

TEST_F(DaemonTest, ManyConcurrentUploadsKeepBerthdsMemoryBounded) {
  stop_daemon(SIGTERM);
  start_daemon({"--max-body", "8m", "--max-body-total", "16m"});
  std::size_t baseline = resident_bytes(daemon_pid_);
  ASSERT_GT(baseline, 0u);
  std::atomic<bool> uploading{true};
  std::size_t peak = baseline;
  std::thread watch([&] {
    while (uploading) {
      peak = std::max(peak, resident_bytes(daemon_pid_));
      std::this_thread::sleep_for(2ms);
    }
  });
  // 24 clients x 8 MiB: 192 MiB offered at once; berthd may hold 16 MiB of it.
  constexpr int clients = 24;
  std::atomic<int> answered{0}, busy{0};
  {
    std::vector<std::jthread> uploads;
    for (int i = 0; i < clients; ++i)
      uploads.emplace_back([&] {
        auto c = RawClient::unix_socket(socket_);
        c.upload_chunked("POST /v1/workloads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                         32, 0x40000);
        auto status = c.read(30s).status_line();
        if (status == "HTTP/1.1 400 Bad Request") ++answered;  // (the body is not a workload)
        else if (status == "HTTP/1.1 503 Service Unavailable") ++busy;
        else ADD_FAILURE() << "unexpected answer: " << status;
      });
  }
  uploading = false;
  watch.join();
  EXPECT_EQ(answered + busy, clients);
  EXPECT_GE(answered.load(), 1);
  EXPECT_LT(peak - baseline, std::size_t{48} << 20) << "from " << baseline << " to " << peak << " bytes resident";
}

TEST_F(DaemonTest, TheCliSaysBerthdIsBusyAtItsConnectionCap) {
  stop_daemon(SIGTERM);
  start_daemon({"--max-connections", "1"});  // the fixture's client holds the one connection
  auto r = run_cli(root_, {"--host", "unix://" + socket_, "ps"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("is busy"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("start it with"), std::string::npos) << r.err;
  remote_.reset();  // the slot is free again
  ASSERT_TRUE(eventually([&] { return run_cli(root_, {"--host", "unix://" + socket_, "ps"}).exit_code == 0; }));
}

TEST_F(DaemonTest, TheCliSaysPermissionDeniedOnTheSocketForAnotherUser) {
  ASSERT_EQ(::chmod(root_.c_str(), 0711), 0);  // the way to the socket is open; the socket (0600) is not
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  std::string host = "unix://" + socket_;
  pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(200);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::execl(BERTH_CLI_PATH, "berth", "--host", host.c_str(), "ps", static_cast<char*>(nullptr));
    ::_exit(201);
  }
  ::close(out[1]);
  std::string said;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) said.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_LT(WEXITSTATUS(status), 200) << "could not become nobody or run berth: " << said;
  EXPECT_NE(WEXITSTATUS(status), 0) << said;
  EXPECT_NE(said.find("permission denied on the socket " + socket_), std::string::npos) << said;
  EXPECT_EQ(said.find("start it with"), std::string::npos) << said;
}

}  // namespace
}  // namespace berth::testing
