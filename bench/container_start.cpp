// Container create+start+wait+delete of /bin/true from the busybox image: berth (library API)
// against runc (Debian's, `runc run` on an equivalent bundle: same rootfs, same namespaces) and
// against the floor of `unshare` with the same namespaces, all in the same run.
//
//   bench_container_start [ITERATIONS]     (default 100; root; runc and busybox-static installed)
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "berth/runtime.hpp"
#include "common/fs.hpp"
#include "image/image_store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Summary {
  double p50_ms, p99_ms;
};

Summary measure(int iterations, const std::function<void()>& once) {
  // Each contender starts with nothing dirty in the page cache: writeback left over from the
  // set-up (image import, the bundle copy) or the previous contender would land on this one.
  ::sync();
  once();  // warm caches, page in binaries
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    auto t0 = Clock::now();
    once();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(q * ms.size()))]; };
  return {at(0.50), at(0.99)};
}

[[noreturn]] void die(const std::string& what) {
  fmt::print(stderr, "bench: {}\n", what);
  std::exit(1);
}

int run(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

long rss_kib(int pid, const char* key) {
  std::string status = berth::read_file(fmt::format("/proc/{}/status", pid)).value_or("");
  auto at = status.find(key);
  return at == std::string::npos ? -1L : std::atol(status.c_str() + at + std::strlen(key));
}

}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 100;
  char tmpl[] = "/tmp/berth-bench-XXXXXX";
  std::string work = mkdtemp(tmpl);
  std::string root = work + "/root", image = work + "/image", bundle = work + "/bundle";
  if (run({BERTH_SOURCE_DIR "/scripts/make-busybox-image.sh", image}) != 0) die("could not build the image");

  auto runtime = berth::open_runtime({root, BERTH_SHIM_PATH});
  if (!runtime) die(runtime.error().message);
  auto imported = (*runtime)->import_image(image, {berth::ImageFormat::automatic, "busybox:latest"});
  if (!imported) die(imported.error().message);

  // runc's bundle: the same image, flattened into a plain rootfs, and runc's default config
  // with /bin/true, no terminal, and the same namespaces as berth (mount, pid, ipc, uts, net,
  // cgroup).
  auto store = berth::image::ImageStore::open(root + "/images");
  if (!store) die(store.error().message);
  if (!berth::make_dirs(bundle + "/rootfs", 0755)) die("mkdir bundle");
  if (auto r = berth::image::copy_layers_into(store->layer_dirs(*imported), bundle + "/rootfs"); !r)
    die(r.error().message);
  if (run({"runc", "spec", "--bundle", bundle}) != 0) die("runc spec failed (is runc installed?)");
  auto config = nlohmann::json::parse(berth::read_file(bundle + "/config.json").value_or("{}"));
  config["process"]["args"] = {"/bin/true"};
  config["process"]["terminal"] = false;
  config["linux"]["namespaces"] = nlohmann::json::array(
      {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}},
       {{"type", "mount"}}, {{"type", "cgroup"}}});
  if (!berth::write_file(bundle + "/config.json", config.dump())) die("write config.json");

  berth::WorkloadSpec spec;
  spec.kind = berth::WorkloadKind::container;
  spec.image = "busybox";
  spec.args = {"/bin/true"};
  std::vector<double> create_ms, start_ms, wait_ms, remove_ms;
  auto since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  auto berth_run = measure(iterations, [&] {
    auto t0 = Clock::now();
    auto h = (*runtime)->create(spec);
    if (!h) die(h.error().message);
    create_ms.push_back(since(t0));
    t0 = Clock::now();
    if (auto s = (*runtime)->start(h->id); !s) die(s.error().message);
    start_ms.push_back(since(t0));
    t0 = Clock::now();
    auto exit = (*runtime)->wait(h->id, std::chrono::seconds(10));
    if (!exit || exit->exit_code != 0) die("container did not exit 0");
    wait_ms.push_back(since(t0));
    t0 = Clock::now();
    if (auto r = (*runtime)->remove(h->id); !r) die(r.error().message);
    remove_ms.push_back(since(t0));
  });
  for (auto* v : {&create_ms, &start_ms, &wait_ms, &remove_ms}) std::sort(v->begin(), v->end());

  int n = 0;
  std::string runc_root = work + "/runc";
  auto runc = measure(iterations, [&] {
    if (run({"runc", "--root", runc_root, "run", "--bundle", bundle, fmt::format("bench-{}", n++)}) != 0)
      die("runc run failed");
  });

  auto floor = measure(iterations, [&] {
    if (run({"unshare", "--mount", "--pid", "--ipc", "--uts", "--net", "--cgroup", "--fork", "/bin/true"}) != 0)
      die("unshare failed");
  });

  // Memory per running container: its shim.
  long shim_rss = -1, shim_anon = -1;
  {
    berth::WorkloadSpec sleeper = spec;
    sleeper.args = {"sleep", "30"};
    auto h = (*runtime)->create(sleeper);
    if (!h || !(*runtime)->start(h->id)) die("could not start a sleeper");
    auto st = (*runtime)->status(h->id);
    std::string stat = berth::read_file(fmt::format("/proc/{}/stat", st->pid.value_or(0))).value_or("");
    int shim = std::atoi(stat.substr(stat.rfind(')') + 4).c_str());
    shim_rss = rss_kib(shim, "VmRSS:");
    shim_anon = rss_kib(shim, "RssAnon:");
    (void)(*runtime)->remove(h->id, true);
  }
  runtime->reset();
  (void)berth::remove_tree(work);

  fmt::print("container create+start+wait+delete of /bin/true (busybox image), {} iterations (ms)\n", iterations);
  fmt::print("{:<52} {:>8} {:>8}\n", "", "p50", "p99");
  auto row = [](const char* name, Summary s) { fmt::print("{:<52} {:>8.3f} {:>8.3f}\n", name, s.p50_ms, s.p99_ms); };
  row("berth (library API, overlay rootfs)", berth_run);
  row("runc run (Debian's runc, plain rootfs bundle)", runc);
  row("floor: unshare -m -p -i -u -n -C -f /bin/true", floor);
  fmt::print("berth vs runc: {:.2f}x faster (p50); berth vs unshare floor: {:.2f}x\n",
             runc.p50_ms / berth_run.p50_ms, berth_run.p50_ms / floor.p50_ms);
  fmt::print("berth phases, p50 (ms): create {:.3f}, start {:.3f}, wait {:.3f}, delete {:.3f}\n",
             create_ms[create_ms.size() / 2], start_ms[start_ms.size() / 2], wait_ms[wait_ms.size() / 2],
             remove_ms[remove_ms.size() / 2]);
  fmt::print("memory per running container (its berth-shim): RSS {} KiB, anonymous {} KiB\n", shim_rss, shim_anon);
  return 0;
}
