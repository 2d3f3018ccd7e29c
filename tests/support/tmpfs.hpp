// A small tmpfs of a test's own, to run out of space on for real (ENOSPC fault injection).
#pragma once

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace berth::testing {

class Tmpfs {
 public:
  // Mounts a tmpfs of `size` ("2m") on the existing directory `dir`; error() says why not.
  Tmpfs(std::string dir, const std::string& size) : dir_(std::move(dir)) {
    std::string options = "size=" + size;
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0)
      mounted_ = true;
    else
      error_ = "mount tmpfs on " + dir_ + ": " + std::strerror(errno);
  }
  // Lazily, so a process still using it cannot keep the mount.
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;

  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

  std::uint64_t free_bytes() const {
    struct statvfs st;
    if (::statvfs(dir_.c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  }

  // Writes <dir>/<name> until the filesystem is full; true when it ended with ENOSPC.
  bool fill_up(const std::string& name = "filler") const {
    int fd = ::open((dir_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    std::string block(4096, 'f');
    while (::write(fd, block.data(), block.size()) > 0) {
    }
    int error = errno;
    ::close(fd);
    return error == ENOSPC;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace berth::testing
