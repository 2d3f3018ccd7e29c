// Whether this kernel can ID-map a mount of the filesystem at a path (tests/support/
// host_features.hpp's other checks need no berth code; this one uses linux/'s own user
// namespace helper). ext4 and xfs take ID-mapped mounts from 5.12, tmpfs only from 6.3: Debian
// 12's own kernel (6.1) cannot map a tmpfs.
#pragma once

#include <fcntl.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/fd.hpp"
#include "linux/idmapped_mount.hpp"
#include "support/host_features.hpp"

namespace berth::testing {

inline MissingFeature missing_idmapped_mounts(const std::string& path) {
  auto userns = linux::user_namespace_with({{0, 1000, 1}}, {{0, 1000, 1}});
  if (!userns) return "cannot make a user namespace here: " + userns.error().message;
  UniqueFd tree(::open_tree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (!tree) return std::string("no open_tree on this kernel: ") + std::strerror(errno);
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<std::uint64_t>(userns->get());
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
    return "this kernel cannot ID-map the filesystem of " + path + " (mount_setattr: " + std::strerror(errno) + ")";
  return {};
}

}  // namespace berth::testing
