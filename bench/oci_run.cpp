// `berth-oci run` against `runc run` (Debian's runc) on the same bundle: a busybox-static
// rootfs, runc's default config with /bin/true, no terminal, the same namespaces (mount, pid,
// ipc, uts, net, cgroup). Each run is create + start + wait + delete, as engines use them.
// Then the same rootfs as a podman image (`podman import`), `podman run --rm --network none`
// of /bin/true with --runtime berth-oci against --runtime runc: what a podman user sees.
//
//   bench_oci_run [ITERATIONS]     (default 100; root; runc and busybox-static installed;
//                                   the podman part is skipped when podman is not installed)
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
  auto berth_run = [&](const std::string& berth_root) {
    return measure(iterations, [&] {
      if (int rc = run_quietly({BERTH_OCI_PATH, "--root", berth_root, "run", "--bundle", bundle, fmt::format("b{}", n++)});
          rc != 0)
        die(fmt::format("berth-oci run failed ({})", rc));
    }, true);
  };
  auto runc_run = [&](const std::string& runc_root) {
    return measure(iterations, [&] {
      if (run_quietly({"runc", "--root", runc_root, "run", "--bundle", bundle, fmt::format("r{}", n++)}) != 0)
        die("runc run failed");
    }, true);
  };
  // The state roots on this machine's disk (its /run is ext4 too), then on a tmpfs, where
  // /run is on most hosts (runc's default root is /run/runc, Podman's /run/...).
  auto berth = berth_run(work + "/berth-oci");
  auto runc = runc_run(work + "/runc");
  char shm_tmpl[] = "/dev/shm/berth-bench-oci-XXXXXX";
  std::string shm = mkdtemp(shm_tmpl);
  auto berth_tmpfs = berth_run(shm + "/berth-oci");
  auto runc_tmpfs = runc_run(shm + "/runc");
  (void)berth::remove_tree(shm);

  // podman with its own storage; its ulimit defaults are above this machine's hard limits.
  bool have_podman = run_quietly({"sh", "-c", "command -v podman"}) == 0;
  Summary podman_berth{}, podman_runc{};
  if (have_podman) {
    if (!berth::write_file(work + "/containers.conf",
                           "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n"))
      die("write containers.conf");
    ::setenv("CONTAINERS_CONF", (work + "/containers.conf").c_str(), 1);
    std::vector<std::string> podman{"podman", "--root", work + "/podman/storage", "--runroot", work + "/podman/run",
                                    "--tmpdir", work + "/podman/tmp", "--cgroup-manager", "cgroupfs",
                                    "--events-backend", "file"};
    auto with = [&](std::vector<std::string> args) {
      std::vector<std::string> full = podman;
      full.insert(full.end(), args.begin(), args.end());
      return full;
    };
    if (run_quietly({"sh", "-c", "tar -C " + rootfs + " -cf " + work + "/rootfs.tar ."}) != 0 ||
        run_quietly(with({"import", work + "/rootfs.tar", "localhost/bench-busybox"})) != 0)
      die("podman import of the rootfs failed");
    auto podman_run = [&](const std::string& runtime) {
      return measure(iterations, [&] {
        if (int rc = run_quietly(with({"--runtime", runtime, "run", "--rm", "--network", "none",
                                       "localhost/bench-busybox", "/bin/true"}));
            rc != 0)
          die(fmt::format("podman run --runtime {} failed ({})", runtime, rc));
      }, true);
    };
    podman_berth = podman_run(BERTH_OCI_PATH);
    podman_runc = podman_run("runc");
    run_quietly(with({"system", "reset", "--force"}));
    run_quietly({"sh", "-c", "grep -o ' " + work + "[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l"});
  }
  (void)berth::remove_tree(work);

  fmt::print("OCI run of /bin/true (busybox rootfs, same bundle), {} iterations each (ms)\n", iterations);
  fmt::print("{:<40} {:>8} {:>8}\n", "", "p50", "p99");
  fmt::print("{:<40} {:>8.3f} {:>8.3f}\n", "berth-oci run, state on disk", berth.p50_ms, berth.p99_ms);
  fmt::print("{:<40} {:>8.3f} {:>8.3f}\n", "runc run (Debian's runc), state on disk", runc.p50_ms, runc.p99_ms);
  fmt::print("berth-oci vs runc: {:.2f}x faster (p50)\n", runc.p50_ms / berth.p50_ms);
  fmt::print("{:<40} {:>8.3f} {:>8.3f}\n", "berth-oci run, state on tmpfs", berth_tmpfs.p50_ms, berth_tmpfs.p99_ms);
  fmt::print("{:<40} {:>8.3f} {:>8.3f}\n", "runc run, state on tmpfs", runc_tmpfs.p50_ms, runc_tmpfs.p99_ms);
  fmt::print("berth-oci vs runc, state on tmpfs: {:.2f}x faster (p50)\n", runc_tmpfs.p50_ms / berth_tmpfs.p50_ms);
  if (have_podman) {
    fmt::print("{:<40} {:>8.3f} {:>8.3f}\n", "podman run --rm, runtime berth-oci", podman_berth.p50_ms,
               podman_berth.p99_ms);
    fmt::print("{:<40} {:>8.3f} {:>8.3f}\n", "podman run --rm, runtime runc", podman_runc.p50_ms, podman_runc.p99_ms);
    fmt::print("podman with berth-oci vs with runc: {:.2f}x faster (p50), {:.1f} ms less\n",
               podman_runc.p50_ms / podman_berth.p50_ms, podman_runc.p50_ms - podman_berth.p50_ms);
  } else {
    fmt::print("podman: not installed, not measured\n");
  }
  return 0;
}
