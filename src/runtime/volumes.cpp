// Named volumes: <root>/volumes/<name>/_data, made when a container that names one is created
// (container_create.cpp). These list, show and remove them; a volume some workload's spec
// mounts, in whatever state, is in use and stays.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/fs.hpp"
#include "runtime/local_runtime.hpp"
#include "runtime/spec_validation.hpp"

namespace berth {

namespace {

// Volume name -> the workloads that mount it.
Result<std::map<std::string, std::vector<std::string>>> volume_users(Runtime& runtime) {
  auto workloads = runtime.list({.all = true});
  if (!workloads) return std::unexpected(workloads.error());
  std::map<std::string, std::vector<std::string>> users;
  for (const auto& w : *workloads)
    for (const auto& m : w.spec.mounts)
      if (m.type == "volume") users[m.source].push_back(w.status.name);
  return users;
}

Result<std::vector<std::string>> volume_names(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return names;
    return std::unexpected(errno_error("open", dir, errno));
  }
  while (auto* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (is_valid_workload_name(name)) names.push_back(std::move(name));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Result<std::vector<VolumeInfo>> LocalRuntime::list_volumes() {
  auto names = volume_names(layout_.volumes_dir());
  if (!names) return std::unexpected(names.error());
  auto users = volume_users(*this);
  if (!users) return std::unexpected(users.error());
  std::vector<VolumeInfo> out;
  for (const auto& name : *names) {
    std::string dir = layout_.volumes_dir() + "/" + name;
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) continue;  // removed meanwhile
    VolumeInfo v;
    v.name = name;
    v.mountpoint = dir + "/_data";
    v.created_at = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    if (auto it = users->find(name); it != users->end()) v.used_by = it->second;
    out.push_back(std::move(v));
  }
  return out;
}

Result<VolumeInfo> LocalRuntime::inspect_volume(std::string_view name) {
  auto all = list_volumes();
  if (!all) return std::unexpected(all.error());
  for (auto& v : *all)
    if (v.name == name) return std::move(v);
  return fail(ErrorCode::not_found, fmt::format("no such volume: {}", name));
}

Result<void> LocalRuntime::remove_volume(std::string_view name) {
  auto volume = inspect_volume(name);
  if (!volume) return std::unexpected(volume.error());
  if (!volume->used_by.empty())
    return fail(ErrorCode::conflict,
                fmt::format("volume {} is in use by {}: remove {} first", name, fmt::join(volume->used_by, ", "),
                            volume->used_by.size() == 1 ? "it" : "them"));
  return remove_tree(layout_.volumes_dir() + "/" + volume->name);
}

Result<std::vector<std::string>> LocalRuntime::prune_volumes() {
  auto all = list_volumes();
  if (!all) return std::unexpected(all.error());
  std::vector<std::string> removed;
  for (const auto& v : *all) {
    if (!v.used_by.empty()) continue;
    if (auto r = remove_tree(layout_.volumes_dir() + "/" + v.name); !r) return std::unexpected(r.error());
    removed.push_back(v.name);
  }
  return removed;
}

}  // namespace berth
