// The HTTP/1.1 server and client over real sockets: parsing and limits, keep-alive and
// pipelining, chunked streams with timeouts, stop while streaming, peers, no fd leaks.
#include <gtest/gtest.h>
#include <dirent.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "linux/unix_socket.hpp"
#include "support/raw_client.hpp"

namespace berth::http {
namespace {

using namespace std::chrono_literals;

int open_fds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (auto* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

using testing::RawClient;

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-http-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/api.sock";
  }
  void TearDown() override {
    stop();
    (void)remove_tree(dir_);
  }

  void serve(Handler handler, ServerOptions options = {}) {
    server_ = std::make_unique<Server>(std::move(handler), options);
    auto r = server_->listen_unix(socket_, 0600);
    ASSERT_TRUE(r) << r.error().message;
    thread_ = std::thread([this] { (void)server_->run(); });
  }
  void stop() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  Endpoint endpoint() const {
    Endpoint e;
    e.unix_path = socket_;
    return e;
  }
  // Raw bytes in, everything the server sends back until it closes or goes quiet.
  std::string raw(std::string_view bytes) {
    auto address = linux::unix_address(socket_);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address->address), sizeof address->address), 0);
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
    ::shutdown(fd, SHUT_WR);
    std::string out;
    char buffer[4096];
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) out.append(buffer, static_cast<std::size_t>(n));
    ::close(fd);
    return out;
  }

  static void echo(const Request& r, ResponseWriter& w) {
    std::string body = r.method + " " + r.path;
    for (auto& [k, v] : r.query) body += " " + k + "=" + v;
    body += " body=" + r.body;
    (void)w.send(Response{200, {{"Content-Type", "text/plain"}}, body});
  }

  std::string dir_, socket_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
};

TEST_F(HttpTest, ParsesRequestsAndKeepsTheConnection) {
  std::optional<ucred> peer;
  serve([&](const Request& r, ResponseWriter& w) {
    peer = r.peer;
    echo(r, w);
  });
  auto c = Connection::open(endpoint(), 1s);
  ASSERT_TRUE(c) << c.error().message;
  for (int i = 0; i < 50; ++i) {  // one connection, many requests
    auto r = c->request("POST", "/v1/a%20b?x=1&y=two+words&z=%2F", "payload");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "POST /v1/a b x=1 y=two words z=/ body=payload");
  }
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->uid, ::getuid());
  EXPECT_EQ(peer->pid, ::getpid());
}

TEST_F(HttpTest, AnswersPipelinedRequestsInOrderAndChunkedBodies) {
  serve(echo);
  auto out = raw(
      "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
      "GET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto one = out.find("GET /one body=");
  auto two = out.find("POST /two body=abcde");
  auto three = out.find("GET /three body=");
  ASSERT_NE(one, std::string::npos) << out;
  ASSERT_NE(two, std::string::npos) << out;
  ASSERT_NE(three, std::string::npos) << out;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
}

TEST_F(HttpTest, RefusesMalformedAndOversizedRequests) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  options.max_body_bytes = 100;
  serve(echo, options);
  EXPECT_TRUE(raw("NONSENSE\r\n\r\n").starts_with("HTTP/1.1 400")) << raw("NONSENSE\r\n\r\n");
  EXPECT_TRUE(raw("GET /x HTTP/2.0\r\n\r\n").starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(raw("GET /x HTTP/1.1\r\nbad header\r\n\r\n").starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(raw("GET /x HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n").starts_with("HTTP/1.1 431"));
  EXPECT_TRUE(raw("POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n").starts_with("HTTP/1.1 413"));
  EXPECT_TRUE(raw("POST /x HTTP/1.1\r\nContent-Length: ten\r\n\r\n").starts_with("HTTP/1.1 400"));
  auto error = raw("GET /x HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n");
  EXPECT_NE(error.find("\"code\":\"limit_exceeded\""), std::string::npos) << error;
}

TEST_F(HttpTest, StreamsArriveInPiecesAndStopEndsThemPromptly) {
  std::atomic<bool> go{false};
  serve([&](const Request&, ResponseWriter& w) {
    (void)w.begin_stream(200, "application/x-ndjson");
    (void)w.write("first\n");
    while (!go && !w.stop_token().stop_requested()) std::this_thread::sleep_for(5ms);
    if (w.stop_token().stop_requested()) return;
    (void)w.write("second\n");
    (void)w.end();
  });
  auto c = Connection::open(endpoint(), 1s);
  ASSERT_TRUE(c);
  auto head = c->start_request("GET", "/stream");
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->status, 200);
  auto part = c->read_body_part(2s);
  ASSERT_TRUE(part && *part);
  EXPECT_EQ(**part, "first\n");
  auto idle = c->read_body_part(100ms);
  ASSERT_FALSE(idle);
  EXPECT_EQ(idle.error().code, ErrorCode::timeout);  // nothing yet: the stream is still usable
  go = true;
  part = c->read_body_part(2s);
  ASSERT_TRUE(part && *part);
  EXPECT_EQ(**part, "second\n");
  part = c->read_body_part(2s);
  ASSERT_TRUE(part);
  EXPECT_FALSE(*part);  // the end

  go = false;
  auto c2 = Connection::open(endpoint(), 1s);
  ASSERT_TRUE(c2->start_request("GET", "/stream"));
  ASSERT_TRUE(c2->read_body_part(2s));
  auto before = std::chrono::steady_clock::now();
  stop();  // with a stream open
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
  std::string rest;
  for (;;) {
    auto p = c2->read_body_part(2s);
    if (!p || !*p) break;
    rest += **p;
  }
  EXPECT_EQ(rest.find("second"), std::string::npos);
}

TEST_F(HttpTest, ManyClientsAtOnceAndNoFdLeft) {
  int before = open_fds();
  serve(echo);
  std::atomic<int> answered{0};
  {
    std::vector<std::jthread> clients;
    for (int t = 0; t < 8; ++t)
      clients.emplace_back([&, t] {
        auto c = Connection::open(endpoint(), 2s);
        if (!c) return;
        for (int i = 0; i < 100; ++i) {
          auto r = c->request("GET", "/n?t=" + std::to_string(t));
          if (r && r->status == 200 && r->body == "GET /n t=" + std::to_string(t) + " body=") ++answered;
        }
      });
  }
  EXPECT_EQ(answered.load(), 800);
  stop();
  EXPECT_EQ(open_fds(), before);
  EXPECT_FALSE(path_exists(socket_)) << "the socket file goes with the server";
}

TEST_F(HttpTest, ASecondServerOnALiveSocketIsRefusedAStaleOneReplaced) {
  serve(echo);
  Server second(echo);
  auto refused = second.listen_unix(socket_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);
  stop();
  ASSERT_TRUE(write_file(socket_, "stale"));
  serve(echo);
  auto c = Connection::open(endpoint(), 1s);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->request("GET", "/x")->status, 200);
}

TEST_F(HttpTest, TcpOnAnEphemeralPortWithTheTokenSent) {
  std::string authorization;
  server_ = std::make_unique<Server>([&](const Request& r, ResponseWriter& w) {
    authorization = r.header("Authorization").value_or("");
    EXPECT_TRUE(r.tcp);
    EXPECT_FALSE(r.peer);
    echo(r, w);
  });
  ASSERT_TRUE(server_->listen_tcp("127.0.0.1:0"));
  ASSERT_NE(server_->tcp_port(), 0);
  thread_ = std::thread([this] { (void)server_->run(); });
  auto e = parse_endpoint("tcp://127.0.0.1:" + std::to_string(server_->tcp_port()));
  ASSERT_TRUE(e);
  e->bearer_token = "tok";
  auto c = Connection::open(*e, 1s);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->request("GET", "/x")->status, 200);
  EXPECT_EQ(authorization, "Bearer tok");
}

TEST_F(HttpTest, ChunkSizesAndLengthsThatWouldWrapAreRefusedAndTheConnectionCloses) {
  ServerOptions options;
  options.max_body_bytes = 100;
  serve(echo, options);
  auto exchange = [&](std::string_view request) {
    auto c = RawClient::unix_socket(socket_);
    EXPECT_TRUE(c.send(request));
    return c.read(5s);  // (the client does not close: the server must)
  };
  std::string chunked = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  // body.size() + size wraps past 2^64 to a small number: refused all the same.
  for (std::string size : {"ffffffffffffffff", "fffffffffffffffc", "10000000000000000", "65"}) {
    auto a = exchange(chunked + "5\r\nhello\r\n" + size + "\r\n");
    EXPECT_EQ(a.status_line(), "HTTP/1.1 413 Content Too Large") << size << ": " << a.bytes;
    EXPECT_NE(a.bytes.find("\"code\":\"limit_exceeded\""), std::string::npos) << a.bytes;
    EXPECT_TRUE(a.closed) << size;
  }
  auto a = exchange(chunked + "ffffffffffffffffffffffffffffffff\r\n");
  EXPECT_EQ(a.status_line(), "HTTP/1.1 413 Content Too Large") << a.bytes;
  EXPECT_TRUE(a.closed);
  // Exactly the limit is fine; one more byte is not.
  a = exchange(chunked + "3c\r\n" + std::string(60, 'a') + "\r\n28;ext=1\r\n" + std::string(40, 'b') +
               "\r\n0\r\n\r\nGET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(a.status_line(), "HTTP/1.1 200 OK") << a.bytes;
  EXPECT_NE(a.bytes.find("body=" + std::string(60, 'a') + std::string(40, 'b')), std::string::npos);
  EXPECT_NE(a.bytes.find("GET /next"), std::string::npos) << "the connection is still in step: " << a.bytes;
  a = exchange(chunked + "3c\r\n" + std::string(60, 'a') + "\r\n29\r\n");
  EXPECT_EQ(a.status_line(), "HTTP/1.1 413 Content Too Large") << a.bytes;
  EXPECT_TRUE(a.closed);

  for (std::string length : {"101", "18446744073709551616", "99999999999999999999999999"}) {
    a = exchange("POST /x HTTP/1.1\r\nContent-Length: " + length + "\r\n\r\n");
    EXPECT_EQ(a.status_line(), "HTTP/1.1 413 Content Too Large") << length << ": " << a.bytes;
    EXPECT_TRUE(a.closed) << length;
  }
  for (std::string bad : std::vector<std::string>{"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                          "POST /x HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n",
                          "POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                          "POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                          "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                          "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
                          "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(5000, '1')}) {
    a = exchange(bad);
    EXPECT_EQ(a.status_line(), "HTTP/1.1 400 Bad Request") << bad.substr(0, 100) << ": " << a.bytes;
    EXPECT_TRUE(a.closed) << bad.substr(0, 100);
  }
  a = exchange("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(a.status_line(), "HTTP/1.1 501 Not Implemented") << a.bytes;
}

TEST_F(HttpTest, TheGateRefusesOnTheHeadersBeforeTheBodyIsSent) {
  std::atomic<int> handled{0};
  ServerOptions options;
  options.gate = [](const Request& r) -> std::optional<Response> {
    if (r.header("authorization") == "Bearer tok") return std::nullopt;
    return Response{401, {{"WWW-Authenticate", "Bearer"}}, "no\n"};
  };
  server_ = std::make_unique<Server>(
      [&](const Request& r, ResponseWriter& w) {
        ++handled;
        echo(r, w);
      },
      options);
  ASSERT_TRUE(server_->listen_tcp("127.0.0.1:0"));
  thread_ = std::thread([this] { (void)server_->run(); });
  // 15 MB announced, none of it sent: the answer comes anyway (the server waits for no body).
  auto c = RawClient::tcp(server_->tcp_port());
  ASSERT_TRUE(c.send("POST /v1/workloads HTTP/1.1\r\nContent-Length: 15000000\r\nExpect: 100-continue\r\n\r\n"));
  auto a = c.read(5s);
  EXPECT_EQ(a.status_line(), "HTTP/1.1 401 Unauthorized") << a.bytes;
  EXPECT_EQ(a.bytes.find("100 Continue"), std::string::npos) << "no go-ahead for a refused body";
  EXPECT_TRUE(a.closed);
  // A client that sends its body regardless still reads the answer, not a reset.
  auto eager = RawClient::tcp(server_->tcp_port());
  ASSERT_TRUE(eager.send("POST /x HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n"));
  (void)eager.send(std::string(1000000, 'x'));
  a = eager.read(5s);
  EXPECT_EQ(a.status_line(), "HTTP/1.1 401 Unauthorized") << a.bytes << " errno " << a.error;
  EXPECT_EQ(handled.load(), 0);
  // With the token, the same request is served.
  auto allowed = RawClient::tcp(server_->tcp_port());
  ASSERT_TRUE(allowed.send("POST /x HTTP/1.1\r\nAuthorization: Bearer tok\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"));
  a = allowed.read(5s);
  EXPECT_EQ(a.status_line(), "HTTP/1.1 200 OK") << a.bytes;
  EXPECT_NE(a.bytes.find("body=abc"), std::string::npos) << a.bytes;
  EXPECT_EQ(handled.load(), 1);
}

TEST_F(HttpTest, BodiesOfManySlowUploadsStayWithinTheTotalBudget) {
  ServerOptions options;
  options.max_body_bytes = 1 << 20;
  options.max_total_body_bytes = 2 << 20;
  serve([](const Request& r, ResponseWriter& w) { (void)w.send(Response{200, {}, std::to_string(r.body.size())}); },
        options);
  std::atomic<bool> uploading{true};
  std::size_t most = 0;
  std::thread watch([&] {
    while (uploading) {
      most = std::max(most, server_->body_bytes_held());
      std::this_thread::sleep_for(1ms);
    }
  });
  constexpr int clients = 12;
  std::atomic<int> whole{0}, busy{0}, other{0};
  {
    std::vector<std::jthread> uploads;
    for (int i = 0; i < clients; ++i)
      uploads.emplace_back([&] {
        auto c = RawClient::unix_socket(socket_);
        // 1 MiB in 16 pieces, slowly: they overlap, and most cannot all fit in the budget.
        c.upload_chunked("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", 16, 0x10000, 20ms);
        auto a = c.read(10s);
        if (a.status_line() == "HTTP/1.1 200 OK" && a.bytes.ends_with("\r\n\r\n1048576")) ++whole;
        else if (a.status_line() == "HTTP/1.1 503 Service Unavailable") ++busy;
        else ++other;
      });
  }
  uploading = false;
  watch.join();
  EXPECT_LE(most, std::size_t{2} << 20);
  EXPECT_GT(most, 0u);
  EXPECT_GE(whole.load(), 1);
  EXPECT_GE(busy.load(), 1) << "12 MiB in flight cannot fit in 2 MiB";
  EXPECT_EQ(whole + busy, clients) << other.load() << " other answers";
  EXPECT_EQ(server_->body_bytes_held(), 0u) << "given back with each request";
  // Two uploads hold 1.2 MiB of the 2: a declared length past what is left is refused before
  // the client sends a byte of it.
  std::vector<RawClient> holders;
  for (int i = 0; i < 2; ++i) {
    holders.push_back(RawClient::unix_socket(socket_));
    ASSERT_TRUE(holders.back().send("POST /h HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n96000\r\n" +
                                    std::string(0x96000, 'h')));
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (server_->body_bytes_held() < 2 * 0x96000 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  ASSERT_GE(server_->body_bytes_held(), 2u * 0x96000);
  auto c = RawClient::unix_socket(socket_);
  ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n"));
  auto a = c.read(5s);
  EXPECT_EQ(a.status_line(), "HTTP/1.1 503 Service Unavailable") << a.bytes;
  EXPECT_TRUE(a.closed);
  // Once they are done, the budget is there again.
  for (auto& h : holders) {
    ASSERT_TRUE(h.send("\r\n0\r\n\r\n"));
    EXPECT_EQ(h.read(5s).status_line(), "HTTP/1.1 200 OK");
  }
  holders.clear();
  deadline = std::chrono::steady_clock::now() + 10s;
  while (server_->body_bytes_held() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  auto d = RawClient::unix_socket(socket_);
  ASSERT_TRUE(d.send("POST /x HTTP/1.1\r\nContent-Length: 1000000\r\nConnection: close\r\n\r\n" + std::string(1000000, 'x')));
  a = d.read(5s);
  EXPECT_EQ(a.status_line(), "HTTP/1.1 200 OK") << a.bytes;
}

TEST_F(HttpTest, AtTheConnectionCapTheClientReadsThe503NotAReset) {
  ServerOptions options;
  options.max_connections = 1;
  server_ = std::make_unique<Server>(echo, options);
  ASSERT_TRUE(server_->listen_tcp("127.0.0.1:0"));
  thread_ = std::thread([this] { (void)server_->run(); });
  auto holder = RawClient::tcp(server_->tcp_port());
  ASSERT_TRUE(holder.send("GET /held HTTP/1.1\r\n"));  // half a request: its connection stays
  // More clients at once, each with a whole request and a body the server will not read: a
  // server that closed with their bytes unread would reset the connections (the clients whose
  // request came before the close would read ECONNRESET instead of the end of the answer).
  {
    std::vector<std::jthread> clients;
    for (int i = 0; i < 16; ++i)
      clients.emplace_back([&] {
        auto c = RawClient::tcp(server_->tcp_port());
        (void)c.send("POST /x HTTP/1.1\r\nContent-Length: 300000\r\n\r\n" + std::string(300000, 'x'));
        auto a = c.read(5s);
        EXPECT_EQ(a.status_line(), "HTTP/1.1 503 Service Unavailable") << "errno " << a.error << ": " << a.bytes;
        EXPECT_NE(a.bytes.find("\"code\":\"unavailable\""), std::string::npos) << a.bytes;
        EXPECT_NE(a.bytes.find("too many connections"), std::string::npos) << a.bytes;
        EXPECT_EQ(a.error, 0) << std::strerror(a.error);
        EXPECT_TRUE(a.closed);
      });
  }
  ASSERT_TRUE(holder.send("Connection: close\r\n\r\n"));
  EXPECT_EQ(holder.read(5s).status_line(), "HTTP/1.1 200 OK");
  // Its slot is free again (once its thread has let go of it).
  std::string status;
  for (int i = 0; i < 100 && status != "HTTP/1.1 200 OK"; ++i) {
    if (i > 0) std::this_thread::sleep_for(20ms);
    auto next = RawClient::tcp(server_->tcp_port());
    (void)next.send("GET /after HTTP/1.1\r\nConnection: close\r\n\r\n");
    status = next.read(5s).status_line();
  }
  EXPECT_EQ(status, "HTTP/1.1 200 OK");
}

TEST(Endpoint, ParsesTheForms) {
  EXPECT_EQ(parse_endpoint("unix:///run/berth/berth.sock")->unix_path, "/run/berth/berth.sock");
  EXPECT_EQ(parse_endpoint("/tmp/x.sock")->unix_path, "/tmp/x.sock");
  auto tcp = parse_endpoint("tcp://[::1]:2375");
  ASSERT_TRUE(tcp);
  EXPECT_EQ(tcp->host, "::1");
  EXPECT_EQ(tcp->port, 2375);
  for (auto bad : {"http://x", "tcp://host", "tcp://h:0", "tcp://h:99999", "relative.sock"}) {
    auto r = parse_endpoint(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos);
  }
  auto nothing = Connection::open(*parse_endpoint("/nonexistent/berth.sock"), 1s);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, ErrorCode::unavailable);
  EXPECT_NE(nothing.error().message.find("unix:///nonexistent/berth.sock"), std::string::npos);
}

TEST(Message, DecodesPercentAndQuery) {
  EXPECT_EQ(percent_decode("a%2Fb%zz+c", true), "a/b%zz c");
  EXPECT_EQ(percent_decode("a+b%", false), "a+b%");
  auto q = parse_query("a=1&&b&c=%3D");
  EXPECT_EQ(q["a"], "1");
  EXPECT_EQ(q["b"], "");
  EXPECT_EQ(q["c"], "=");
}

}  // namespace
}  // namespace berth::http
