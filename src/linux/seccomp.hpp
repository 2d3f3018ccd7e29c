// Seccomp filters from OCI profiles (runtime-spec config-linux.md "seccomp", plus Docker's
// per-rule "includes"/"excludes" by capability), compiled with libseccomp into a BPF program
// before clone, and installed in the child last before exec.
#pragma once

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"
#include "linux/capabilities.hpp"

namespace berth::linux {

struct SeccompProgram {
  std::vector<sock_filter> instructions;
  unsigned flags = 0;  // SECCOMP_FILTER_FLAG_* from the profile's "flags"
};

// `json` is the profile; `caps` the container's capabilities (for includes/excludes); `source`
// names it in errors ("default profile" or the file). Syscall names this kernel or arch does not
// have are skipped (as runc does); a malformed profile, unknown action, operator, architecture or
// flag is an invalid_spec error naming the JSON location, e.g. "syscalls[3].action".
Result<SeccompProgram> compile_seccomp_profile(std::string_view json, CapabilityMask caps,
                                               std::string_view source);

// berth's own default profile (src/linux/seccomp_default_profile.json, built in), for `caps`.
std::string_view default_seccomp_profile_json();
Result<SeccompProgram> default_seccomp_program(CapabilityMask caps);

// Compiling a full profile costs about a millisecond; starts reuse the result from `cache_dir`
// (a file per profile text and capability mask), written atomically on first use.
Result<SeccompProgram> cached_seccomp_program(std::string_view json, CapabilityMask caps,
                                              std::string_view source, const std::string& cache_dir);

// In the child, after no_new_privs: seccomp(SECCOMP_SET_MODE_FILTER). No allocation; 0 or errno.
// A program with SECCOMP_FILTER_FLAG_NEW_LISTENER (one using SCMP_ACT_NOTIFY) yields a listener
// fd: stored in `*listener`, or closed when `listener` is null.
int install_seccomp_in_child(const SeccompProgram& program, int* listener = nullptr);

// Whether the filter notifies a seccomp agent (SCMP_ACT_NOTIFY somewhere in the profile).
inline bool needs_seccomp_agent(const SeccompProgram& program) {
  return (program.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0;
}
// prctl(PR_SET_NO_NEW_PRIVS). 0 or errno.
int set_no_new_privileges();

}  // namespace berth::linux
