#include "linux/seccomp.hpp"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::linux {

namespace {

using nlohmann::json;

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Filter = std::unique_ptr<void, FilterDeleter>;

std::unexpected<Error> bad(std::string_view source, const std::string& where, std::string_view what) {
  return fail(ErrorCode::invalid_spec, fmt::format("seccomp profile {}: {}: {}", source, where, what));
}

std::optional<std::uint32_t> arch_token(std::string_view name) {
  static constexpr std::pair<std::string_view, std::uint32_t> arches[] = {
      {"SCMP_ARCH_X86", SCMP_ARCH_X86},         {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
      {"SCMP_ARCH_X32", SCMP_ARCH_X32},         {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
      {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64}, {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
      {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},   {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
      {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},   {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
      {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32}, {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
      {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},     {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
      {"SCMP_ARCH_S390", SCMP_ARCH_S390},       {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
      {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64}};
  for (auto [n, token] : arches)
    if (n == name) return token;
  return std::nullopt;
}

Result<std::uint32_t> action_of(const std::string& name, std::optional<std::uint32_t> errno_ret,
                                std::string_view source, const std::string& where) {
  if (name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
  if (name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(errno_ret.value_or(EPERM));
  if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") return SCMP_ACT_KILL_THREAD;
  if (name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
  if (name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
  if (name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(errno_ret.value_or(EPERM));
  if (name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
  if (name == "SCMP_ACT_NOTIFY") return SCMP_ACT_NOTIFY;
  return bad(source, where, fmt::format("unknown action \"{}\"", name));
}

std::optional<scmp_compare> op_of(std::string_view name) {
  static constexpr std::pair<std::string_view, scmp_compare> ops[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
  for (auto [n, op] : ops)
    if (n == name) return op;
  return std::nullopt;
}

template <typename T>
Result<T> field(const json& object, const char* key, T fallback, std::string_view source, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return bad(source, fmt::format("{}.{}", where, key), "has the wrong type");
  }
}

Result<std::optional<std::uint32_t>> optional_u32(const json& object, const char* key, std::string_view source,
                                                  const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::uint32_t>();
  if (!it->is_number_unsigned()) return bad(source, fmt::format("{}.{}", where, key), "must be a non-negative number");
  return std::optional<std::uint32_t>(it->get<std::uint32_t>());
}

// Docker's per-rule conditions: "includes" all of its caps, "excludes" any of them.
Result<bool> rule_applies(const json& rule, CapabilityMask caps, std::string_view source, const std::string& where) {
  for (auto [key, include] : {std::pair{"includes", true}, std::pair{"excludes", false}}) {
    auto it = rule.find(key);
    if (it == rule.end() || it->is_null()) continue;
    if (!it->is_object()) return bad(source, fmt::format("{}.{}", where, key), "must be an object");
    auto names = field<std::vector<std::string>>(*it, "caps", {}, source, fmt::format("{}.{}", where, key));
    if (!names) return std::unexpected(names.error());
    bool all = true, any = false;
    for (auto& name : *names) {
      auto cap = capability_from_name(name);
      if (!cap) return bad(source, fmt::format("{}.{}.caps", where, key), fmt::format("unknown capability \"{}\"", name));
      bool has = caps & (CapabilityMask{1} << *cap);
      all = all && has;
      any = any || has;
    }
    if (include && !names->empty() && !all) return false;
    if (!include && any) return false;
  }
  return true;
}

Result<SeccompProgram> export_program(const Filter& filter, unsigned flags, std::string_view source) {
  UniqueFd memfd(static_cast<int>(::memfd_create("berth-seccomp", MFD_CLOEXEC)));
  if (!memfd) return std::unexpected(errno_error("memfd_create", "seccomp filter", errno));
  if (int rc = seccomp_export_bpf(filter.get(), memfd.get()); rc < 0)
    return fail(ErrorCode::internal, fmt::format("seccomp profile {}: export: {}", source, std::strerror(-rc)));
  off_t size = ::lseek(memfd.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0)
    return fail(ErrorCode::internal, fmt::format("seccomp profile {}: exported filter has {} bytes", source, size));
  SeccompProgram program;
  program.flags = flags;
  program.instructions.resize(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (::pread(memfd.get(), program.instructions.data(), static_cast<std::size_t>(size), 0) != size)
    return std::unexpected(errno_error("read", "seccomp filter", errno));
  // A filter that can return SECCOMP_RET_USER_NOTIF is loaded with a listener, which the
  // runtime passes to a seccomp agent (OCI linux.seccomp.listenerPath).
  for (auto& insn : program.instructions)
    if (insn.code == (BPF_RET | BPF_K) && (insn.k & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_USER_NOTIF)
      program.flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
  return program;
}

}  // namespace

Result<SeccompProgram> compile_seccomp_profile(std::string_view text, CapabilityMask caps,
                                               std::string_view source) {
  auto profile = json::parse(text, nullptr, false);
  if (profile.is_discarded() || !profile.is_object()) return bad(source, "profile", "is not a JSON object");
  static constexpr const char* known_keys[] = {"defaultAction", "defaultErrnoRet", "architectures", "archMap",
                                               "flags", "syscalls", "comment", "listenerPath", "listenerMetadata"};
  for (auto& [key, value] : profile.items())
    if (std::find_if(std::begin(known_keys), std::end(known_keys), [&](const char* k) { return key == k; }) ==
        std::end(known_keys))
      return bad(source, key, "unknown field");
  // listenerPath and listenerMetadata are the runtime's business (where it sends the listener),
  // not the filter's: berth-oci reads them (oci/config.cpp).

  auto default_name = field<std::string>(profile, "defaultAction", "", source, "profile");
  if (!default_name) return std::unexpected(default_name.error());
  if (default_name->empty()) return bad(source, "defaultAction", "is required");
  auto default_errno = optional_u32(profile, "defaultErrnoRet", source, "profile");
  if (!default_errno) return std::unexpected(default_errno.error());
  auto default_action = action_of(*default_name, *default_errno, source, "defaultAction");
  if (!default_action) return std::unexpected(default_action.error());

  Filter filter(seccomp_init(*default_action));
  if (!filter) return fail(ErrorCode::internal, "seccomp_init failed");
  // We set no_new_privs ourselves, before loading; libseccomp must not (it would hide a failure).
  seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_NNP, 0);

  auto arches = field<std::vector<std::string>>(profile, "architectures", {}, source, "profile");
  if (!arches) return std::unexpected(arches.error());
  for (std::size_t i = 0; i < arches->size(); ++i) {
    auto token = arch_token((*arches)[i]);
    if (!token) return bad(source, fmt::format("architectures[{}]", i), fmt::format("unknown architecture \"{}\"", (*arches)[i]));
    int rc = seccomp_arch_add(filter.get(), *token);
    if (rc < 0 && rc != -EEXIST)
      return bad(source, fmt::format("architectures[{}]", i), std::strerror(-rc));
  }

  unsigned flags = 0;
  auto flag_names = field<std::vector<std::string>>(profile, "flags", {}, source, "profile");
  if (!flag_names) return std::unexpected(flag_names.error());
  for (std::size_t i = 0; i < flag_names->size(); ++i) {
    auto& f = (*flag_names)[i];
    if (f == "SECCOMP_FILTER_FLAG_TSYNC") flags |= SECCOMP_FILTER_FLAG_TSYNC;
    else if (f == "SECCOMP_FILTER_FLAG_LOG") flags |= SECCOMP_FILTER_FLAG_LOG;
    else if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    else return bad(source, fmt::format("flags[{}]", i), fmt::format("unknown flag \"{}\"", f));
  }

  auto rules = profile.find("syscalls");
  if (rules != profile.end() && !rules->is_null()) {
    if (!rules->is_array()) return bad(source, "syscalls", "must be an array");
    for (std::size_t i = 0; i < rules->size(); ++i) {
      const json& rule = (*rules)[i];
      std::string where = fmt::format("syscalls[{}]", i);
      if (!rule.is_object()) return bad(source, where, "must be an object");
      auto applies = rule_applies(rule, caps, source, where);
      if (!applies) return std::unexpected(applies.error());
      auto names = field<std::vector<std::string>>(rule, "names", {}, source, where);
      if (!names) return std::unexpected(names.error());
      auto single = field<std::string>(rule, "name", "", source, where);
      if (!single) return std::unexpected(single.error());
      if (!single->empty()) names->push_back(*single);
      auto action_name = field<std::string>(rule, "action", "", source, where);
      if (!action_name) return std::unexpected(action_name.error());
      auto errno_ret = optional_u32(rule, "errnoRet", source, where);
      if (!errno_ret) return std::unexpected(errno_ret.error());
      auto action = action_of(*action_name, *errno_ret, source, where + ".action");
      if (!action) return std::unexpected(action.error());
      std::vector<scmp_arg_cmp> cmps;
      auto args = rule.find("args");
      if (args != rule.end() && !args->is_null()) {
        if (!args->is_array()) return bad(source, where + ".args", "must be an array");
        for (std::size_t j = 0; j < args->size(); ++j) {
          std::string at = fmt::format("{}.args[{}]", where, j);
          const json& arg = (*args)[j];
          if (!arg.is_object()) return bad(source, at, "must be an object");
          auto index = field<unsigned>(arg, "index", 0, source, at);
          auto value = field<std::uint64_t>(arg, "value", 0, source, at);
          auto value_two = field<std::uint64_t>(arg, "valueTwo", 0, source, at);
          auto op_name = field<std::string>(arg, "op", "", source, at);
          if (!index) return std::unexpected(index.error());
          if (!value) return std::unexpected(value.error());
          if (!value_two) return std::unexpected(value_two.error());
          if (!op_name) return std::unexpected(op_name.error());
          auto op = op_of(*op_name);
          if (!op) return bad(source, at + ".op", fmt::format("unknown operator \"{}\"", *op_name));
          if (*index > 5) return bad(source, at + ".index", "must be 0 to 5");
          cmps.push_back(scmp_arg_cmp{*index, *op, *value, *value_two});
        }
      }
      if (!*applies || *action == *default_action) continue;  // libseccomp refuses no-op rules
      for (auto& name : *names) {
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) continue;  // not on this kernel or arch
        int rc = seccomp_rule_add_array(filter.get(), *action, nr, static_cast<unsigned>(cmps.size()),
                                        cmps.empty() ? nullptr : cmps.data());
        if (rc < 0)
          return bad(source, fmt::format("{} ({})", where, name), std::strerror(-rc));
      }
    }
  }
  return export_program(filter, flags, source);
}

Result<SeccompProgram> default_seccomp_program(CapabilityMask caps) {
  return compile_seccomp_profile(default_seccomp_profile_json(), caps, "default profile");
}

Result<SeccompProgram> cached_seccomp_program(std::string_view json_text, CapabilityMask caps,
                                              std::string_view source, const std::string& cache_dir) {
  // FNV-1a over the profile text: the cache key, with the capabilities and the filter format.
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : json_text) hash = (hash ^ c) * 1099511628211ULL;
  std::string path = fmt::format("{}/seccomp-{:016x}-{:016x}.bpf", cache_dir, hash, caps);
  if (auto bytes = read_file(path); bytes && bytes->size() > sizeof(std::uint32_t) &&
                                    (bytes->size() - sizeof(std::uint32_t)) % sizeof(sock_filter) == 0) {
    SeccompProgram program;
    std::memcpy(&program.flags, bytes->data(), sizeof(std::uint32_t));
    program.instructions.resize((bytes->size() - sizeof(std::uint32_t)) / sizeof(sock_filter));
    std::memcpy(program.instructions.data(), bytes->data() + sizeof(std::uint32_t),
                program.instructions.size() * sizeof(sock_filter));
    return program;
  }
  auto program = compile_seccomp_profile(json_text, caps, source);
  if (!program) return program;
  std::string bytes(sizeof(std::uint32_t), '\0');
  std::uint32_t flags = program->flags;
  std::memcpy(bytes.data(), &flags, sizeof flags);
  bytes.append(reinterpret_cast<const char*>(program->instructions.data()),
               program->instructions.size() * sizeof(sock_filter));
  // Best effort: a start that cannot cache still runs.
  if (make_dirs(cache_dir, 0700)) (void)write_file_atomic(path, bytes);
  return program;
}

int install_seccomp_in_child(const SeccompProgram& program, int* listener) {
  sock_fprog prog{static_cast<unsigned short>(program.instructions.size()),
                  const_cast<sock_filter*>(program.instructions.data())};
  long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, program.flags, &prog);
  if (rc < 0) return errno;
  if (program.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) {
    if (listener) *listener = static_cast<int>(rc);
    else ::close(static_cast<int>(rc));  // nobody to hand it to: the process must not keep it
  }
  return 0;
}

int set_no_new_privileges() { return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno; }

}  // namespace berth::linux
