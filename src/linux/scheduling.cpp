#include "linux/scheduling.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fmt/format.h>

namespace berth::linux {

namespace {

// The kernel's struct sched_attr, version 1 (with the utilization clamps, which the
// SCHED_FLAG_UTIL_CLAMP_* flags make the kernel read; left 0, as the spec has no values).
struct KernelSchedAttr {
  std::uint32_t size;
  std::uint32_t sched_policy;
  std::uint64_t sched_flags;
  std::int32_t sched_nice;
  std::uint32_t sched_priority;
  std::uint64_t sched_runtime;
  std::uint64_t sched_deadline;
  std::uint64_t sched_period;
  std::uint32_t sched_util_min;
  std::uint32_t sched_util_max;
};
static_assert(sizeof(KernelSchedAttr) == 56);

constexpr int ioprio_who_process = 1;
constexpr int ioprio_class_shift = 13;

// The most CPUs a list may name (as runc's limit): a bogus "0-4000000000" is refused rather
// than allocated.
constexpr unsigned max_cpu = 64 * 1024;
constexpr std::size_t word_bits = sizeof(unsigned long) * 8;

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

Result<unsigned> cpu_number(std::string_view text, std::string_view element) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return fail(ErrorCode::invalid_spec, fmt::format("\"{}\" is not a CPU number or range", element));
  if (value > max_cpu) return fail(ErrorCode::invalid_spec, fmt::format("CPU {} is above {}", value, max_cpu));
  return value;
}

}  // namespace

std::optional<std::uint32_t> scheduling_policy(std::string_view name) {
  // Numbers from include/uapi/linux/sched.h. SCHED_ISO is reserved there and no mainline kernel
  // implements it: the spec lists it, so it is passed on and the kernel's EINVAL reported.
  static constexpr std::pair<std::string_view, std::uint32_t> table[] = {
      {"SCHED_OTHER", 0}, {"SCHED_FIFO", 1}, {"SCHED_RR", 2},      {"SCHED_BATCH", 3},
      {"SCHED_ISO", sched_iso_policy},   {"SCHED_IDLE", 5}, {"SCHED_DEADLINE", sched_deadline_policy}};
  for (auto [n, value] : table)
    if (n == name) return value;
  return std::nullopt;
}

std::optional<std::uint64_t> scheduling_flag(std::string_view name) {
  static constexpr std::pair<std::string_view, std::uint64_t> table[] = {
      {"SCHED_FLAG_RESET_ON_FORK", 0x01}, {"SCHED_FLAG_RECLAIM", 0x02},        {"SCHED_FLAG_DL_OVERRUN", 0x04},
      {"SCHED_FLAG_KEEP_POLICY", 0x08},   {"SCHED_FLAG_KEEP_PARAMS", 0x10},    {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
      {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40}};
  for (auto [n, value] : table)
    if (n == name) return value;
  return std::nullopt;
}

bool is_realtime_policy(std::uint32_t policy) { return policy == 1 || policy == 2; }

int set_scheduler_in_child(const SchedulerAttributes& a) {
  KernelSchedAttr attr{};
  attr.size = sizeof attr;
  attr.sched_policy = a.policy;
  attr.sched_flags = a.flags;
  attr.sched_nice = a.nice;
  attr.sched_priority = a.priority;
  attr.sched_runtime = a.runtime;
  attr.sched_deadline = a.deadline;
  attr.sched_period = a.period;
  if (::syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return errno;
  return 0;
}

std::optional<int> io_priority_class(std::string_view name) {
  static constexpr std::pair<std::string_view, int> table[] = {
      {"IOPRIO_CLASS_RT", 1}, {"IOPRIO_CLASS_BE", 2}, {"IOPRIO_CLASS_IDLE", 3}};
  for (auto [n, value] : table)
    if (n == name) return value;
  return std::nullopt;
}

int set_io_priority_in_child(int io_class, int level) {
  if (::syscall(SYS_ioprio_set, ioprio_who_process, 0, (io_class << ioprio_class_shift) | level) != 0) return errno;
  return 0;
}

int io_priority_of(int pid) { return static_cast<int>(::syscall(SYS_ioprio_get, ioprio_who_process, pid)); }

Result<CpuSet> parse_cpu_list(std::string_view text) {
  CpuSet out;
  bool any = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    std::string_view element =
        trim(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    if (element.empty()) continue;
    auto dash = element.find('-');
    auto first = cpu_number(element.substr(0, dash), element);
    if (!first) return std::unexpected(first.error());
    unsigned last = *first;
    if (dash != std::string_view::npos) {
      auto end = cpu_number(element.substr(dash + 1), element);
      if (!end) return std::unexpected(end.error());
      if (*end < *first)
        return fail(ErrorCode::invalid_spec, fmt::format("\"{}\" is a range that ends before it starts", element));
      last = *end;
    }
    if (out.words.size() < last / word_bits + 1) out.words.resize(last / word_bits + 1, 0);
    for (unsigned cpu = *first; cpu <= last; ++cpu) out.words[cpu / word_bits] |= 1UL << (cpu % word_bits);
    any = true;
  }
  if (!any) return fail(ErrorCode::invalid_spec, fmt::format("\"{}\" names no CPU", text));
  return out;
}

int set_cpu_affinity_in_child(const CpuSet& cpus) {
  if (::syscall(SYS_sched_setaffinity, 0, cpus.words.size() * sizeof(unsigned long), cpus.words.data()) != 0)
    return errno;
  return 0;
}

int reset_cpu_affinity_in_child() {
  // On the stack (8 KiB): nothing is allocated in a child. A mask longer than the kernel's is
  // cut to its length, so every CPU it can have is in.
  unsigned long all[max_cpu / word_bits];
  std::memset(all, 0xff, sizeof all);
  if (::syscall(SYS_sched_setaffinity, 0, sizeof all, all) != 0) return errno;
  return 0;
}

}  // namespace berth::linux
