// berth-oci's Wasm handler: a container whose annotations ask for it runs process.args[0] as a
// WASI command module on berth's own engine, inside the container's namespaces, cgroup,
// capabilities and seccomp filter, as crun does with its external engines (run.oci.handler).
//
// How, and why this way: the module is read from the container's root and compiled at create,
// on the host, into the AOT cache under berth-oci's --root (wasm/aot/artifact.hpp's cache,
// keyed by the module's hash), so start never waits for a C compiler and a second container
// with the same module reuses the artifact. No runner binary is exec'd: a host binary (even a
// memfd copy of berth-wasm) would need the host's dynamic loader and libraries inside a rootfs
// that may hold nothing but the .wasm file. The container's init is berth-oci's own code, so
// it runs the engine itself (ContainerLaunchPlan::in_process): before its root is set up it
// loads the compiled shared object (dlopen of a memfd, through the host's /proc, with the
// host's libc already mapped), and after start, with the container's user, capabilities and
// seccomp filter in force, it runs the module with argv = process.args, env = the process's
// environment, stdio = the container's, and "/" (the container's root, after pivot_root)
// preopened as "/". The init stays non-dumpable throughout (no exec resets it), so the
// container's other processes cannot read its memory through /proc.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "runtime/container_launch.hpp"

namespace berth::oci {

// Whether the annotations hand `args[0]` to the Wasm engine:
//   run.oci.handler=wasm, or wasm-smart when args[0] ends in .wasm or .wat;
//   module.wasm.image/variant=compat, or compat-smart with the same rule.
// Another run.oci.handler value is an error naming it (berth-oci has no other handler).
Result<bool> wants_wasm_handler(const std::map<std::string, std::string>& annotations,
                                const std::vector<std::string>& args);

// Reads plan.args[0] (relative to plan.working_dir when not absolute) from the container's
// root (plan.rootfs.rootfs, resolved inside it: a module in a mount is not seen), checks it is
// a WASI command, compiles it into `cache_dir` unless it is there already, and sets
// plan.in_process to run it. Errors name process.args[0].
Result<void> use_wasm_handler(ContainerLaunchPlan& plan, const std::string& cache_dir);

}  // namespace berth::oci
