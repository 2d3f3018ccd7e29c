// An OCI bundle's config.json (runtime-spec config.md, config-linux.md) read into berth's
// container launch plan: the same init, isolation and limits berth's own containers get
// (runtime/container_launch.hpp). Every field is either honoured or refused with an error
// naming it ("linux.intelRdt: not supported by berth-oci"); fields the spec leaves to the
// platform (apparmorProfile, selinuxLabel, mountLabel on a host without them) become warnings.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "linux/cgroup.hpp"
#include "oci/hooks.hpp"
#include "runtime/container_launch.hpp"

namespace berth::oci {

struct NamespacePath {
  int type;  // CLONE_NEW*
  std::string path;
  std::string field;  // "linux.namespaces[N].path", for errors
};

struct BundleConfig {
  std::string oci_version;
  std::string bundle;  // absolute
  // The plan without its cgroup, seccomp filter and joined namespaces' fds (the caller opens
  // those); rootfs.cgroup_v1_dirs are filled once the cgroup exists.
  ContainerLaunchPlan plan;
  bool cgroup_mount = false;                 // a mount of type cgroup/cgroup2
  std::optional<std::string> seccomp_json;   // linux.seccomp as written
  // linux.seccomp.listenerPath / listenerMetadata: where a filter using SCMP_ACT_NOTIFY has its
  // listener sent (a seccomp agent's unix socket), with the opaque metadata the agent gets.
  std::string seccomp_listener_path, seccomp_listener_metadata;
  std::vector<NamespacePath> join;
  Resources resources;
  linux::ExtraResources extra_resources;  // linux.resources beyond `resources` (blockIO, hugepages, ...)
  std::vector<linux::DeviceRule> device_rules;  // linux.resources.devices, then runc's defaults, then linux.devices
  std::string cgroups_path;                     // as written; empty: the caller's default
  std::optional<int> oom_score_adj;
  std::map<std::string, std::string> annotations;
  Hooks hooks;
  std::vector<std::string> warnings;
};

// Reads BUNDLE/config.json. Errors are invalid_spec naming the field.
Result<BundleConfig> load_bundle_config(const std::string& bundle);
Result<BundleConfig> parse_bundle_config(const std::string& json_text, const std::string& bundle);
// The limits of a linux.resources object, and the warnings reading it gave.
struct ResourceLimits {
  Resources resources;
  linux::ExtraResources extra;
  std::vector<std::string> warnings;
};
// linux.resources alone, as `update --resources` takes it: the limits, checked as create checks
// them. Device rules are read (and checked) but not returned: update does not change them.
Result<ResourceLimits> parse_linux_resources(const std::string& json_text);

// A `process` object alone (exec --process FILE), read as config.json's is: its fields land in
// plan (args, env, working_dir, user, group_add, umask, capabilities, rlimits,
// no_new_privileges, tty, scheduler, io_priority, exec_cpu_affinity), oom_score_adj and
// warnings.
Result<BundleConfig> parse_process_config(const std::string& json_text);

}  // namespace berth::oci
