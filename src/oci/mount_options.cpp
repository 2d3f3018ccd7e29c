#include "oci/mount_options.hpp"

#include <sys/mount.h>

#include <fmt/format.h>

namespace berth::oci {

std::optional<unsigned long> propagation_flags(const std::string& name) {
  static constexpr std::pair<std::string_view, unsigned long> table[] = {
      {"private", MS_PRIVATE},        {"rprivate", MS_PRIVATE | MS_REC},
      {"slave", MS_SLAVE},            {"rslave", MS_SLAVE | MS_REC},
      {"shared", MS_SHARED},          {"rshared", MS_SHARED | MS_REC},
      {"unbindable", MS_UNBINDABLE},  {"runbindable", MS_UNBINDABLE | MS_REC}};
  for (auto [n, flags] : table)
    if (n == name) return flags;
  return std::nullopt;
}

Result<void> apply_mount_options(const std::vector<std::string>& options, const std::string& where,
                                 linux::ContainerMount& out) {
  // set, clear
  static constexpr struct {
    std::string_view name;
    bool clear;
    unsigned long flag;
  } flags[] = {{"nosuid", false, MS_NOSUID},       {"suid", true, MS_NOSUID},
               {"nodev", false, MS_NODEV},         {"dev", true, MS_NODEV},
               {"noexec", false, MS_NOEXEC},       {"exec", true, MS_NOEXEC},
               {"sync", false, MS_SYNCHRONOUS},    {"async", true, MS_SYNCHRONOUS},
               {"dirsync", false, MS_DIRSYNC},     {"mand", false, MS_MANDLOCK},
               {"nomand", true, MS_MANDLOCK},      {"noatime", false, MS_NOATIME},
               {"atime", true, MS_NOATIME},        {"nodiratime", false, MS_NODIRATIME},
               {"diratime", true, MS_NODIRATIME},  {"relatime", false, MS_RELATIME},
               {"norelatime", true, MS_RELATIME},  {"strictatime", false, MS_STRICTATIME},
               {"nostrictatime", true, MS_STRICTATIME}, {"lazytime", false, MS_LAZYTIME},
               {"nolazytime", true, MS_LAZYTIME},  {"silent", false, MS_SILENT},
               {"loud", true, MS_SILENT}};
  static constexpr std::string_view refused[] = {"remount", "rro", "rrw", "rnosuid", "rsuid", "rnodev",
                                                 "rdev", "rnoexec", "rexec", "rnoatime", "ratime",
                                                 "rrelatime", "rnorelatime", "rstrictatime", "rnostrictatime",
                                                 "rnodiratime", "rdiratime", "idmap", "ridmap", "tmpcopyup",
                                                 "nosymfollow", "rnosymfollow", "symfollow", "rsymfollow"};
  std::string data;
  for (std::size_t i = 0; i < options.size(); ++i) {
    const auto& option = options[i];
    if (option == "ro") {
      out.read_only = true;
      continue;
    }
    if (option == "rw") {
      out.read_only = false;
      continue;
    }
    if (option == "bind" || option == "rbind") {
      out.kind = linux::ContainerMount::Kind::bind;
      out.recursive = option == "rbind";
      continue;
    }
    if (auto p = propagation_flags(option)) {
      out.propagation = *p;
      continue;
    }
    bool known = false;
    for (auto& f : flags)
      if (f.name == option) {
        if (f.clear) out.flags &= ~f.flag;
        else out.flags |= f.flag;
        known = true;
      }
    if (known) continue;
    for (auto r : refused)
      if (r == option)
        return fail(ErrorCode::invalid_spec,
                    fmt::format("{}.options[{}]: \"{}\" is not supported by berth-oci", where, i, option));
    data += (data.empty() ? "" : ",") + option;
  }
  if (!data.empty() && out.kind == linux::ContainerMount::Kind::bind)
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}.options: \"{}\" is not a bind mount option", where, data));
  out.data = data;
  return {};
}

}  // namespace berth::oci
