// Container create: the image's defaults applied to the spec as Docker applies them, and the
// container's storage made, so start only has to mount and exec.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>

#include "common/fs.hpp"
#include "common/signal_names.hpp"
#include "image/image_store.hpp"
#include "runtime/container_launch.hpp"
#include "runtime/local_runtime.hpp"

namespace berth {

namespace {

std::string_view env_key(std::string_view entry) { return entry.substr(0, entry.find('=')); }

// Entrypoint + Cmd, Env, WorkingDir, User, StopSignal, Healthcheck and Labels from the image,
// each one only where the spec says nothing.
Result<void> apply_image_defaults(WorkloadSpec& spec, const ImageInfo& image) {
  const auto& d = image.defaults;
  std::vector<std::string> args =
      spec.container.entrypoint ? *spec.container.entrypoint : d.entrypoint;
  if (!spec.args.empty())
    args.insert(args.end(), spec.args.begin(), spec.args.end());
  else if (!spec.container.entrypoint)
    args.insert(args.end(), d.cmd.begin(), d.cmd.end());
  spec.args = std::move(args);

  std::vector<std::string> env = d.env;
  for (auto& entry : spec.env) {
    std::erase_if(env, [&](const std::string& e) { return env_key(e) == env_key(entry); });
    env.push_back(entry);
  }
  spec.env = std::move(env);
  if (spec.working_dir.empty()) spec.working_dir = d.working_dir;
  if (spec.user.empty()) spec.user = d.user;
  // The spec's stop signal has a default (SIGTERM) rather than "unset": the image's StopSignal
  // applies unless the spec chose another.
  if (spec.stop_signal == 15 && !d.stop_signal.empty()) {
    auto sig = parse_signal(d.stop_signal, "image StopSignal");
    if (!sig) return std::unexpected(sig.error());
    spec.stop_signal = *sig;
  }
  if (!spec.health_check && d.health_check) spec.health_check = d.health_check;
  for (auto& [key, value] : d.labels) spec.labels.try_emplace(key, value);
  return {};
}

// volumes/ and a volume's own directory are root's only; its _data is bind-mounted into
// containers, which see that directory's own mode, so it is 0755 as Docker makes it.
Result<void> make_volume_dir(const std::string& volume_dir) {
  if (auto r = make_dirs(volume_dir, 0700); !r) return r;
  std::string data = volume_dir + "/_data";
  if (::mkdir(data.c_str(), 0755) != 0 && errno != EEXIST) return std::unexpected(errno_error("mkdir", data, errno));
  return {};
}

}  // namespace

Result<void> LocalRuntime::prepare_container(WorkloadSpec& spec, const std::string& workload_dir) {
  auto paths = ContainerPaths::in(workload_dir);
  if (!spec.image.empty()) {
    auto store = images();
    if (!store) return std::unexpected(store.error());
    auto image = (*store)->find(spec.image);
    if (!image) return std::unexpected(image.error());
    if (auto r = apply_image_defaults(spec, *image); !r) return r;
    spec.container.image_id = image->id;
    spec.container.image_layers = (*store)->layer_dirs(*image);
    if (auto r = make_dirs(paths.rootfs, 0755); !r) return r;
    if (storage_driver_ == "overlay") {
      if (auto r = make_dirs(paths.upper, 0755); !r) return r;
      if (auto r = make_dirs(paths.work, 0700); !r) return r;
    } else if (auto r = image::copy_layers_into(spec.container.image_layers, paths.rootfs); !r) {
      return std::unexpected(r.error().with_context("copy the layers of " + spec.image));
    }
  }
  // A profile from a file is compiled here, into the cache the shim reads, so a bad one is refused
  // at create and a good one is compiled once. (The default profile is checked by its tests.)
  if (!spec.container.seccomp.empty() && spec.container.seccomp != "unconfined") {
    auto caps = container_capabilities(spec);
    if (!caps) return std::unexpected(caps.error());
    if (auto program = container_seccomp(spec, *caps, layout_.cache_dir()); !program)
      return std::unexpected(program.error().with_context("container.seccomp"));
  }
  if (spec.args.empty() || spec.args[0].empty())
    return fail(ErrorCode::invalid_spec,
                spec.image.empty() ? "args: a container with --rootfs needs a command"
                                   : fmt::format("args: no command given and image {} has neither Entrypoint nor Cmd",
                                                 spec.image));
  for (auto& m : spec.mounts)
    if (m.type == "volume")
      if (auto r = make_volume_dir(layout_.volumes_dir() + "/" + m.source); !r) return r;
  return {};
}

Result<image::ImageStore*> LocalRuntime::images() {
  std::lock_guard lock(images_mutex_);
  if (!images_) {
    auto store = image::ImageStore::open(layout_.images_dir());
    if (!store) return std::unexpected(store.error());
    images_.emplace(std::move(*store));
  }
  return &*images_;
}

Result<ImageInfo> LocalRuntime::import_image(const std::string& path, const ImageImportOptions& options) {
  auto store = images();
  if (!store) return std::unexpected(store.error());
  return (*store)->import(path, options);
}

Result<std::vector<ImageInfo>> LocalRuntime::list_images() {
  auto store = images();
  if (!store) return std::unexpected(store.error());
  return (*store)->list();
}

Result<ImageInfo> LocalRuntime::inspect_image(std::string_view ref) {
  auto store = images();
  if (!store) return std::unexpected(store.error());
  return (*store)->find(ref);
}

Result<std::vector<std::string>> LocalRuntime::remove_image(std::string_view ref, bool force) {
  auto store = images();
  if (!store) return std::unexpected(store.error());
  auto image = (*store)->find(ref);
  if (!image) return std::unexpected(image.error());
  if (!force) {
    auto workloads = list({});
    if (!workloads) return std::unexpected(workloads.error());
    for (auto& w : *workloads)
      if (w.spec.container.image_id == image->id)
        return fail(ErrorCode::conflict,
                    fmt::format("image {} is used by container {}: remove it first, or force", ref,
                                w.status.name));
  }
  return (*store)->remove(ref);
}

}  // namespace berth
