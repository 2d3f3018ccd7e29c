// Mounting into a container's root without trusting the image: every path inside the rootfs is
// resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the image ("etc -> /etc", "x -> ../..")
// resolves inside the rootfs, never on the host. Mounts then go onto /proc/self/fd/N of the
// resolved O_PATH fd, the way runc mounts onto checked targets.
#pragma once

#include <fcntl.h>

#include <string>
#include <vector>

#include "berth/error.hpp"
#include "common/fd.hpp"

namespace berth::linux {

// Resolves `path` (as seen inside the container) beneath `root_fd`. O_PATH unless flags say
// otherwise. -errno on failure.
int open_in_root(int root_fd, const std::string& path, int flags = O_PATH);

// Resolves `path` beneath `root_fd`, creating missing directories (0755) on the way and, when
// `file` is set, the last component as an empty regular file. Returns an O_PATH fd.
Result<UniqueFd> make_in_root(int root_fd, const std::string& path, bool file);

// "/proc/self/fd/N": the magic link the kernel follows to the fd's object.
std::string fd_path(int fd);

// mount(2) onto the object `target_fd` refers to; `what` names it in errors.
Result<void> mount_onto(const char* source, int target_fd, const char* fstype, unsigned long flags,
                        const char* data, const std::string& what);

// Remounts the bind mount at `target_fd` with `flags` added (MS_RDONLY, MS_NOSUID, ...),
// keeping the flags it has that unprivileged remounts must keep (nodev, noexec, atime).
Result<void> remount_bind(int target_fd, unsigned long flags, const std::string& what);

// The mount points in `mountinfo` (a /proc/PID/mountinfo path), in mount order, with the
// kernel's octal escapes (\040 for a space) undone; empty when it cannot be read.
std::vector<std::string> mount_points(const std::string& mountinfo);

}  // namespace berth::linux
