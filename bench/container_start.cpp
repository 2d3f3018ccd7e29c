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
#include "lifecycle_bench.hpp"

namespace {

using namespace berth::bench;


}  // namespace

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 100;
  char tmpl[] = "/tmp/berth-bench-XXXXXX";
  std::string work = mkdtemp(tmpl);
  std::string root = work + "/root", image = work + "/image", bundle = work + "/bundle";
  if (run_quietly({BERTH_SOURCE_DIR "/scripts/make-busybox-image.sh", image}) != 0) die("could not build the image");

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
  if (run_quietly({"runc", "spec", "--bundle", bundle}) != 0) die("runc spec failed (is runc installed?)");
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
  // Each contender starts after a sync: writeback left from the set-up (image import, the
  // bundle copy) or from the previous contender would otherwise land on the next one.
  auto berth_run = measure_lifecycle(**runtime, spec, iterations, true);

  int n = 0;
  std::string runc_root = work + "/runc";
  auto runc = measure(iterations, [&] {
    if (run_quietly({"runc", "--root", runc_root, "run", "--bundle", bundle, fmt::format("bench-{}", n++)}) != 0)
      die("runc run failed");
  }, true);

  auto floor = measure(iterations, [&] {
    if (run_quietly({"unshare", "--mount", "--pid", "--ipc", "--uts", "--net", "--cgroup", "--fork", "/bin/true"}) != 0)
      die("unshare failed");
  }, true);

  // Memory per running container: its shim.
  berth::WorkloadSpec sleeper = spec;
  sleeper.args = {"sleep", "30"};
  auto shim = shim_memory(**runtime, sleeper);
  runtime->reset();
  (void)berth::remove_tree(work);

  fmt::print("container create+start+wait+delete of /bin/true (busybox image), {} iterations (ms)\n", iterations);
  fmt::print("{:<52} {:>8} {:>8}\n", "", "p50", "p99");
  auto row = [](const char* name, Summary s) { fmt::print("{:<52} {:>8.3f} {:>8.3f}\n", name, s.p50_ms, s.p99_ms); };
  row("berth (library API, overlay rootfs)", berth_run.total);
  row("runc run (Debian's runc, plain rootfs bundle)", runc);
  row("floor: unshare -m -p -i -u -n -C -f /bin/true", floor);
  fmt::print("berth vs runc: {:.2f}x faster (p50); berth vs unshare floor: {:.2f}x\n",
             runc.p50_ms / berth_run.total.p50_ms, berth_run.total.p50_ms / floor.p50_ms);
  fmt::print("berth phases, p50 (ms): create {:.3f}, start {:.3f}, wait {:.3f}, delete {:.3f}\n",
             berth_run.create_p50, berth_run.start_p50, berth_run.wait_p50, berth_run.remove_p50);
  fmt::print("memory per running container (its berth-shim): RSS {} KiB, anonymous {} KiB\n", shim.rss_kib, shim.anonymous_kib);
  return 0;
}
