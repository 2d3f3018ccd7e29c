// Resolving guest paths beneath a directory descriptor, so that nothing outside it is reachable:
// not by "..", not by absolute paths, not by symlinks (those already there or made by the
// guest), not by /proc magic links.
//
// Two strategies give the same answers. openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
// lets the kernel enforce it (Linux 5.6+; an ENOSYS, e.g. from an older kernel or a seccomp
// filter, switches the process to the walk for good). The walk opens one component at a time
// with O_PATH | O_NOFOLLOW, keeps the directories it passed on a stack (so ".." pops the stack
// and never asks the kernel, and popping past the base is an escape), reads each symlink it
// meets, refuses absolute targets and splices relative ones into the remaining path, and gives
// up after 40 links (ELOOP). Escapes are Errno::perm.
#pragma once

#include <sys/types.h>

#include <expected>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "wasm/wasi/abi.hpp"

namespace berth::wasm::wasi {

enum class PathStrategy {
  automatic,  // openat2 where the kernel has it, else the walk
  walk,       // always the walk (tests force the fallback with this)
};

// A path resolved to (directory, last component). `name` is one component: no '/', never "..",
// "." when the path names the directory itself. With follow_final, `name` was not a symlink
// when resolved (its links were followed beneath the base), so callers use *at calls with
// AT_SYMLINK_NOFOLLOW / O_NOFOLLOW and a symlink swapped in afterwards fails instead of
// escaping.
struct ResolvedPath {
  UniqueFd dir;  // O_PATH directory
  std::string name;
  bool must_be_dir = false;  // the path ended in '/'
};

std::expected<ResolvedPath, Errno> resolve_beneath(int base, std::string_view path,
                                                   bool follow_final, PathStrategy strategy);

// openat(base, path, flags, mode) beneath `base`. O_CLOEXEC is always added; without
// follow_final a final symlink is not followed (ELOOP), as with O_NOFOLLOW.
std::expected<UniqueFd, Errno> open_beneath(int base, std::string_view path, int flags,
                                            mode_t mode, bool follow_final, PathStrategy strategy);

// Whether openat2 has worked so far in this process (false once it returned ENOSYS).
bool openat2_available();

}  // namespace berth::wasm::wasi
