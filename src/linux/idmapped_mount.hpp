// ID-mapped bind mounts (OCI mounts[] "idmap"/"ridmap"): a clone of the source tree, detached,
// gets a user namespace's mappings with mount_setattr(MOUNT_ATTR_IDMAP) and is then attached
// at the target. Through the mount, a file whose owner on disk is X shows as the id the
// mappings give X (a line "X H 1" shows it as H), which is how a container in a user
// namespace sees files made by another id as its own without a chown of the source.
#pragma once

#include <string>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "common/fd.hpp"

namespace berth::linux {

// A user namespace with these mappings, held by an fd (the short-lived process that made it
// is gone on return). Needs CAP_SETUID/CAP_SETGID over the mapped host ids (the host's root).
Result<UniqueFd> user_namespace_with(const std::vector<IdMapping>& uid_map, const std::vector<IdMapping>& gid_map);

struct IdMappedBind {
  std::string source;          // host path
  bool recursive_tree = false;  // rbind: the submounts come along
  bool recursive_map = false;   // ridmap: the submounts are mapped too (else only the top)
  int userns_fd = -1;           // whose mappings the mount gets
};

// Clones `bind.source`, maps it and attaches it onto the object `target_fd` (an O_PATH fd
// resolved inside the rootfs) without any path lookup at the target. A filesystem that cannot
// be ID-mapped is an error that says so.
Result<void> attach_idmapped_bind(const IdMappedBind& bind, int target_fd);

}  // namespace berth::linux
