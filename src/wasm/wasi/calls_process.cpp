// Arguments, environment, clocks, randomness, signals and scheduling.
#include <sched.h>
#include <sys/random.h>
#include <time.h>

#include <cerrno>

#include "wasm/wasi/calls.hpp"

namespace berth::wasm::wasi {
namespace {

// Writes a string list the way args_get/environ_get do: an array of pointers at `pointers`,
// NUL-terminated strings packed at `buffer`.
Errno store_strings(Guest& guest, const std::vector<std::string>& strings, std::uint32_t pointers,
                    std::uint32_t buffer) {
  std::uint64_t total = 0;
  for (const auto& s : strings) total += s.size() + 1;
  if (!guest.writable(pointers, std::uint64_t{4} * strings.size()) ||
      !guest.writable(buffer, total)) {
    return Errno::fault;
  }
  std::uint64_t at = buffer;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    guest.store<std::uint32_t>(pointers + 4 * i, static_cast<std::uint32_t>(at));
    guest.store_bytes(at, strings[i].c_str(), strings[i].size() + 1);
    at += strings[i].size() + 1;
  }
  return Errno::success;
}

Errno store_sizes(Guest& guest, const std::vector<std::string>& strings, std::uint32_t count_at,
                  std::uint32_t size_at) {
  std::uint64_t total = 0;
  for (const auto& s : strings) total += s.size() + 1;
  if (total > UINT32_MAX) return Errno::overflow;
  if (!guest.writable(count_at, 4) || !guest.writable(size_at, 4)) return Errno::fault;
  guest.store<std::uint32_t>(count_at, static_cast<std::uint32_t>(strings.size()));
  guest.store<std::uint32_t>(size_at, static_cast<std::uint32_t>(total));
  return Errno::success;
}

std::optional<clockid_t> host_clock(std::uint32_t id) {
  switch (static_cast<ClockId>(id)) {
    case ClockId::realtime: return CLOCK_REALTIME;
    case ClockId::monotonic: return CLOCK_MONOTONIC;
    case ClockId::process_cputime: return CLOCK_PROCESS_CPUTIME_ID;
    case ClockId::thread_cputime: return CLOCK_THREAD_CPUTIME_ID;
  }
  return std::nullopt;
}

}  // namespace

Errno args_get(WasiContext& context, Guest& guest, Args args) {
  return store_strings(guest, context.args(), args.u32(0), args.u32(1));
}
Errno args_sizes_get(WasiContext& context, Guest& guest, Args args) {
  return store_sizes(guest, context.args(), args.u32(0), args.u32(1));
}
Errno environ_get(WasiContext& context, Guest& guest, Args args) {
  return store_strings(guest, context.env(), args.u32(0), args.u32(1));
}
Errno environ_sizes_get(WasiContext& context, Guest& guest, Args args) {
  return store_sizes(guest, context.env(), args.u32(0), args.u32(1));
}

Errno clock_res_get(WasiContext&, Guest& guest, Args args) {
  auto clock = host_clock(args.u32(0));
  if (!clock) return Errno::inval;
  struct timespec resolution {};
  if (::clock_getres(*clock, &resolution) != 0) return errno_now();
  std::uint64_t ns = to_timestamp(resolution);
  if (ns == 0) ns = 1;  // the witx requires a non-zero resolution
  return guest.store<std::uint64_t>(args.u32(1), ns) ? Errno::success : Errno::fault;
}

Errno clock_time_get(WasiContext&, Guest& guest, Args args) {
  auto clock = host_clock(args.u32(0));
  if (!clock) return Errno::inval;
  if (!guest.writable(args.u32(2), 8)) return Errno::fault;
  struct timespec now {};
  if (::clock_gettime(*clock, &now) != 0) return errno_now();
  guest.store<std::uint64_t>(args.u32(2), to_timestamp(now));
  return Errno::success;
}

Errno random_get(WasiContext&, Guest& guest, Args args) {
  auto buffer = guest.bytes(args.u32(0), args.u32(1));
  if (!buffer) return Errno::fault;
  std::size_t filled = 0;
  while (filled < buffer->size()) {
    ssize_t n = ::getrandom(buffer->data() + filled, buffer->size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_now();
    }
    filled += static_cast<std::size_t>(n);
  }
  return Errno::success;
}

// Signals have no meaning for a sandboxed instance; raising one on the host would hit berth.
Errno proc_raise(WasiContext&, Guest&, Args) { return Errno::nosys; }

Errno sched_yield(WasiContext&, Guest&, Args) {
  if (::sched_yield() != 0) return errno_now();
  return Errno::success;
}

}  // namespace berth::wasm::wasi
