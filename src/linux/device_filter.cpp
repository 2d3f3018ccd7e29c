// The cgroup v2 device filter: DeviceRules compiled to eBPF by hand, loaded and attached with
// bpf(2). The program is the one runc's devicefilter generates, in spirit:
//
//   r2 = ctx->access_type; r3 = r2 >> 16 (access); r2 &= 0xffff (type)
//   r4 = ctx->major; r5 = ctx->minor
//   for each rule, last first:            (so that the last matching rule decides)
//     if type  != rule.type  goto next    (skipped for 'a')
//     if (r3 & rule.access) != r3 goto next  (skipped for "rwm")
//     if major != rule.major goto next    (skipped for -1)
//     if minor != rule.minor goto next    (skipped for -1)
//     return rule.allow
//   next: ...
//   return 0                               (no rule matched: deny)
//
// A rule without conditions ends the program: the verifier refuses unreachable instructions.
#include "linux/device_filter.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::linux {

namespace {

// Registers of the program (see the sketch above).
constexpr std::uint8_t r0 = 0, r1 = 1, r2 = 2, r3 = 3, r4 = 4, r5 = 5;

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn load_u32(std::uint8_t dst, std::uint8_t src, std::int16_t off) {
  return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
bpf_insn mov_reg(std::uint8_t dst, std::uint8_t src) { return insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn mov_imm(std::uint8_t dst, std::int32_t imm) { return insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn and_imm(std::uint8_t dst, std::int32_t imm) { return insn(BPF_ALU64 | BPF_AND | BPF_K, dst, 0, 0, imm); }
bpf_insn rsh_imm(std::uint8_t dst, std::int32_t imm) { return insn(BPF_ALU64 | BPF_RSH | BPF_K, dst, 0, 0, imm); }
// Jump targets are patched once the rule's block is complete.
bpf_insn jne_imm(std::uint8_t dst, std::int32_t imm) { return insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, 0, imm); }
bpf_insn jne_reg(std::uint8_t dst, std::uint8_t src) { return insn(BPF_JMP | BPF_JNE | BPF_X, dst, src, 0, 0); }
bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

std::int32_t access_mask(const std::string& access) {
  std::int32_t mask = 0;
  for (char c : access) {
    if (c == 'm') mask |= BPF_DEVCG_ACC_MKNOD;
    if (c == 'r') mask |= BPF_DEVCG_ACC_READ;
    if (c == 'w') mask |= BPF_DEVCG_ACC_WRITE;
  }
  return mask;
}

constexpr std::int32_t all_access = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;

// The program for validated rules.
std::vector<bpf_insn> build_program(const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> prog = {
      load_u32(r2, r1, offsetof(bpf_cgroup_dev_ctx, access_type)),
      mov_reg(r3, r2),
      and_imm(r2, 0xffff),
      rsh_imm(r3, 16),
      load_u32(r4, r1, offsetof(bpf_cgroup_dev_ctx, major)),
      load_u32(r5, r1, offsetof(bpf_cgroup_dev_ctx, minor)),
  };
  for (auto rule = rules.rbegin(); rule != rules.rend(); ++rule) {
    std::vector<std::size_t> jumps;  // indexes of the jumps to the next rule
    if (rule->type != 'a') {
      jumps.push_back(prog.size());
      prog.push_back(jne_imm(r2, rule->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
    }
    if (std::int32_t mask = access_mask(rule->access); mask != all_access) {
      prog.push_back(mov_reg(r1, r3));
      prog.push_back(and_imm(r1, mask));
      jumps.push_back(prog.size());
      prog.push_back(jne_reg(r1, r3));
    }
    if (rule->major != -1) {
      jumps.push_back(prog.size());
      prog.push_back(jne_imm(r4, static_cast<std::int32_t>(rule->major)));
    }
    if (rule->minor != -1) {
      jumps.push_back(prog.size());
      prog.push_back(jne_imm(r5, static_cast<std::int32_t>(rule->minor)));
    }
    prog.push_back(mov_imm(r0, rule->allow ? 1 : 0));
    prog.push_back(exit_insn());
    if (jumps.empty()) return prog;  // matches everything: earlier rules never decide
    for (std::size_t at : jumps) prog[at].off = static_cast<std::int16_t>(prog.size() - at - 1);
  }
  prog.push_back(mov_imm(r0, 0));
  prog.push_back(exit_insn());
  return prog;
}

long bpf(int cmd, bpf_attr& attr) {
  long rc;
  do rc = ::syscall(SYS_bpf, cmd, &attr, sizeof attr);
  while (rc < 0 && errno == EINTR);
  return rc;
}

Error bpf_error(std::string_view what, int err) {
  // code_for_errno maps EPERM/EACCES to permission_denied, ENOENT to not_found, ...
  return Error{code_for_errno(err), fmt::format("devices: bpf {}: {}", what, std::strerror(err))};
}

Result<UniqueFd> load_program(const std::vector<bpf_insn>& prog) {
  static const char license[] = "Apache";  // device programs call no GPL-only helper
  auto load = [&](char* log, std::uint32_t log_size) {
    bpf_attr attr;
    std::memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = reinterpret_cast<std::uintptr_t>(prog.data());
    attr.insn_cnt = static_cast<std::uint32_t>(prog.size());
    attr.license = reinterpret_cast<std::uintptr_t>(license);
    if (log) {
      attr.log_buf = reinterpret_cast<std::uintptr_t>(log);
      attr.log_size = log_size;
      attr.log_level = 1;
    }
    // The kernel makes every bpf fd close-on-exec.
    return static_cast<int>(bpf(BPF_PROG_LOAD, attr));
  };
  int fd = load(nullptr, 0);
  if (fd >= 0) return UniqueFd(fd);
  int err = errno;
  if (err != EINVAL && err != EACCES) return std::unexpected(bpf_error("BPF_PROG_LOAD", err));
  // The verifier refused it: load again for its log, which says why.
  std::string log(64 * 1024, '\0');
  int again = load(log.data(), static_cast<std::uint32_t>(log.size()));
  if (again >= 0) return UniqueFd(again);
  log.resize(std::strlen(log.c_str()));
  if (log.size() > 2000) log = "..." + log.substr(log.size() - 2000);
  return fail(ErrorCode::internal,
              fmt::format("devices: bpf BPF_PROG_LOAD of a {}-instruction device filter: {}; verifier: {}",
                          prog.size(), std::strerror(err), log));
}

Result<std::vector<std::uint32_t>> query_programs(int cgroup_dir_fd) {
  std::vector<std::uint32_t> ids(64);
  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.query.target_fd = static_cast<std::uint32_t>(cgroup_dir_fd);
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = reinterpret_cast<std::uintptr_t>(ids.data());
  attr.query.prog_cnt = static_cast<std::uint32_t>(ids.size());
  if (bpf(BPF_PROG_QUERY, attr) < 0) return std::unexpected(bpf_error("BPF_PROG_QUERY", errno));
  ids.resize(attr.query.prog_cnt);
  return ids;
}

}  // namespace

Result<void> attach_device_filter(int cgroup_dir_fd, const std::vector<DeviceRule>& rules) {
  if (auto valid = validate_device_rules(rules); !valid) return valid;
  auto before = query_programs(cgroup_dir_fd);
  if (!before) return std::unexpected(before.error());
  auto prog = load_program(build_program(rules));
  if (!prog) return std::unexpected(prog.error());

  bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<std::uint32_t>(cgroup_dir_fd);
  attr.attach_bpf_fd = static_cast<std::uint32_t>(prog->get());
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, attr) < 0) return std::unexpected(bpf_error("BPF_PROG_ATTACH", errno));

  // The new filter is in place; the ones it replaces go. Until they do, both apply (each
  // must allow an access), which is never looser than either.
  for (std::uint32_t id : *before) {
    std::memset(&attr, 0, sizeof attr);
    attr.prog_id = id;
    UniqueFd old(static_cast<int>(bpf(BPF_PROG_GET_FD_BY_ID, attr)));
    if (!old) {
      if (errno == ENOENT) continue;  // detached meanwhile
      return std::unexpected(bpf_error(fmt::format("BPF_PROG_GET_FD_BY_ID {}", id), errno));
    }
    std::memset(&attr, 0, sizeof attr);
    attr.target_fd = static_cast<std::uint32_t>(cgroup_dir_fd);
    attr.attach_bpf_fd = static_cast<std::uint32_t>(old.get());
    attr.attach_type = BPF_CGROUP_DEVICE;
    if (bpf(BPF_PROG_DETACH, attr) < 0 && errno != ENOENT)
      return std::unexpected(bpf_error(fmt::format("BPF_PROG_DETACH of program {}", id), errno));
  }
  return {};
}

Result<std::size_t> attached_device_filters(int cgroup_dir_fd) {
  auto ids = query_programs(cgroup_dir_fd);
  if (!ids) return std::unexpected(ids.error());
  return ids->size();
}

}  // namespace berth::linux
