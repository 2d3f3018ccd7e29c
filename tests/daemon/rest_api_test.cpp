// berthd's REST API end to end over its Unix socket: the Runtime calls through RemoteRuntime,
// streams (logs, events with resume), errors as JSON with the right status, access control.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "daemon_fixture.hpp"
#include "http/client.hpp"
#include "support/cli.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

http::Endpoint unix_endpoint(const std::string& path) {
  http::Endpoint e;
  e.unix_path = path;
  return e;
}

TEST_F(DaemonTest, TheRuntimeApiWorksThroughTheSocket) {
  auto spec = process_spec({"/bin/sh", "-c", "echo hello; echo oops >&2; sleep 100"}, "api-one");
  auto handle = remote_->create(spec);
  ASSERT_TRUE(handle) << handle.error().message;
  ASSERT_TRUE(remote_->start("api-one"));
  auto status = remote_->status("api-one");
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(status->state, WorkloadState::running);
  EXPECT_EQ(status->id, handle->id);
  // The same store underneath: the local view agrees.
  EXPECT_EQ(runtime_->status("api-one")->pid, status->pid);

  auto exec = remote_->exec("api-one", {"/bin/sh", "-c", "echo from-exec; exit 3"}, {});
  ASSERT_TRUE(exec) << exec.error().message;
  EXPECT_EQ(exec->exit_code, 3);
  EXPECT_EQ(exec->stdout_data, "from-exec\n");

  // Logs stream, following: both lines, then the stream stays open until the workload ends.
  LogOptions follow;
  follow.follow = true;
  auto logs = remote_->logs("api-one", follow);
  ASSERT_TRUE(logs) << logs.error().message;
  std::string seen;
  ASSERT_TRUE(eventually([&] {
    auto c = (*logs)->next(200ms);
    if (c && *c) seen += (**c).bytes;
    return seen.find("hello") != std::string::npos && seen.find("oops") != std::string::npos;
  })) << seen;
  auto quiet = (*logs)->next(200ms);
  ASSERT_FALSE(quiet);
  EXPECT_EQ(quiet.error().code, ErrorCode::timeout);

  auto stopped = remote_->stop("api-one", 1s);
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped->exit_signal, 15);
  auto list = remote_->list({.all = true});
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  auto report = remote_->remove("api-one", false);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->name, "api-one");
  EXPECT_TRUE(remote_->list({.all = true})->empty());
}

TEST_F(DaemonTest, ErrorsComeBackAsJsonWithTheRightStatus) {
  auto c = http::Connection::open(unix_endpoint(socket_), 2s);
  ASSERT_TRUE(c) << c.error().message;
  auto check = [&](std::string method, std::string target, std::string body, int status, std::string code,
                   std::string needle) {
    auto r = c->request(method, target, body, "application/json", 10s);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, status) << method << " " << target << ": " << r->body;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_EQ(j.value("code", ""), code) << r->body;
    EXPECT_NE(j.value("message", "").find(needle), std::string::npos) << r->body;
  };
  check("GET", "/v1/workloads/nope", "", 404, "not_found", "nope");
  check("POST", "/v1/workloads", "{not json", 400, "invalid_spec", "not valid JSON");
  check("POST", "/v1/workloads", R"({"kind":"process","args":["true"],"memroy":"1g"})", 400, "invalid_spec", "memroy");
  check("POST", "/v1/workloads", R"({"kind":"process","args":[]})", 400, "invalid_spec", "args");
  check("DELETE", "/v1/version", "", 405, "invalid_spec", "not allowed");
  check("GET", "/v2/whatever", "", 404, "not_found", "no such endpoint");
  check("POST", "/v1/workloads/x/kill?signal=999", "", 400, "invalid_spec", "signal");
  check("POST", "/v1/stacks", R"({"toml":"[workloads.a]\ncomand = [\"x\"]\n","path":"/tmp/s/berth.toml"})", 400,
        "invalid_spec", "berth.toml:2:1");
  // Nothing half-made was left by the refused creates.
  EXPECT_TRUE(runtime_->list({.all = true})->empty());
}

TEST_F(DaemonTest, EventsResumeFromASequenceNumberWithoutGapsOrDuplicates) {
  auto first = remote_->watch(0);
  ASSERT_TRUE(first) << first.error().message;
  for (int i = 0; i < 3; ++i) run(process_spec({"/bin/true"}, "ev" + std::to_string(i)));
  std::vector<Event> seen;
  ASSERT_TRUE(eventually([&] {
    auto e = (*first)->next(200ms);
    if (e && *e) seen.push_back(**e);
    return seen.size() >= 4;
  }));
  first->reset();  // the watcher goes away mid-stream...
  for (int i = 3; i < 5; ++i) run(process_spec({"/bin/true"}, "ev" + std::to_string(i)));
  auto resumed = remote_->watch(seen.back().seq);  // ...and comes back with its last seq
  ASSERT_TRUE(resumed);
  ASSERT_TRUE(eventually([&] {
    auto e = (*resumed)->next(200ms);
    if (e && *e) seen.push_back(**e);
    // (ev3 and ev4 run side by side: their exits may come in either order.)
    return std::count_if(seen.begin(), seen.end(), [](const Event& ev) { return ev.type == "exited"; }) == 5;
  })) << seen.size();
  EXPECT_EQ(seen.size(), 15u) << "created, started and exited for each of five";
  for (std::size_t i = 1; i < seen.size(); ++i) EXPECT_EQ(seen[i].seq, seen[i - 1].seq + 1) << "at " << i;

  // CloudEvents and server-sent events carry the same seq.
  auto c = http::Connection::open(unix_endpoint(socket_), 2s);
  ASSERT_TRUE(c);
  auto ce = c->request("GET", "/v1/events?since=0&follow=false&format=cloudevents", "", "application/json", 10s);
  ASSERT_TRUE(ce) << ce.error().message;
  auto line = nlohmann::json::parse(ce->body.substr(0, ce->body.find('\n')));
  EXPECT_EQ(line["specversion"], "1.0");
  EXPECT_EQ(line["id"], std::to_string(seen[0].seq));
  EXPECT_EQ(line["type"], "dev.berth.workload.created");
}

TEST_F(DaemonTest, TheCliUsesTheDaemonWhenToldTo) {
  std::string host = "unix://" + socket_;
  auto run_cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--host", host});
    auto r = berth::testing::run_cli(root_, args);
    return std::pair{r.exit_code, r.out + r.err};
  };
  auto [rc, out] = run_cli({"run", "-d", "--name", "via-cli", "--", "/bin/sleep", "100"});
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(runtime_->status("via-cli")) << "created through berthd, in the same store";
  std::tie(rc, out) = run_cli({"ps"});
  EXPECT_NE(out.find("via-cli"), std::string::npos) << out;
  std::tie(rc, out) = run_cli({"rm", "-f", "via-cli"});
  EXPECT_EQ(rc, 0) << out;
  // A --host that does not answer is an error naming it, not a silent fallback.
  std::tie(rc, out) = run_cli({"--host", "unix:///nonexistent.sock", "ps"});
  EXPECT_EQ(rc, 125) << out;
  EXPECT_NE(out.find("unix:///nonexistent.sock"), std::string::npos) << out;
  EXPECT_NE(out.find("start it with `berthd`"), std::string::npos) << out;
}

TEST_F(DaemonTest, OnlyRootOrItsOwnUserMayUseTheSocket) {
  // Past the directory's and the socket's modes: the peer check alone decides.
  ASSERT_EQ(::chmod(root_.c_str(), 0711), 0);
  ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
  pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    auto c = http::Connection::open(unix_endpoint(socket_), 2s);
    if (!c) ::_exit(11);
    auto r = c->request("GET", "/v1/workloads", "", "application/json", 5s);
    if (!r) ::_exit(12);
    ::_exit(r->status == 403 ? 0 : 13);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child: " << WEXITSTATUS(status);
}

TEST_F(DaemonTest, TcpNeedsABearerToken) {
  auto port = restart_daemon_with_tcp("s3cret-token");
  ASSERT_NE(port, 0);
  http::Endpoint tcp;
  tcp.host = "127.0.0.1";
  tcp.port = port;
  auto c = http::Connection::open(tcp, 2s);
  ASSERT_TRUE(c) << c.error().message;
  auto denied = c->request("GET", "/v1/workloads", "", "application/json", 5s);
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  tcp.bearer_token = "s3cret-token";
  auto allowed = client::RemoteRuntime::connect(tcp);
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_TRUE((*allowed)->list({.all = true}));
}

}  // namespace
}  // namespace berth::testing
