// `berth-oci run` against `runc run` (Debian's runc) on the same bundle: a busybox-static
// rootfs, runc's default config with /bin/true, no terminal, the same namespaces (mount, pid,
// ipc, uts, net, cgroup). Each run is create + start + wait + delete, as engines use them.
//
//   bench_oci_run [ITERATIONS]     (default 100; root; runc and busybox-static installed)
#include <stdlib.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string>

#include "common/fs.hpp"
#include "lifecycle_bench.hpp"

using namespace berth::bench;

int main(int argc, char** argv) {
  int iterations = argc > 1 ? std::atoi(argv[1]) : 100;
  char tmpl[] = "/tmp/berth-bench-oci-XXXXXX";
  std::string work = mkdtemp(tmpl);
  std::string bundle = work + "/bundle", rootfs = bundle + "/rootfs";
  std::string script =
      "set -e; r=" + rootfs + "; mkdir -p $r/bin $r/proc $r/sys $r/dev $r/etc $r/tmp; cp /bin/busybox $r/bin/; "
      "for a in $(/bin/busybox --list-full); do [ $a = bin/busybox ] && continue; mkdir -p $r/$(dirname $a); "
      "ln -sf /bin/busybox $r/$a; done";
  if (run_quietly({"sh", "-c", script}) != 0) die("could not build the rootfs (is busybox-static installed?)");
  if (run_quietly({"runc", "spec", "--bundle", bundle}) != 0) die("runc spec failed (is runc installed?)");
  auto config = nlohmann::json::parse(berth::read_file(bundle + "/config.json").value_or("{}"));
  config["process"]["args"] = {"/bin/true"};
  config["process"]["terminal"] = false;
  config["linux"]["namespaces"] = nlohmann::json::array(
      {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}},
       {{"type", "cgroup"}}});
  // runc's default ambient set is not inheritable, which berth-oci warns about on every run.
  config["process"]["capabilities"]["inheritable"] = config["process"]["capabilities"]["ambient"];
  if (!berth::write_file(bundle + "/config.json", config.dump())) die("write config.json");

  int n = 0;
  std::string berth_root = work + "/berth-oci";
  auto berth = measure(iterations, [&] {
    if (int rc = run_quietly({BERTH_OCI_PATH, "--root", berth_root, "run", "--bundle", bundle, fmt::format("b{}", n++)});
        rc != 0)
      die(fmt::format("berth-oci run failed ({})", rc));
  }, true);
  std::string runc_root = work + "/runc";
  auto runc = measure(iterations, [&] {
    if (run_quietly({"runc", "--root", runc_root, "run", "--bundle", bundle, fmt::format("r{}", n++)}) != 0)
      die("runc run failed");
  }, true);
  (void)berth::remove_tree(work);

  fmt::print("OCI run of /bin/true (busybox rootfs, same bundle), {} iterations each (ms)\n", iterations);
  fmt::print("{:<40} {:>8} {:>8}\n", "", "p50", "p99");
  fmt::print("{:<40} {:>8.3f} {:>8.3f}\n", "berth-oci run", berth.p50_ms, berth.p99_ms);
  fmt::print("{:<40} {:>8.3f} {:>8.3f}\n", "runc run (Debian's runc)", runc.p50_ms, runc.p99_ms);
  fmt::print("berth-oci vs runc: {:.2f}x faster (p50)\n", runc.p50_ms / berth.p50_ms);
  return 0;
}
