#include "linux/idmapped_mount.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "common/fs.hpp"

namespace berth::linux {

namespace {

// The process whose user namespace we map: killed and reaped on every path out.
class MappedChild {
 public:
  explicit MappedChild(pid_t pid) : pid_(pid) {}
  MappedChild(const MappedChild&) = delete;
  MappedChild& operator=(const MappedChild&) = delete;
  ~MappedChild() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }

 private:
  pid_t pid_;
};

std::string render(const std::vector<IdMapping>& map) {
  std::string out;
  for (auto& m : map) out += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
  return out;
}

Result<void> write_proc(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  // One write: the kernel takes a map file's whole content at once, or not at all.
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return std::unexpected(errno_error("write", path, errno));
  return {};
}

// In the child: enter a new user namespace, tell the parent our pid as /proc names it (the
// caller may be in a pid namespace of its own while /proc is still the host's), then wait for
// the parent to close `hold`. Allocates nothing.
[[noreturn]] void child_main(int ready_fd, int hold_fd) {
  if (::unshare(CLONE_NEWUSER) != 0) ::_exit(1);
  char pid[32];
  ssize_t n = ::readlink("/proc/self", pid, sizeof pid);
  if (n <= 0 || ::write(ready_fd, pid, static_cast<std::size_t>(n)) != n) ::_exit(1);
  ::close(ready_fd);
  char byte;
  while (::read(hold_fd, &byte, 1) < 0 && errno == EINTR) {
  }
  ::_exit(0);
}

}  // namespace

Result<UniqueFd> user_namespace_with(const std::vector<IdMapping>& uid_map, const std::vector<IdMapping>& gid_map) {
  int ready[2], hold[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "user namespace", errno));
  UniqueFd ready_r(ready[0]), ready_w(ready[1]);
  if (::pipe2(hold, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "user namespace", errno));
  UniqueFd hold_r(hold[0]), hold_w(hold[1]);
  pid_t pid = ::fork();
  if (pid < 0) return std::unexpected(errno_error("fork", "user namespace", errno));
  if (pid == 0) {
    ::close(ready[0]);
    ::close(hold[1]);
    child_main(ready[1], hold[0]);
  }
  MappedChild child(pid);
  ready_w.reset();
  hold_r.reset();
  std::string proc_pid;
  char buf[32];
  for (ssize_t n; (n = ::read(ready_r.get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("read", "user namespace pipe", errno));
    proc_pid.append(buf, static_cast<std::size_t>(n));
  }
  if (proc_pid.empty())
    return fail(ErrorCode::internal, "the process making a user namespace for an ID-mapped mount exited");
  std::string dir = "/proc/" + proc_pid;
  if (auto r = write_proc(dir + "/uid_map", render(uid_map)); !r) return std::unexpected(r.error());
  // setgroups is denied so that the gid map does not depend on our privilege; the namespace
  // only ever serves as a mapping and never runs a process that could call setgroups.
  if (auto r = write_proc(dir + "/setgroups", "deny"); !r) return std::unexpected(r.error());
  if (auto r = write_proc(dir + "/gid_map", render(gid_map)); !r) return std::unexpected(r.error());
  UniqueFd ns(::open((dir + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return std::unexpected(errno_error("open", dir + "/ns/user", errno));
  return ns;
}

Result<void> attach_idmapped_bind(const IdMappedBind& bind, int target_fd) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (bind.recursive_tree ? AT_RECURSIVE : 0);
  UniqueFd tree(::open_tree(AT_FDCWD, bind.source.c_str(), flags));
  if (!tree) return std::unexpected(errno_error("open_tree", bind.source, errno));
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<std::uint64_t>(bind.userns_fd);
  unsigned at = AT_EMPTY_PATH | (bind.recursive_map ? AT_RECURSIVE : 0);
  if (::mount_setattr(tree.get(), "", at, &attr, sizeof attr) != 0) {
    int err = errno;
    if (err == EINVAL)
      return fail(ErrorCode::invalid_spec,
                  fmt::format("cannot ID-map {}: its filesystem{} does not support ID-mapped mounts (mount_setattr: "
                              "Invalid argument)",
                              bind.source, bind.recursive_map ? ", or one mounted beneath it," : ""));
    return std::unexpected(errno_error("ID-map (mount_setattr)", bind.source, err));
  }
  if (::move_mount(tree.get(), "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return std::unexpected(errno_error("attach the ID-mapped mount of", bind.source, errno));
  return {};
}

}  // namespace berth::linux
