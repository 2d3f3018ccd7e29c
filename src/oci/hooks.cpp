#include "oci/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/namespaces.hpp"

extern char** environ;

namespace berth::oci {

using nlohmann::json;

namespace {

constexpr HookKind all_kinds[] = {HookKind::prestart,        HookKind::create_runtime, HookKind::create_container,
                                  HookKind::start_container, HookKind::poststart,      HookKind::poststop};

std::unexpected<Error> bad(const std::string& where, const std::string& what) {
  return fail(ErrorCode::invalid_spec, fmt::format("{}: {}", where, what));
}

// How much of a failing hook's output goes into the error.
constexpr std::size_t output_kept = 2048;

}  // namespace

const char* hook_kind_name(HookKind kind) {
  switch (kind) {
    case HookKind::prestart: return "prestart";
    case HookKind::create_runtime: return "createRuntime";
    case HookKind::create_container: return "createContainer";
    case HookKind::start_container: return "startContainer";
    case HookKind::poststart: return "poststart";
    case HookKind::poststop: return "poststop";
  }
  return "?";
}

const std::vector<Hook>& Hooks::of(HookKind kind) const {
  switch (kind) {
    case HookKind::prestart: return prestart;
    case HookKind::create_runtime: return create_runtime;
    case HookKind::create_container: return create_container;
    case HookKind::start_container: return start_container;
    case HookKind::poststart: return poststart;
    case HookKind::poststop: return poststop;
  }
  return prestart;
}

std::vector<Hook>& Hooks::of(HookKind kind) { return const_cast<std::vector<Hook>&>(std::as_const(*this).of(kind)); }

bool Hooks::empty() const {
  for (auto kind : all_kinds)
    if (!of(kind).empty()) return false;
  return true;
}

Result<Hooks> parse_hooks(const std::string& hooks_text) {
  json hooks = json::parse(hooks_text, nullptr, false);
  Hooks out;
  if (hooks.is_null() || (hooks.is_array() && hooks.empty())) return out;  // runc spec writes []
  if (hooks.is_discarded() || !hooks.is_object()) return bad("hooks", "must be an object");
  for (auto& [key, list] : hooks.items()) {
    auto kind = std::find_if(std::begin(all_kinds), std::end(all_kinds),
                             [&](HookKind k) { return key == hook_kind_name(k); });
    if (kind == std::end(all_kinds)) return bad("hooks." + key, "is not a kind of hook (prestart, createRuntime, createContainer, startContainer, poststart, poststop)");
    if (list.is_null()) continue;
    if (!list.is_array()) return bad("hooks." + key, "must be an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string where = fmt::format("hooks.{}[{}]", key, i);
      const json& entry = list[i];
      if (!entry.is_object()) return bad(where, "must be an object");
      for (auto& [field, value] : entry.items())
        if (field != "path" && field != "args" && field != "env" && field != "timeout")
          return bad(where + "." + field, "is not a field of a hook (path, args, env, timeout)");
      Hook hook;
      try {
        if (!entry.contains("path") || entry["path"].is_null()) return bad(where + ".path", "is required");
        hook.path = entry["path"].get<std::string>();
        if (entry.contains("args") && !entry["args"].is_null()) hook.args = entry["args"].get<std::vector<std::string>>();
        if (entry.contains("env") && !entry["env"].is_null()) hook.env = entry["env"].get<std::vector<std::string>>();
        if (entry.contains("timeout") && !entry["timeout"].is_null()) {
          if (!entry["timeout"].is_number_integer()) return bad(where + ".timeout", "must be a whole number of seconds");
          auto t = entry["timeout"].get<long long>();
          if (t <= 0) return bad(where + ".timeout", fmt::format("must be greater than zero, not {}", t));
          if (t > 24 * 3600) return bad(where + ".timeout", fmt::format("{} seconds is more than a day", t));
          hook.timeout = static_cast<int>(t);
        }
      } catch (const json::exception&) {
        return bad(where, "has a field of the wrong type (path: string, args and env: arrays of strings, timeout: integer)");
      }
      if (hook.path.empty() || hook.path[0] != '/')
        return bad(where + ".path", fmt::format("\"{}\" is not an absolute path", hook.path));
      for (auto& e : hook.env.value_or(std::vector<std::string>{}))
        if (e.find('=') == std::string::npos) return bad(where + ".env", fmt::format("\"{}\" is not KEY=VALUE", e));
      // startContainer's path resolves in the container, which does not exist yet.
      if (*kind != HookKind::start_container) {
        struct stat st;
        if (::stat(hook.path.c_str(), &st) != 0) return bad(where + ".path", fmt::format("{}: {}", hook.path, std::strerror(errno)));
        if (!S_ISREG(st.st_mode)) return bad(where + ".path", fmt::format("{} is not a regular file", hook.path));
      }
      out.of(*kind).push_back(std::move(hook));
    }
  }
  return out;
}

std::string hooks_json(const Hooks& hooks) {
  json out = json::object();
  for (auto kind : all_kinds) {
    if (hooks.of(kind).empty()) continue;
    json list = json::array();
    for (auto& h : hooks.of(kind)) {
      json entry = {{"path", h.path}};
      if (!h.args.empty()) entry["args"] = h.args;
      if (h.env) entry["env"] = *h.env;
      if (h.timeout) entry["timeout"] = *h.timeout;
      list.push_back(std::move(entry));
    }
    out[hook_kind_name(kind)] = std::move(list);
  }
  return out.dump();
}

Result<void> save_hooks(const std::string& state_dir, const Hooks& hooks) {
  if (hooks.empty()) return {};
  return write_file_atomic(state_dir + "/hooks.json", hooks_json(hooks));
}

Result<Hooks> load_hooks(const std::string& state_dir) {
  auto text = read_file(state_dir + "/hooks.json");
  if (!text) {
    if (text.error().code == ErrorCode::not_found) return Hooks{};
    return std::unexpected(text.error());
  }
  return parse_hooks(*text);
}

namespace {

struct HookPipes {
  UniqueFd stdin_read, stdin_write, output_read, output_write;
};

[[noreturn]] void child_fail(int fd, const char* what, int err) {
  std::string text = fmt::format("{}: {}", what, std::strerror(err));
  (void)!::write(fd, text.data(), text.size());
  ::_exit(127);
}

// The hook's child: its stdio, its namespaces, then exec. `output` gets the reason on failure.
[[noreturn]] void run_hook_child(const Hook& hook, HookKind kind, HookPipes& pipes,
                                 std::vector<linux::NamespaceFd>* namespaces) {
  int out = pipes.output_write.get();
  // The runtime's ends: an intermediate that stays (pid namespace) must not hold stdin open.
  pipes.stdin_write.reset();
  pipes.output_read.reset();
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::setpgid(0, 0);  // its own group: a timeout kills whatever it started too
  if (::dup2(pipes.stdin_read.get(), 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) child_fail(out, "stdio", errno);
  // createContainer: the path resolves in the runtime's namespaces; opened here, before setns,
  // and not close-on-exec so that a script's interpreter can open it as /dev/fd/N.
  int program = -1;
  if (kind == HookKind::create_container && namespaces) {
    program = ::open(hook.path.c_str(), O_PATH);
    if (program < 0) child_fail(2, hook.path.c_str(), errno);
  }
  bool joined_pid = false;
  if (namespaces) {
    for (auto& ns : *namespaces) {
      if (::setns(ns.fd.get(), ns.type) != 0) child_fail(2, "join the container's namespaces", errno);
      if (ns.type == CLONE_NEWPID) joined_pid = true;
    }
    if (::chdir("/") != 0) child_fail(2, "chdir /", errno);
  }
  if (joined_pid) {
    // setns(pid) applies to children: the hook runs in one, dying with this process.
    pid_t inner = ::fork();
    if (inner < 0) child_fail(2, "fork", errno);
    if (inner > 0) {
      int status = 0;
      while (::waitpid(inner, &status, 0) < 0 && errno == EINTR) {
      }
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  }
  std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = hook.env.value_or(std::vector<std::string>{});
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  char** env = hook.env ? envp.data() : environ;
  if (program >= 0) ::syscall(SYS_execveat, program, "", argv.data(), env, AT_EMPTY_PATH);
  else ::execve(hook.path.c_str(), argv.data(), env);
  child_fail(2, hook.path.c_str(), errno);
}

Result<void> run_hook(const Hook& hook, HookKind kind, std::size_t index, const std::string& state, pid_t container_pid) {
  std::string name = fmt::format("hook {}[{}] {}", hook_kind_name(kind), index, hook.path);
  std::optional<std::vector<linux::NamespaceFd>> namespaces;
  if (container_pid > 0 && (kind == HookKind::create_container || kind == HookKind::start_container)) {
    auto opened = linux::open_namespaces_of(container_pid);
    if (!opened) return std::unexpected(opened.error().with_context(name));
    namespaces = std::move(*opened);
  }
  HookPipes pipes;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", name, errno));
  pipes.stdin_read.reset(fds[0]);
  pipes.stdin_write.reset(fds[1]);
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", name, errno));
  pipes.output_read.reset(fds[0]);
  pipes.output_write.reset(fds[1]);

  pid_t child = ::fork();
  if (child < 0) return std::unexpected(errno_error("fork", name, errno));
  if (child == 0) run_hook_child(hook, kind, pipes, namespaces ? &*namespaces : nullptr);
  ::setpgid(child, child);  // also here, so that a kill of the group cannot miss it
  pipes.stdin_read.reset();
  pipes.output_write.reset();
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
  auto kill_group = [&] {
    ::kill(-child, SIGKILL);
    ::kill(child, SIGKILL);
  };
  if (!pidfd) {
    int err = errno;
    kill_group();
    ::waitpid(child, nullptr, 0);
    return std::unexpected(errno_error("pidfd_open", name, err));
  }
  ::fcntl(pipes.stdin_write.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(pipes.output_read.get(), F_SETFL, O_NONBLOCK);
  // A hook that exits without reading its stdin must not kill us with SIGPIPE.
  struct sigaction ignore{}, old_pipe{};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ignore, &old_pipe);

  using clock = std::chrono::steady_clock;
  auto deadline = hook.timeout ? std::optional(clock::now() + std::chrono::seconds(*hook.timeout)) : std::nullopt;
  std::size_t written = 0;
  std::string output;
  bool exited = false, timed_out = false;
  while (!exited) {
    pollfd p[3] = {{pidfd.get(), POLLIN, 0},
                   {pipes.output_read ? pipes.output_read.get() : -1, POLLIN, 0},
                   {pipes.stdin_write ? pipes.stdin_write.get() : -1, POLLOUT, 0}};
    int wait_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock::now()).count();
      if (left <= 0) {
        timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left);
    }
    if (::poll(p, 3, wait_ms) < 0 && errno != EINTR) break;
    if (p[2].revents) {
      ssize_t n = ::write(pipes.stdin_write.get(), state.data() + written, state.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == state.size()) pipes.stdin_write.reset();
    }
    if (p[1].revents) {
      char buf[4096];
      ssize_t n = ::read(pipes.output_read.get(), buf, sizeof buf);
      if (n > 0 && output.size() < output_kept) output.append(buf, static_cast<std::size_t>(n));
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) pipes.output_read.reset();
    }
    if (p[0].revents) exited = true;
  }
  pipes.stdin_write.reset();
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  if (!exited) kill_group();
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  // What it printed just before exiting (not blocking: a child it left may hold the pipe).
  if (pipes.output_read) {
    char buf[4096];
    ssize_t n;
    while (output.size() < output_kept && (n = ::read(pipes.output_read.get(), buf, sizeof buf)) > 0)
      output.append(buf, static_cast<std::size_t>(n));
  }
  if (output.size() > output_kept) output.resize(output_kept);
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  std::string said = output.empty() ? "" : fmt::format(": {}", output);
  if (timed_out) {
    ::kill(-child, SIGKILL);  // whatever it left in its group
    return fail(ErrorCode::timeout, fmt::format("{}: timed out after {} s (killed){}", name, *hook.timeout, said));
  }
  if (WIFSIGNALED(status))
    return fail(ErrorCode::internal, fmt::format("{}: killed by signal {}{}", name, WTERMSIG(status), said));
  if (WEXITSTATUS(status) != 0)
    return fail(ErrorCode::internal, fmt::format("{}: exited with status {}{}", name, WEXITSTATUS(status), said));
  return {};
}

}  // namespace

Result<void> run_hooks(const Hooks& hooks, HookKind kind, const std::string& state, pid_t container_pid) {
  auto& list = hooks.of(kind);
  for (std::size_t i = 0; i < list.size(); ++i)
    if (auto r = run_hook(list[i], kind, i, state, container_pid); !r) return r;
  return {};
}

std::vector<Error> run_every_hook(const Hooks& hooks, HookKind kind, const std::string& state) {
  std::vector<Error> failures;
  auto& list = hooks.of(kind);
  for (std::size_t i = 0; i < list.size(); ++i)
    if (auto r = run_hook(list[i], kind, i, state, 0); !r) failures.push_back(r.error());
  return failures;
}

}  // namespace berth::oci
