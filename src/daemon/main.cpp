// berthd: the supervisor and the REST API on a Unix socket (and optionally TCP with a bearer
// token). Workloads belong to their shims, not to berthd: stopping or killing berthd leaves
// them running, and the next berthd re-adopts them (live restore).
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "cli/args.hpp"
#include "common/fs.hpp"
#include "common/numbers.hpp"
#include "common/time.hpp"
#include "common/units.hpp"
#include "daemon/api.hpp"
#include "daemon/auth.hpp"
#include "http/server.hpp"

namespace berth::daemon {
namespace {

void log_line(std::string_view message) {
  std::string line = fmt::format("{} berthd: {}\n", format_rfc3339_nano(Clock::now()), message);
  (void)!::write(2, line.data(), line.size());
}

const std::vector<cli::FlagSpec> flags = {
    {"help", 'h', false, {}, "show this help"},
    {"root", 0, true, "DIR", "state root (default $BERTH_ROOT, then /var/lib/berth)"},
    {"socket", 0, true, "PATH", "the API's Unix socket (default /run/berth/berth.sock)"},
    {"tcp", 0, true, "HOST:PORT", "also serve the API on TCP; needs --token-file"},
    {"token-file", 0, true, "FILE", "bearer tokens accepted on TCP, one a line (re-read on SIGHUP)"},
    {"storage-driver", 0, true, "overlay|copy", "how container roots are made"},
    {"max-body", 0, true, "SIZE", "largest request body (default 16m; 413 beyond)"},
    {"max-body-total", 0, true, "SIZE", "request bodies held at once, all clients together (default 64m; 503 beyond)"},
    {"max-connections", 0, true, "N", "clients served at once (default 256; 503 beyond)"},
    {"version", 'v', false, {}, "show the version"},
};

int run(const std::vector<std::string>& args) {
  auto parsed = cli::parse_args(args, flags, "berthd");
  if (!parsed) {
    log_line(parsed.error().message);
    return 2;
  }
  if (parsed->has("help")) {
    std::printf("usage: berthd [--root DIR] [--socket PATH] [--tcp HOST:PORT --token-file FILE] [--max-body SIZE]\n"
                "              [--max-body-total SIZE] [--max-connections N]\n");
    for (const auto& f : flags) std::printf("  --%-16s %.*s\n", f.name.c_str(), static_cast<int>(f.help.size()), f.help.data());
    return 0;
  }
  if (parsed->has("version")) {
    std::printf("berthd %.*s\n", static_cast<int>(berth::version().size()), berth::version().data());
    return 0;
  }
  if (!parsed->positionals.empty()) {
    log_line(fmt::format("unexpected argument \"{}\"", parsed->positionals[0]));
    return 2;
  }
  std::string socket_path = parsed->last("socket").value_or("/run/berth/berth.sock");
  Access access;
  if (parsed->has("tcp") != parsed->has("token-file")) {
    log_line("--tcp and --token-file go together: TCP clients need a bearer token");
    return 2;
  }
  if (auto file = parsed->last("token-file")) {
    if (auto r = access.load_tokens(*file); !r) {
      log_line(r.error().message);
      return 2;
    }
  }

  http::ServerOptions server_options;
  auto size_flag = [&](const char* name, std::size_t& into) -> bool {
    auto text = parsed->last(name);
    if (!text) return true;
    auto size = parse_size(*text, fmt::format("--{}", name));
    if (!size || *size <= 0) {
      log_line(size ? fmt::format("--{}: \"{}\" must be more than 0", name, *text) : size.error().message);
      return false;
    }
    into = static_cast<std::size_t>(*size);
    return true;
  };
  if (!size_flag("max-body", server_options.max_body_bytes) || !size_flag("max-body-total", server_options.max_total_body_bytes))
    return 2;
  if (auto text = parsed->last("max-connections")) {
    auto n = parse_integer(*text, "--max-connections", 1, 1 << 20);
    if (!n) {
      log_line(n.error().message);
      return 2;
    }
    server_options.max_connections = static_cast<std::size_t>(*n);
  }

  // Request bodies (up to --max-body each) are mmap'ed and unmapped when their request ends, so
  // berthd's memory follows the bodies it holds. glibc's default raises this threshold after the
  // first large free, and freed bodies then stay in per-thread arenas.
  if (::mallopt(M_MMAP_THRESHOLD, 256 * 1024) != 1) log_line("mallopt M_MMAP_THRESHOLD failed; memory may stay high after large requests");

  // Signals are taken by one thread with sigwait; every other thread has them blocked.
  sigset_t handled;
  sigemptyset(&handled);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, s);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // berthd sweeps what a crash left of its networks before it serves.
  auto runtime = open_runtime(RuntimeOptions{parsed->last("root").value_or(""), {}, parsed->last("storage-driver").value_or(""), true});
  if (!runtime) {
    log_line(runtime.error().message);
    return 1;
  }
  supervisor::SupervisorOptions options;
  options.log = log_line;
  auto supervisor = supervisor::Supervisor::start(**runtime, options);
  if (!supervisor) {
    log_line("reconcile: " + supervisor.error().message);
    return 1;
  }
  Api api(**runtime, **supervisor);
  // Every route is authenticated on the request's headers, before its body is read.
  server_options.gate = [&](const http::Request& request) { return access.refusal(request); };
  http::Server server([&](const http::Request& request, http::ResponseWriter& writer) { api.handle(request, writer); },
                      server_options);
  auto dir = socket_path.substr(0, socket_path.rfind('/'));
  if (!dir.empty()) {
    if (auto r = make_dirs(dir, 0755); !r) {
      log_line(r.error().message);
      return 1;
    }
  }
  if (auto r = server.listen_unix(socket_path, 0600); !r) {
    log_line(r.error().message);
    return 1;
  }
  if (auto tcp = parsed->last("tcp")) {
    if (auto r = server.listen_tcp(*tcp); !r) {
      log_line(r.error().message);
      return 1;
    }
  }
  log_line(fmt::format("serving on {}{}, supervising {} workloads", socket_path,
                       parsed->has("tcp") ? fmt::format(" and tcp port {}", server.tcp_port()) : "",
                       (*supervisor)->watched()));

  std::jthread signals([&](std::stop_token stop) {
    while (!stop.stop_requested()) {
      timespec period{0, 200'000'000};
      int s = ::sigtimedwait(&handled, nullptr, &period);
      if (s == SIGHUP) {
        auto r = access.reload();
        log_line(r ? "SIGHUP: token file re-read" : "SIGHUP: " + r.error().message);
      } else if (s == SIGTERM || s == SIGINT) {
        log_line(fmt::format("{}: stopping; workloads keep running", s == SIGTERM ? "SIGTERM" : "SIGINT"));
        server.stop();
        return;
      }
    }
  });
  auto served = server.run();
  signals.request_stop();
  supervisor->reset();
  if (!served) {
    log_line(served.error().message);
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace berth::daemon

int main(int argc, char** argv) {
  return berth::daemon::run(std::vector<std::string>(argv + 1, argv + argc));
}
