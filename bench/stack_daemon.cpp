// berthd under load: `up` and `down` of a stack of 200 process workloads through the REST API
// (time, and berthd's memory), against the same 200 created and started one by one through the
// library in the same run; then API latency of status and list with 1000 workloads, against
// the same calls made on the store directly (the floor the API adds to).
//   bench_stack_daemon [WORKLOADS] [LIST_SIZE]
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <thread>

#include "lifecycle_bench.hpp"
#include "client/remote_runtime.hpp"
#include "http/client.hpp"

extern char** environ;

using namespace berth;
using namespace berth::bench;
using namespace std::chrono_literals;

namespace {

double ms_since(bench::Clock::time_point t0) { return std::chrono::duration<double, std::milli>(bench::Clock::now() - t0).count(); }

std::uint64_t rss_kib(pid_t pid) {
  auto status = read_file(fmt::format("/proc/{}/status", pid)).value_or("");
  auto at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::strtoull(status.c_str() + at + 6, nullptr, 10);
}

pid_t start_berthd(const std::string& root, const std::string& socket) {
  std::vector<std::string> args{BERTH_DAEMON_PATH, "--root", root, "--socket", socket};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid;
  if (posix_spawn(&pid, BERTH_DAEMON_PATH, nullptr, nullptr, argv.data(), environ) != 0) die("spawn berthd");
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  int workloads = argc > 1 ? std::atoi(argv[1]) : 200;
  int list_size = argc > 2 ? std::atoi(argv[2]) : 1000;
  char tmpl[] = "/tmp/berth-bench-stack-XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  std::string root = tmpl, socket = root + "/berth.sock";
  auto local = open_runtime(RuntimeOptions{root, BERTH_SHIM_PATH});
  if (!local) die(local.error().message);
  Runtime& runtime = **local;

  // The peer in the same run: the same workloads, created and started one by one.
  auto t0 = bench::Clock::now();
  for (int i = 0; i < workloads; ++i) {
    WorkloadSpec spec;
    spec.name = fmt::format("serial{}", i);
    spec.args = {"/bin/sleep", "600"};
    if (!runtime.create(spec) || !runtime.start(spec.name)) die("serial start");
  }
  double serial_ms = ms_since(t0);
  for (int i = 0; i < workloads; ++i) (void)runtime.remove(fmt::format("serial{}", i), true);

  pid_t berthd = start_berthd(root, socket);
  http::Endpoint endpoint;
  endpoint.unix_path = socket;
  std::unique_ptr<client::RemoteRuntime> remote;
  for (int i = 0; i < 200 && !remote; ++i) {
    if (auto r = client::RemoteRuntime::connect(endpoint)) remote = std::move(*r);
    else std::this_thread::sleep_for(25ms);
  }
  if (!remote) die("berthd did not answer");
  auto idle_rss = rss_kib(berthd);

  std::string toml = "[stack]\nname = \"bench\"\n";
  for (int i = 0; i < workloads; ++i) toml += fmt::format("[workloads.w{}]\ncommand = [\"/bin/sleep\", \"600\"]\n", i);
  nlohmann::json body{{"toml", toml}, {"path", root + "/berth.toml"}};
  t0 = bench::Clock::now();
  auto up = remote->call("POST", "/v1/stacks", body);
  double up_ms = ms_since(t0);
  if (!up) die("up: " + up.error().message);
  auto up_rss = rss_kib(berthd);
  t0 = bench::Clock::now();
  auto down = remote->call("DELETE", "/v1/stacks/bench?grace_ms=2000");
  double down_ms = ms_since(t0);
  if (!down) die("down: " + down.error().message);

  fmt::print("stack of {} process workloads through berthd (POST /v1/stacks, DELETE /v1/stacks/bench)\n", workloads);
  fmt::print("  up    {:8.1f} ms   (aim: under 2000 ms)   serial create+start through the library {:8.1f} ms   ratio {:.2f}x\n",
             up_ms, serial_ms, serial_ms / up_ms);
  fmt::print("  down  {:8.1f} ms\n", down_ms);
  fmt::print("  berthd RSS: {} KiB idle, {} KiB after up of {}\n", idle_rss, up_rss, workloads);

  // API latency with many workloads: created (not started), so only the API is measured.
  for (int i = 0; i < list_size; ++i) {
    WorkloadSpec spec;
    spec.name = fmt::format("l{}", i);
    spec.args = {"/bin/true"};
    if (!runtime.create(spec)) die("create");
  }
  auto api_status = measure(500, [&] { if (!remote->status("l500")) die("status"); });
  auto floor_status = measure(500, [&] { if (!runtime.status("l500")) die("status"); });
  auto api_list = measure(50, [&] { if (!remote->list({.all = true})) die("list"); });
  auto raw = http::Connection::open(endpoint, 2s);
  if (!raw) die("connect");
  std::size_t list_bytes = 0;
  auto wire_list = measure(50, [&] {
    auto r = raw->request("GET", "/v1/workloads?all=true");
    if (!r || r->status != 200) die("raw list");
    list_bytes = r->body.size();
  });
  auto floor_list = measure(50, [&] { if (!runtime.list({.all = true})) die("list"); });
  fmt::print("\nAPI latency with {} workloads (GET over the Unix socket, parsed by the client)\n", list_size);
  fmt::print("  status  p50 {:7.3f} ms  p99 {:7.3f} ms   library directly p50 {:7.3f} ms   ratio {:.2f}x\n",
             api_status.p50_ms, api_status.p99_ms, floor_status.p50_ms, api_status.p50_ms / floor_status.p50_ms);
  fmt::print("  list    p50 {:7.3f} ms  p99 {:7.3f} ms   (response of {} KiB on the wire; parsed into WorkloadInfo by the client)\n",
             wire_list.p50_ms, wire_list.p99_ms, list_bytes / 1024);
  fmt::print("          library directly p50 {:7.3f} ms   ratio {:.2f}x   (aim: under 10 ms p50)\n", floor_list.p50_ms,
             wire_list.p50_ms / floor_list.p50_ms);
  fmt::print("          through RemoteRuntime::list, parse included: p50 {:7.3f} ms  p99 {:7.3f} ms\n", api_list.p50_ms,
             api_list.p99_ms);

  ::kill(berthd, SIGTERM);
  ::waitpid(berthd, nullptr, 0);
  for (int i = 0; i < list_size; ++i) (void)runtime.remove(fmt::format("l{}", i), true);
  (void)remove_tree(root);
  return 0;
}
