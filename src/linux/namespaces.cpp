#include "linux/namespaces.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "common/fs.hpp"

namespace berth::linux {

unsigned long clone_flags_for(const Namespaces& ns, const std::string& network) {
  unsigned long flags = 0;
  if (ns.pid) flags |= CLONE_NEWPID;
  if (ns.ipc) flags |= CLONE_NEWIPC;
  if (ns.uts) flags |= CLONE_NEWUTS;
  if (ns.mount) flags |= CLONE_NEWNS;
  // Its own network namespace, unless it shares the host's ("" for a process, or "host").
  if (ns.net || (!network.empty() && network != "host")) flags |= CLONE_NEWNET;
  return flags;
}

int bring_loopback_up() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  struct ifreq req;
  std::memset(&req, 0, sizeof req);
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  int err = 0;
  if (::ioctl(fd, SIOCGIFFLAGS, &req) != 0) {
    err = errno;
  } else {
    req.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(fd, SIOCSIFFLAGS, &req) != 0) err = errno;
  }
  ::close(fd);
  return err;
}

int setup_new_namespaces_in_child(unsigned long flags, const char* hostname,
                                  const char** stage) {
  if (flags & CLONE_NEWNS) {
    // Nothing we mount may propagate back to the host.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      *stage = "make mounts private";
      return errno;
    }
    if (flags & CLONE_NEWPID) {
      // ps and /proc/self must show the new pid namespace.
      if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        *stage = "mount /proc";
        return errno;
      }
    }
  }
  if (flags & CLONE_NEWNET) {
    if (int err = bring_loopback_up()) {
      *stage = "bring up loopback";
      return err;
    }
  }
  if ((flags & CLONE_NEWUTS) && hostname && hostname[0]) {
    if (::sethostname(hostname, std::strlen(hostname)) != 0) {
      *stage = "set hostname";
      return errno;
    }
  }
  return 0;
}

Result<std::vector<NamespaceFd>> open_namespaces_of(pid_t pid) {
  // setns order: everything else first, then mnt (it changes how /proc paths resolve for
  // nothing we still need, but keep it late), then pid (only affects children).
  // user last: a container's other namespaces belong to the host's user namespace (its init
  // enters its own user namespace last), so they are joined with the host's privileges first.
  static constexpr std::pair<const char*, int> kinds[] = {
      {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"cgroup", CLONE_NEWCGROUP},
      {"mnt", CLONE_NEWNS},  {"pid", CLONE_NEWPID}, {"user", CLONE_NEWUSER},
  };
  std::vector<NamespaceFd> out;
  for (auto [name, type] : kinds) {
    std::string theirs = fmt::format("/proc/{}/ns/{}", pid, name);
    std::string ours = fmt::format("/proc/self/ns/{}", name);
    struct stat a, b;
    if (::stat(theirs.c_str(), &a) != 0) return std::unexpected(errno_error("stat", theirs, errno));
    if (::stat(ours.c_str(), &b) != 0) return std::unexpected(errno_error("stat", ours, errno));
    if (a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue;
    UniqueFd fd(::open(theirs.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::unexpected(errno_error("open", theirs, errno));
    out.push_back({type, std::move(fd)});
  }
  return out;
}

}  // namespace berth::linux
