// The HTTP trigger: WAGI requests to a C handler over real HTTP on loopback, concurrent load with
// misbehaving requests mixed in, and the CGI response parser.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include "support/aot_cache.hpp"
#include "support/raw_client.hpp"
#include "support/shell.hpp"
#include "functions/http_trigger.hpp"
#include "http/client.hpp"
#include "wasm/module_file.hpp"

namespace berth::functions {
namespace {

using namespace std::chrono_literals;

class HttpTriggerTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<HttpTrigger> start(HttpTriggerOptions options, const std::string& guest = "wagi_handler") {
    auto cache = berth::testing::shared_aot_cache_dir();
    auto module = wasm::load_module_file(GetParam(), BERTH_FUNCTION_GUEST_DIR "/" + guest + ".wasm", cache);
    EXPECT_TRUE(module) << module.error().message;
    if (!module) return nullptr;
    auto trigger = HttpTrigger::start(*module, options);
    EXPECT_TRUE(trigger) << trigger.error().message;
    return trigger ? std::move(*trigger) : nullptr;
  }
  static http::ClientResponse get(std::uint16_t port, const std::string& target, const std::string& method = "GET",
                                  const std::string& body = {}) {
    http::Endpoint endpoint;
    endpoint.host = "127.0.0.1";
    endpoint.port = port;
    auto connection = http::Connection::open(endpoint, 2s);
    EXPECT_TRUE(connection) << connection.error().message;
    if (!connection) return {};
    auto response = connection->request(method, target, body, "text/plain", 10s);
    EXPECT_TRUE(response) << response.error().message;
    return response ? *response : http::ClientResponse{};
  }
};

TEST_P(HttpTriggerTest, RequestsBecomeCgiEnvironmentAndStdinAndTheOutputTheResponse) {
  HttpTriggerOptions options;
  options.route = "/api";
  auto trigger = start(options);
  ASSERT_TRUE(trigger);
  auto hello = get(trigger->port(), "/api/");
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body, "hello from wasm\n");
  EXPECT_EQ(hello.header("content-type").value_or(""), "text/plain");
  auto echo = get(trigger->port(), "/api/things/7?echo", "POST", "the body");
  EXPECT_EQ(echo.status, 200);
  EXPECT_EQ(echo.header("x-method").value_or(""), "POST");
  EXPECT_NE(echo.body.find("path=/things/7"), std::string::npos) << echo.body;
  EXPECT_NE(echo.body.find("length=8\nthe body"), std::string::npos) << echo.body;
  EXPECT_EQ(get(trigger->port(), "/api?status").status, 404);
  EXPECT_EQ(get(trigger->port(), "/other").status, 404);    // outside the route
  EXPECT_EQ(get(trigger->port(), "/apiary").status, 404);   // a prefix of a word is not the route
}

TEST_P(HttpTriggerTest, ATrapIs500ATimeoutIs504AndTheServerKeepsServingUnderLoad) {
  HttpTriggerOptions options;
  options.concurrency = 4;
  options.execution_time = 200ms;
  auto trigger = start(options);
  ASSERT_TRUE(trigger);
  EXPECT_EQ(get(trigger->port(), "/?trap").status, 500);
  EXPECT_EQ(get(trigger->port(), "/?loop").status, 504);
  std::atomic<int> ok{0}, trapped{0}, timed_out{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&, c] {
      for (int i = 0; i < 30; ++i) {
        std::string target = (i % 10 == 3) ? "/?trap" : (c == 0 && i == 5) ? "/?loop" : "/";
        int status = get(trigger->port(), target).status;
        if (status == 200) ++ok;
        else if (status == 500) ++trapped;
        else if (status == 504) ++timed_out;
        else ++other;
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(trapped.load(), 8 * 3);
  EXPECT_EQ(timed_out.load(), 1);
  EXPECT_EQ(ok.load(), 8 * 30 - 8 * 3 - 1);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(get(trigger->port(), "/").status, 200);
}

// The trigger takes bodies from anyone who reaches its port: the server's limits hold for it,
// spoken in raw HTTP (a chunk size that would wrap the length check, a body over the limit).
TEST_P(HttpTriggerTest, OversizedAndWrappingChunkedBodiesAreRefused) {
  HttpTriggerOptions options;
  options.max_body_bytes = 1024;
  auto trigger = start(options);
  ASSERT_TRUE(trigger);
  auto send = [&](const std::string& body) {
    auto c = berth::testing::RawClient::tcp(trigger->port());
    EXPECT_TRUE(c.send("POST /?echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body));
    return c.read(10s);
  };
  for (std::string body : std::vector<std::string>{"ffffffffffffffff\r\n", "5\r\nhello\r\nfffffffffffffffc\r\n",
                           "258\r\n" + std::string(600, 'a') + "\r\n258\r\n"}) {
    auto a = send(body);
    EXPECT_EQ(a.status_line(), "HTTP/1.1 413 Content Too Large") << a.bytes;
    EXPECT_TRUE(a.closed);
  }
  auto fits = send("1f4\r\n" + std::string(500, 'b') + "\r\n0\r\n\r\n");
  EXPECT_EQ(fits.status_line(), "HTTP/1.1 200 OK") << fits.bytes;
  EXPECT_NE(fits.bytes.find("length=500\n" + std::string(500, 'b')), std::string::npos) << fits.bytes;
}

// The `berth` import module under the trigger: one store for every request (fresh instances
// count on from each other), its limits as the guest sees them, berth_log into the sink, and the
// store kept in its file for the next trigger.
TEST_P(HttpTriggerTest, HandlersShareTheTriggersKeyValueStoreAndItOutlivesTheTrigger) {
  char tmpl[] = "/tmp/berth-trigger-kv-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  HttpTriggerOptions options;
  options.kv_max_value_bytes = 1024;
  options.kv_persist_path = dir + "/kv.json";
  std::vector<std::string> logged;
  std::mutex log_mutex;
  options.log = [&](int level, std::string_view message) {
    std::lock_guard lock(log_mutex);
    logged.push_back(fmt::format("{} {}", level, message));
  };
  {
    auto trigger = start(options, "wagi_counter");
    ASSERT_TRUE(trigger);
    // One after another: the guest's read-add-write is not atomic, so concurrent requests
    // could lose counts (the store itself is safe: its tests hammer it from threads).
    for (int i = 0; i < 20; ++i) EXPECT_EQ(get(trigger->port(), "/").body, fmt::format("hits: {}\n", i + 1));
    EXPECT_EQ(get(trigger->port(), "/?log").body, "hits: 21\n");
    EXPECT_EQ(get(trigger->port(), "/?big").body, fmt::format("set: {}\n", static_cast<int>(KvStatus::value_too_large)));
    trigger->stop();
  }
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0], "1 a line from the handler");
  // A new trigger on the same file counts on.
  auto again = start(options, "wagi_counter");
  ASSERT_TRUE(again);
  EXPECT_EQ(get(again->port(), "/").body, "hits: 22\n");
  again->stop();
  again.reset();
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Engines, HttpTriggerTest, ::testing::Values("aot", "interp"),
                         [](const auto& info) { return info.param; });

// A command run by berth-wasm (a wasm workload's process) gets the `berth` module too; its store
// is kept in --kv-file, so the next run counts on, and its limits come from the flags.
TEST(HttpRunner, ACommandsKeyValueStoreIsKeptInItsFile) {
  char tmpl[] = "/tmp/berth-runner-kv-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string run = std::string(BERTH_WASM_RUNNER_PATH) + " --engine interp --kv-file " + dir +
                    "/kv.json --kv-max-value-bytes 100 " BERTH_FUNCTION_GUEST_DIR "/wagi_counter.wasm";
  EXPECT_EQ(berth::testing::shell("QUERY_STRING= " + run), "Content-Type: text/plain\n\nhits: 1\n");
  EXPECT_EQ(berth::testing::shell("QUERY_STRING= " + run), "Content-Type: text/plain\n\nhits: 2\n");
  EXPECT_EQ(berth::testing::shell("QUERY_STRING=big " + run),
            fmt::format("Content-Type: text/plain\n\nset: {}\n", static_cast<int>(KvStatus::value_too_large)));
  EXPECT_NE(berth::testing::shell("QUERY_STRING=log " + run + " 2>&1").find("info: a line from the handler"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

// berth-wasm --http: what `berth run --wasm handler.wasm --http ADDR` runs as the workload's
// process. It serves until SIGTERM, then exits 0.
TEST(HttpRunner, BerthWasmServesUntilSigterm) {
  int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::uint16_t port = ntohs(address.sin_port);
  ::close(probe);
  std::string listen = fmt::format("127.0.0.1:{}", port);
  std::vector<std::string> args = {BERTH_WASM_RUNNER_PATH, "--engine", "interp", "--http", listen, "--route", "/fn",
                                   BERTH_FUNCTION_GUEST_DIR "/wagi_handler.wasm"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp), 0);
  struct Reap {
    pid_t pid;
    ~Reap() {
      if (pid > 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reap{pid};
  http::Endpoint endpoint;
  endpoint.host = "127.0.0.1";
  endpoint.port = port;
  std::optional<http::ClientResponse> answer;
  for (int i = 0; i < 200 && !answer; ++i) {
    if (auto c = http::Connection::open(endpoint, 1s)) {
      if (auto r = c->request("GET", "/fn/x", {}, "text/plain", 5s)) answer = *r;
    } else {
      std::this_thread::sleep_for(25ms);
    }
  }
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "hello from wasm\n");
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  reap.pid = 0;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(CgiResponse, StatusLocationHeadersAndMalformedOutput) {
  auto ok = parse_cgi_response("Content-Type: text/html\r\nX-A: b\r\n\r\n<p>hi</p>");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "<p>hi</p>");
  EXPECT_EQ(ok->headers.size(), 2u);
  auto redirect = parse_cgi_response("Location: /elsewhere\n\n");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 302);
  auto status = parse_cgi_response("Status: 418 I'm a teapot\n\n");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 418);
  EXPECT_FALSE(parse_cgi_response("no blank line"));
  EXPECT_FALSE(parse_cgi_response("not a header\n\nbody"));
  EXPECT_FALSE(parse_cgi_response("Status: 99\n\n"));
}

}  // namespace
}  // namespace berth::functions
