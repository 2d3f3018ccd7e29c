#include "runtime/shim_launcher.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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
                          const std::string& id, std::chrono::milliseconds timeout,
                          bool create_only) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    return std::unexpected(errno_error("pipe", "shim report", errno));
  UniqueFd report_read(pipe_fds[0]), report_write(pipe_fds[1]);

  // posix_spawn (vfork-style: no copy of the caller's page tables, no copy-on-write faults in
  // the caller afterwards) in a new session, with stdio on /dev/null, the report pipe on fd 3 and
  // nothing else open. The shim then forks once and its first process exits at once (reaped
  // here), so the shim is nobody's child and outlives the caller.
  std::vector<std::string> argv_strings{shim_path, "--root", root, "--id", id,
                                        "--mode", create_only ? "create" : "start", "--detach"};
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_adddup2(&actions, report_write.get(), shim_protocol::report_fd);
  posix_spawn_file_actions_addclosefrom_np(&actions, shim_protocol::report_fd + 1);
  posix_spawn_file_actions_addchdir_np(&actions, "/");
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t first = -1;
  int rc = ::posix_spawn(&first, shim_path.c_str(), &actions, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return std::unexpected(errno_error("spawn", shim_path, rc));
  report_write.reset();
  int status = 0;
  while (::waitpid(first, &status, 0) < 0 && errno == EINTR) {
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
