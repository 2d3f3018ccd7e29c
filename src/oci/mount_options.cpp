#include "oci/mount_options.hpp"

#include <sys/mount.h>

#include <algorithm>
#include <cstdint>
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

namespace {

// The recursive options (runc's specconv names them): MOUNT_ATTR_* bits set or cleared on the
// mount and all its submounts with mount_setattr.
struct RecursiveAttribute {
  std::string_view name;
  bool clear;
  std::uint64_t attr;
};
constexpr RecursiveAttribute recursive_attributes[] = {
    {"rro", false, MOUNT_ATTR_RDONLY},           {"rrw", true, MOUNT_ATTR_RDONLY},
    {"rnosuid", false, MOUNT_ATTR_NOSUID},       {"rsuid", true, MOUNT_ATTR_NOSUID},
    {"rnodev", false, MOUNT_ATTR_NODEV},         {"rdev", true, MOUNT_ATTR_NODEV},
    {"rnoexec", false, MOUNT_ATTR_NOEXEC},       {"rexec", true, MOUNT_ATTR_NOEXEC},
    {"rnodiratime", false, MOUNT_ATTR_NODIRATIME}, {"rdiratime", true, MOUNT_ATTR_NODIRATIME},
    {"rrelatime", false, MOUNT_ATTR_RELATIME},   {"rnorelatime", true, MOUNT_ATTR_RELATIME},
    {"rnoatime", false, MOUNT_ATTR_NOATIME},     {"ratime", true, MOUNT_ATTR_NOATIME},
    {"rstrictatime", false, MOUNT_ATTR_STRICTATIME}, {"rnostrictatime", true, MOUNT_ATTR_STRICTATIME},
    {"rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW}, {"rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW}};

// Access time is one setting of three values, not bits: the kernel takes a value in attr_set
// only with MOUNT_ATTR__ATIME in attr_clr (mount_setattr(2)), so any atime option clears the
// setting and the last one given wins ("rnorelatime", whose value is 0, leaves relatime, as in
// runc). Other attributes are bits: the last of set and clear wins.
void apply_recursive_attribute(const RecursiveAttribute& a, linux::ContainerMount& out) {
  bool atime = (a.attr & MOUNT_ATTR__ATIME) == a.attr;
  if (atime) {
    out.attr_set &= ~static_cast<std::uint64_t>(MOUNT_ATTR__ATIME);
    out.attr_clr |= MOUNT_ATTR__ATIME;
    if (!a.clear) out.attr_set |= a.attr;
    return;
  }
  if (a.clear) {
    out.attr_clr |= a.attr;
    out.attr_set &= ~a.attr;
  } else {
    out.attr_set |= a.attr;
    out.attr_clr &= ~a.attr;
  }
}

}  // namespace

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
               {"loud", true, MS_SILENT},          {"nosymfollow", false, MS_NOSYMFOLLOW},
               {"symfollow", true, MS_NOSYMFOLLOW}};
  // "remount" asks to change a mount the container already has, which a fresh mount namespace
  // built from a config never does; refused rather than mounting something else.
  static constexpr std::string_view refused[] = {"remount"};
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
    if (option == "tmpcopyup") {
      out.copy_up = true;
      continue;
    }
    if (option == "idmap" || option == "ridmap") {
      out.idmap.enabled = true;
      out.idmap.recursive = option == "ridmap";
      continue;
    }
    if (auto a = std::find_if(std::begin(recursive_attributes), std::end(recursive_attributes),
                              [&](auto& r) { return r.name == option; });
        a != std::end(recursive_attributes)) {
      apply_recursive_attribute(*a, out);
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
