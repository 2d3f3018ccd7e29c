// berth-oci tests run the real binary on real bundles: a rootfs made at test time from
// Debian's busybox-static (every applet linked to it, /etc/passwd and /etc/group with a user
// 1000), and a config.json from `berth-oci spec` that each test edits. Each test has its own
// --root; teardown deletes whatever is left and checks no state directory or cgroup remains.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/unix_socket.hpp"
#include "support/shell.hpp"

namespace berth::testing {

struct Ran {
  int code = -1;
  std::string out, err;
};

// Runs `argv` with stdin from /dev/null, stdout and stderr into files (not pipes: a created
// container's init keeps the stdio it was given, so a pipe would not see EOF until it ends).
class Program {
 public:
  explicit Program(const std::vector<std::string>& args) {
    char tmpl[] = "/tmp/berth-oci-out-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::vector<std::string> full = args;
    std::vector<char*> argv;
    for (auto& a : full) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, (dir_ + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, (dir_ + "/err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  pid_t pid() const { return pid_; }
  Ran finish() {
    Ran r;
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_)
      r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(dir_ + "/out").value_or("");
    r.err = read_file(dir_ + "/err").value_or("");
    (void)remove_tree(dir_);
    return r;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
};

inline Ran run_program(const std::vector<std::string>& args) { return Program(args).finish(); }

class OciTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/berth-oci-rootfs-XXXXXX";
    rootfs_parent_ = ::mkdtemp(tmpl);
    std::string rootfs = rootfs_parent_ + "/rootfs";
    auto out = shell(
        "set -e; r=" + rootfs + "; mkdir -p $r/bin $r/proc $r/sys $r/dev $r/etc $r/tmp $r/root $r/home/berth; "
        "chmod 1777 $r/tmp; cp /bin/busybox $r/bin/busybox; "
        "for a in $(/bin/busybox --list-full); do [ $a = bin/busybox ] && continue; mkdir -p $r/$(dirname $a); "
        "ln -sf /bin/busybox $r/$a; done; "
        "printf 'root:x:0:0:root:/root:/bin/sh\\nberth:x:1000:1000::/home/berth:/bin/sh\\n' > $r/etc/passwd; "
        "printf 'root:x:0:\\nwheel:x:10:\\nberth:x:1000:\\n' > $r/etc/group; echo ok 2>&1");
    ASSERT_TRUE(path_exists(rootfs + "/bin/sh")) << out;
  }
  static void TearDownTestSuite() { (void)remove_tree(rootfs_parent_); }

 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-oci-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    root_ = dir_ + "/state";
    bundle_ = dir_ + "/bundle";
    ASSERT_TRUE(make_dirs(bundle_));
    auto spec = oci({"spec", "--bundle", bundle_});
    ASSERT_EQ(spec.code, 0) << spec.err;
    auto text = read_file(bundle_ + "/config.json");
    ASSERT_TRUE(text);
    config_ = nlohmann::json::parse(*text);
    config_["process"]["terminal"] = false;
    config_["root"]["path"] = rootfs_parent_ + "/rootfs";
    // The shared rootfs stays untouched: tests that write get a tmpfs.
    config_["root"]["readonly"] = true;
  }

  void TearDown() override {
    for (auto& id : ids_) oci({"delete", "--force", id});
    for (auto& id : ids_) {
      EXPECT_FALSE(path_exists(root_ + "/" + id)) << id << "'s state directory is left";
      for (auto base : {"/sys/fs/cgroup/memory/berth-oci/", "/sys/fs/cgroup/pids/berth-oci/", "/sys/fs/cgroup/berth-oci/"})
        EXPECT_FALSE(path_exists(base + id)) << id << "'s cgroup is left under " << base;
    }
    (void)remove_tree(dir_);
  }

  Ran oci(std::vector<std::string> args) {
    std::vector<std::string> full{BERTH_OCI_PATH, "--root", root_};
    full.insert(full.end(), args.begin(), args.end());
    return run_program(full);
  }

  void write_config() { ASSERT_TRUE(write_file(bundle_ + "/config.json", config_.dump(2))); }
  void set_args(std::vector<std::string> args) { config_["process"]["args"] = std::move(args); }

  // create with this config; remembered for teardown.
  Ran create(const std::string& id, std::vector<std::string> extra = {}) {
    write_config();
    ids_.push_back(id);
    std::vector<std::string> args{"create", "--bundle", bundle_};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(id);
    return oci(args);
  }

  Ran run(const std::string& id) {
    write_config();
    ids_.push_back(id);
    return oci({"run", "--bundle", bundle_, id});
  }

  nlohmann::json state(const std::string& id) {
    auto r = oci({"state", id});
    if (r.code != 0) return nullptr;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  std::string status(const std::string& id) {
    auto s = state(id);
    return s.is_object() ? s.value("status", "") : "(none)";
  }

  static inline std::string rootfs_parent_;
  std::string dir_, root_, bundle_;
  nlohmann::json config_;
  std::vector<std::string> ids_;
};

// Whether `pid` is a live (not zombie) process named `name`. delete returns once a container's
// init is dead; the subreaper (tini here) reaps it when it gets to it, and a zombie's comm still
// says what it ran.
inline bool alive_and_named(int pid, const std::string& name) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat").value_or("");
  auto close = stat.rfind(')');
  return close != std::string::npos && stat.find("(" + name + ")") != std::string::npos &&
         stat.substr(close + 2, 1) != "Z";
}

// A listening Unix socket at `path`: what an engine passes as --console-socket.
inline UniqueFd listen_console_socket(const std::string& path) {
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener.get(), 1) != 0)
    return UniqueFd();
  return listener;
}

// The pty master the runtime sends on a console socket (one connection, SCM_RIGHTS).
inline Result<UniqueFd> accept_pty(int listener) {
  UniqueFd client(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!client) return std::unexpected(errno_error("accept", "console socket", errno));
  auto master = linux::receive_fd(client.get(), "pty");
  if (!master) return std::unexpected(master.error());
  return UniqueFd(*master);
}

// What a pty master gives until `marker` (up to about 10 s, or until it closes).
inline std::string read_pty_until(int pty, const std::string& marker) {
  std::string out;
  for (int i = 0; i < 100 && out.find(marker) == std::string::npos; ++i) {
    pollfd p{pty, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = ::read(pty, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// ... until its first newline.
inline std::string read_pty_line(int pty) { return read_pty_until(pty, "\n"); }

}  // namespace berth::testing
