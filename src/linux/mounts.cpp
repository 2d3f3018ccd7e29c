#include "linux/mounts.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "common/fs.hpp"

namespace berth::linux {

int open_in_root(int root_fd, const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::size_t skip = path.find_first_not_of('/');
  std::string relative = skip == std::string::npos ? std::string(".") : path.substr(skip);
  for (;;) {
    long fd = ::syscall(SYS_openat2, root_fd, relative.c_str(), &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != EAGAIN && errno != EINTR) return -errno;  // EAGAIN: a rename raced, retry
  }
}

std::string fd_path(int fd) { return fmt::format("/proc/self/fd/{}", fd); }

Result<UniqueFd> make_in_root(int root_fd, const std::string& path, bool file) {
  int fd = open_in_root(root_fd, path);
  if (fd >= 0) return UniqueFd(fd);
  if (fd != -ENOENT) return std::unexpected(errno_error("open", path, -fd));
  // Walk down from the root, creating what is missing, each step resolved in the root again.
  std::string prefix;
  std::size_t pos = 0;
  UniqueFd parent(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!parent) return std::unexpected(errno_error("dup", path, errno));
  while (pos < path.size()) {
    while (pos < path.size() && path[pos] == '/') ++pos;
    if (pos >= path.size()) break;
    auto next = path.find('/', pos);
    std::string name = path.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    pos = next == std::string::npos ? path.size() : next;
    prefix.push_back('/');
    prefix.append(name);
    if (name == "..")
      return fail(ErrorCode::invalid_spec, fmt::format("{}: must not contain \"..\"", path));
    int child = open_in_root(root_fd, prefix);
    if (child == -ENOENT) {
      bool last = pos >= path.size();
      if (last && file) {
        int made = ::openat(parent.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (made < 0 && errno != EEXIST) return std::unexpected(errno_error("create", prefix, errno));
        if (made >= 0) ::close(made);
      } else if (::mkdirat(parent.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
        return std::unexpected(errno_error("mkdir", prefix, errno));
      }
      child = open_in_root(root_fd, prefix);
    }
    if (child < 0) return std::unexpected(errno_error("open", prefix, -child));
    parent.reset(child);
  }
  return parent;
}

Result<void> mount_onto(const char* source, int target_fd, const char* fstype, unsigned long flags,
                        const char* data, const std::string& what) {
  auto target = fd_path(target_fd);
  if (::mount(source, target.c_str(), fstype, flags, data) != 0)
    return std::unexpected(errno_error("mount", what, errno));
  return {};
}

Result<void> remount_bind(int target_fd, unsigned long flags, const std::string& what) {
  // A bind remount must repeat the locked flags of the mount it changes, or the kernel says EPERM.
  struct statvfs sv;
  unsigned long keep = 0;
  if (::fstatvfs(target_fd, &sv) == 0) {
    if (sv.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) keep |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) keep |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) keep |= MS_RELATIME;
    if (sv.f_flag & ST_RDONLY) keep |= MS_RDONLY;
  }
  auto target = fd_path(target_fd);
  if (::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | keep | flags, nullptr) != 0)
    return std::unexpected(errno_error("remount", what, errno));
  return {};
}

std::vector<std::string> mount_points(const std::string& mountinfo) {
  std::vector<std::string> out;
  auto text = read_file(mountinfo);
  if (!text) return out;
  std::size_t start = 0;
  for (std::size_t end; (end = text->find('\n', start)) != std::string::npos; start = end + 1) {
    std::string_view line(text->data() + start, end - start);
    // id parent major:minor root mount-point ...
    std::size_t at = 0;
    for (int field = 0; field < 4 && at != std::string_view::npos; ++field) at = line.find(' ', at + 1);
    if (at == std::string_view::npos) continue;
    auto stop = line.find(' ', at + 1);
    std::string_view raw = line.substr(at + 1, stop - at - 1);
    std::string point;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 3 < raw.size()) {  // \040 and friends: octal
        point += static_cast<char>((raw[i + 1] - '0') * 64 + (raw[i + 2] - '0') * 8 + (raw[i + 3] - '0'));
        i += 3;
      } else {
        point += raw[i];
      }
    }
    out.push_back(std::move(point));
  }
  return out;
}

}  // namespace berth::linux
