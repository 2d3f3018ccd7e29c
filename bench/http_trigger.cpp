// Requests per second of the Wasm HTTP trigger (`berth-wasm --http`, what `berth run --wasm
// h.wasm --http` runs) for a hello handler, a fresh instance per request, against the same
// response served as a static file by nginx (Debian's), the ceiling; wrk (Debian's) on loopback
// drives both with the same threads and connections, in the same run.
//
//   bench_http_trigger [SECONDS] [CONNECTIONS]     (default 5 s, 32; root not needed;
//                                                   wrk and nginx installed: scripts/setup.sh)
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "lifecycle_bench.hpp"

using namespace berth::bench;

namespace {

// A server in the background with its stderr in a file, stopped with `stop_signal` at the end.
struct Background {
  pid_t pid = -1;
  int stop_signal = SIGTERM;
  Background(const std::vector<std::string>& args, const std::string& stderr_path, int stop)
      : pid(spawn_quietly(args, stderr_path)), stop_signal(stop) {
    if (pid < 0) die("could not start " + args[0]);
  }
  ~Background() {
    ::kill(pid, stop_signal);
    ::waitpid(pid, nullptr, 0);
  }
};

// A loopback port nothing listens on now (the kernel's pick).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
    die("bind a loopback port");
  ::close(fd);
  return ntohs(address.sin_port);
}

bool answers(int port) {
  return run_quietly({"curl", "-sf", "-o", "/dev/null", fmt::format("http://127.0.0.1:{}/", port)}) == 0;
}

void wait_until_answering(int port, const std::string& what, const std::string& log) {
  for (int i = 0; i < 600; ++i) {
    if (answers(port)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  die(what + " did not answer: " + berth::read_file(log).value_or(""));
}

struct WrkResult {
  double requests_per_second = 0, latency_ms = 0;
};

WrkResult wrk(int port, int seconds, int connections, const std::string& dir) {
  std::string out = dir + "/wrk.out";
  std::string command = fmt::format("wrk -t2 -c{} -d{}s --latency http://127.0.0.1:{}/ > {} 2>&1", connections,
                                    seconds, port, out);
  if (run_quietly({"sh", "-c", command}) != 0) die("wrk failed: " + berth::read_file(out).value_or(""));
  std::string text = berth::read_file(out).value_or("");
  if (text.find("Non-2xx") != std::string::npos || text.find("Socket errors") != std::string::npos)
    die("wrk saw errors:\n" + text);
  std::smatch m;
  WrkResult r;
  if (std::regex_search(text, m, std::regex(R"(Requests/sec:\s+([0-9.]+))"))) r.requests_per_second = std::stod(m[1]);
  if (std::regex_search(text, m, std::regex(R"(50%\s+([0-9.]+)(us|ms|s))")))
    r.latency_ms = std::stod(m[1]) * (m[2] == "us" ? 0.001 : m[2] == "s" ? 1000.0 : 1.0);
  if (r.requests_per_second <= 0) die("could not read wrk's output:\n" + text);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  int connections = argc > 2 ? std::atoi(argv[2]) : 32;
  if (run_quietly({"sh", "-c", "command -v wrk && command -v nginx"}) != 0)
    die("wrk and nginx are needed (scripts/setup.sh installs them)");
  ScratchDir dir("berth-bench-http");

  // nginx: the same body as a static file, as many workers as cores, no access log.
  int nginx_port = free_port();
  if (!berth::write_file(dir.path + "/index.html", "hello from wasm\n")) die("write index.html");
  // nginx's workers run as www-data: they must be able to read the file.
  if (::chmod(dir.path.c_str(), 0755) != 0 || ::chmod((dir.path + "/index.html").c_str(), 0644) != 0)
    die("chmod the nginx root");
  std::string conf = fmt::format(
      "daemon off; worker_processes auto; pid {0}/nginx.pid; error_log {0}/nginx.err;\n"
      "events {{ worker_connections 1024; }}\n"
      "http {{ access_log off; default_type text/plain;\n"
      "  client_body_temp_path {0}/body; proxy_temp_path {0}/proxy; fastcgi_temp_path {0}/fastcgi;\n"
      "  uwsgi_temp_path {0}/uwsgi; scgi_temp_path {0}/scgi;\n"
      "  server {{ listen 127.0.0.1:{1}; root {0}; }} }}\n",
      dir.path, nginx_port);
  if (!berth::write_file(dir.path + "/nginx.conf", conf)) die("write nginx.conf");
  WrkResult nginx, berth;
  {
    Background server({"nginx", "-c", dir.path + "/nginx.conf", "-p", dir.path}, dir.path + "/nginx.log", SIGQUIT);
    wait_until_answering(nginx_port, "nginx", dir.path + "/nginx.log");
    nginx = wrk(nginx_port, seconds, connections, dir.path);
  }
  // berth-wasm on the AOT engine; the module is compiled at load, before the port answers.
  int berth_port = free_port();
  {
    Background server({BERTH_WASM_RUNNER_PATH, "--engine", "aot", "--cache-dir", dir.path + "/cache", "--http",
                       fmt::format("127.0.0.1:{}", berth_port), "--pool-size", "16", BERTH_WAGI_HELLO_WASM},
                      dir.path + "/berth.log", SIGTERM);
    wait_until_answering(berth_port, "berth-wasm --http", dir.path + "/berth.log");
    berth = wrk(berth_port, seconds, connections, dir.path);
  }

  fmt::print("HTTP hello on loopback, wrk -t2 -c{} -d{}s\n", connections, seconds);
  fmt::print("{:<52} {:>10} {:>10}\n", "", "req/s", "p50 ms");
  fmt::print("{:<52} {:>10.0f} {:>10.3f}\n", "nginx, static file (ceiling)", nginx.requests_per_second,
             nginx.latency_ms);
  fmt::print("{:<52} {:>10.0f} {:>10.3f}\n", "berth-wasm --http, WAGI, fresh AOT instance/request",
             berth.requests_per_second, berth.latency_ms);
  fmt::print("berth HTTP trigger vs nginx: {:.2f}x of the ceiling's requests/s\n",
             berth.requests_per_second / nginx.requests_per_second);
  return 0;
}
