#include "runtime/shim_launcher.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/process.hpp"
#include "runtime/shim_protocol.hpp"

namespace berth {

Result<std::string> find_shim(const std::string& configured) {
  if (!configured.empty()) {
    if (::access(configured.c_str(), X_OK) == 0) return configured;
    return fail(ErrorCode::not_found, fmt::format("shim {}: not an executable file", configured));
  }
  if (const char* env = std::getenv("BERTH_SHIM"); env && *env) {
    if (::access(env, X_OK) == 0) return std::string(env);
    return fail(ErrorCode::not_found, fmt::format("BERTH_SHIM {}: not an executable file", env));
  }
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<std::size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    for (auto candidate : {dir + "/berth-shim", dir + "/../berth-shim"})
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  for (const char* candidate : {BERTH_BUILD_SHIM_PATH, BERTH_INSTALL_SHIM_PATH})
    if (::access(candidate, X_OK) == 0) return std::string(candidate);
  return fail(ErrorCode::not_found,
              "berth-shim not found (set BERTH_SHIM or install it beside berth)");
}

Result<pid_t> launch_shim(const std::string& shim_path, const std::string& root,
                          const std::string& id, std::chrono::milliseconds timeout) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    return std::unexpected(errno_error("pipe", "shim report", errno));
  UniqueFd report_read(pipe_fds[0]), report_write(pipe_fds[1]);

  // Everything the children need is built before fork: the caller may be multi-threaded.
  linux::ExecArgs args({shim_path, "--root", root, "--id", id}, {});

  pid_t middle = ::fork();
  if (middle < 0) return std::unexpected(errno_error("fork", "shim", errno));
  if (middle == 0) {
    ::setsid();
    pid_t shim = ::fork();
    if (shim != 0) ::_exit(shim < 0 ? 1 : 0);
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    if (::dup2(report_write.get(), shim_protocol::report_fd) < 0) ::_exit(127);
    linux::mark_fds_cloexec_from(shim_protocol::report_fd + 1);
    ::chdir("/");
    ::execve(args.file(), args.argv(), args.envp());
    const char msg[] = "error internal cannot execute the shim\n";
    linux::write_all_noalloc(shim_protocol::report_fd, msg, sizeof msg - 1);
    ::_exit(127);
  }
  report_write.reset();
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }

  std::string line;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return fail(ErrorCode::timeout,
                  fmt::format("shim for {} did not report within {} ms", id, timeout.count()));
    pollfd pfd{report_read.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return std::unexpected(errno_error("poll", "shim report", errno));
    if (r == 0) continue;
    char buf[1024];
    ssize_t n = ::read(report_read.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("read", "shim report", errno));
    if (n == 0) break;
    line.append(buf, static_cast<std::size_t>(n));
    if (line.find('\n') != std::string::npos) break;
  }
  return shim_protocol::decode(line);
}

}  // namespace berth
