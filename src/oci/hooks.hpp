// OCI hooks (runtime-spec config.md "POSIX-platform Hooks", runtime.md "Lifecycle"): programs
// the runtime runs at points of a container's life, each with the container's state JSON on its
// stdin. Where berth-oci runs each kind (the order runc uses):
//   prestart, createRuntime  create, once the init has made its namespaces and mounts and waits
//                            before pivot_root; in the runtime's namespaces.
//   createContainer          right after them, still before pivot_root; the path is opened in the
//                            runtime's namespaces, the program runs in the container's (joined
//                            with setns from the runtime, where runc runs them inside its init).
//   startContainer           start, before the go byte lets the init exec; path resolved and
//                            program run in the container's namespaces (setns, root of its
//                            mount namespace).
//   poststart                start, after the go byte; failure is a warning.
//   poststop                 delete, once the container's processes, cgroup and state are gone;
//                            failure is a warning.
// A hook fails when it exits non-zero, is killed, or outlives its timeout (it and its process
// group are then killed); the error names kind, index, path and what happened, with the start of
// what it printed.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "berth/error.hpp"

namespace berth::oci {

enum class HookKind { prestart, create_runtime, create_container, start_container, poststart, poststop };
// The config.json name: "prestart", "createRuntime", ...
const char* hook_kind_name(HookKind kind);

struct Hook {
  std::string path;                              // absolute
  std::vector<std::string> args;                 // argv, argv[0] included; empty: {path}
  std::optional<std::vector<std::string>> env;   // absent: the runtime's environment (as runc)
  std::optional<int> timeout;                    // seconds, > 0
};

struct Hooks {
  std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart, poststop;
  const std::vector<Hook>& of(HookKind kind) const;
  std::vector<Hook>& of(HookKind kind);
  bool empty() const;
};

// config.json's "hooks" object (JSON text). Checks every entry: path present, absolute and (for
// the kinds whose path resolves in the runtime's namespaces) existing; timeout > 0. invalid_spec
// names the entry ("hooks.createRuntime[1].timeout: ...").
Result<Hooks> parse_hooks(const std::string& hooks_json);
// Back to config.json's form (kept in the state directory for start and delete).
std::string hooks_json(const Hooks& hooks);

// Where the hooks of a created container are kept (ROOT/ID/hooks.json); missing: none.
Result<void> save_hooks(const std::string& state_dir, const Hooks& hooks);
Result<Hooks> load_hooks(const std::string& state_dir);

// Runs the hooks of `kind` in order, each with `state` on stdin; stops at the first failure.
// `container_pid` > 0: createContainer and startContainer run in that process's namespaces.
Result<void> run_hooks(const Hooks& hooks, HookKind kind, const std::string& state, pid_t container_pid = 0);
// poststart and poststop: every hook runs, whatever the ones before did ("the remaining hooks
// and lifecycle continue"); the failures are returned, for warnings.
std::vector<Error> run_every_hook(const Hooks& hooks, HookKind kind, const std::string& state);

}  // namespace berth::oci
