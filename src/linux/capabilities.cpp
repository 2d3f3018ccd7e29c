#include "linux/capabilities.hpp"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fmt/format.h>

#include "common/fs.hpp"

namespace berth::linux {

namespace {
constexpr const char* names[] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"};
constexpr int known = static_cast<int>(std::size(names));
}  // namespace

std::optional<int> capability_from_name(std::string_view name) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.starts_with("CAP_")) upper.erase(0, 4);
  for (int i = 0; i < known; ++i)
    if (upper == names[i]) return i;
  return std::nullopt;
}

std::string capability_name(int cap) {
  if (cap >= 0 && cap < known) return fmt::format("CAP_{}", names[cap]);
  return fmt::format("CAP_{}", cap);
}

int last_capability() {
  static const int last = [] {
    auto text = read_file("/proc/sys/kernel/cap_last_cap");
    int v = text ? std::atoi(text->c_str()) : 0;
    return v > 0 && v < 64 ? v : CAP_LAST_CAP;
  }();
  return last;
}

CapabilityMask default_container_capabilities() {
  CapabilityMask mask = 0;
  for (int cap : {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FSETID, CAP_FOWNER, CAP_MKNOD, CAP_SETGID,
                  CAP_SETUID, CAP_SETFCAP, CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,
                  CAP_AUDIT_WRITE})
    mask |= CapabilityMask{1} << cap;
  return mask;
}

Result<CapabilityMask> resolve_capabilities(CapabilityMask base, const std::vector<std::string>& add,
                                            const std::vector<std::string>& drop) {
  CapabilityMask all = last_capability() >= 63 ? ~CapabilityMask{0}
                                               : (CapabilityMask{1} << (last_capability() + 1)) - 1;
  auto mask_of = [&](const std::vector<std::string>& list, std::string_view field) -> Result<CapabilityMask> {
    CapabilityMask m = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string upper;
      for (char c : list[i]) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (upper == "ALL") {
        m |= all;
        continue;
      }
      auto cap = capability_from_name(list[i]);
      if (!cap || *cap > last_capability())
        return fail(ErrorCode::invalid_spec,
                    fmt::format("{}[{}]: \"{}\" is not a capability this kernel knows", field, i, list[i]));
      m |= CapabilityMask{1} << *cap;
    }
    return m;
  };
  auto dropped = mask_of(drop, "cap_drop");
  if (!dropped) return std::unexpected(dropped.error());
  auto added = mask_of(add, "cap_add");
  if (!added) return std::unexpected(added.error());
  return ((base & ~*dropped) | *added) & all;
}

CapabilitySets container_capability_sets(CapabilityMask caps) {
  // As runc does for Docker's config: bounding, effective and permitted are the set; nothing
  // inheritable or ambient. A non-root user keeps them across setuid (keep_capabilities...),
  // and loses effective and permitted at exec as the kernel rules say, as under Docker.
  return {caps, caps, caps, 0, 0};
}

int keep_capabilities_across_setuid() {
  return ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == 0 ? 0 : errno;
}

int drop_bounding_capabilities_in_child(const CapabilitySets& sets, int last_cap) {
  for (int cap = 0; cap <= last_cap; ++cap) {
    if (sets.bounding & (CapabilityMask{1} << cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return errno;
  }
  return 0;
}

int apply_capabilities_in_child(const CapabilitySets& sets, int last_cap, const char** stage) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<std::uint32_t>(sets.effective >> (32 * i));
    data[i].permitted = static_cast<std::uint32_t>(sets.permitted >> (32 * i));
    data[i].inheritable = static_cast<std::uint32_t>(sets.inheritable >> (32 * i));
  }
  if (::syscall(SYS_capset, &header, data) != 0) {
    *stage = "set capabilities";
    return errno;
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    *stage = "clear ambient capabilities";
    return errno;
  }
  for (int cap = 0; cap <= last_cap; ++cap) {
    if (!(sets.ambient & (CapabilityMask{1} << cap))) continue;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
      *stage = "raise an ambient capability";
      return errno;
    }
  }
  return 0;
}

}  // namespace berth::linux
