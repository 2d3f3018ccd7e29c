// Linux namespaces for process workloads and for joining a workload's namespaces (exec).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "common/fd.hpp"

namespace berth::linux {

// CLONE_NEW* flags for the namespaces a spec asks for (any network but the host's, "" or
// "host", implies a new netns).
unsigned long clone_flags_for(const Namespaces& namespaces, const std::string& network);

// Runs in the new child (single-threaded, after clone) before exec: makes mounts private,
// mounts a fresh /proc when it owns both a pid and a mount namespace, brings loopback up in
// a new netns and sets the hostname in a new uts namespace. Returns 0 or an errno, with
// `*stage` naming the step that failed. Allocates nothing.
int setup_new_namespaces_in_child(unsigned long clone_flags, const char* hostname,
                                  const char** stage);

struct NamespaceFd {
  int type;  // CLONE_NEW*
  UniqueFd fd;
};

// Opens the namespaces of `pid` that differ from the caller's, pid namespace last and mount
// namespace just before it, in the order setns needs them.
Result<std::vector<NamespaceFd>> open_namespaces_of(pid_t pid);

// Brings the loopback interface up in the current network namespace.
int bring_loopback_up();

}  // namespace berth::linux
