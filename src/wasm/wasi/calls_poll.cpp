// poll_oneoff: clock subscriptions (relative or absolute, on the realtime or monotonic clock)
// and fd_read / fd_write readiness through ppoll(2). Regular files are always ready, as the
// witx says.
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <climits>

#include "wasm/wasi/calls.hpp"

namespace berth::wasm::wasi {
namespace {

std::uint64_t now_ns(clockid_t clock) {
  struct timespec t {};
  ::clock_gettime(clock, &t);  // cannot fail for these clocks
  return to_timestamp(t);
}

struct Event {
  std::uint64_t userdata = 0;
  Errno error = Errno::success;
  EventType type = EventType::clock;
  std::uint64_t nbytes = 0;
  std::uint16_t flags = 0;
};

struct Pending {
  std::uint64_t userdata = 0;
  EventType type = EventType::clock;
  std::uint64_t deadline = 0;  // monotonic ns, for clocks
  int host_fd = -1;            // for fd events
  std::size_t poll_index = 0;
};

void store_event(Guest& guest, std::uint64_t at, const Event& event) {
  std::uint8_t record[layout::event_size] = {};
  std::memcpy(record, &event.userdata, 8);
  auto error = static_cast<std::uint16_t>(event.error);
  std::memcpy(record + 8, &error, 2);
  record[10] = static_cast<std::uint8_t>(event.type);
  std::memcpy(record + 16, &event.nbytes, 8);
  std::memcpy(record + 24, &event.flags, 2);
  guest.store_bytes(at, record, sizeof record);
}

}  // namespace

Errno poll_oneoff(WasiContext& context, Guest& guest, Args args) {
  std::uint32_t in = args.u32(0);
  std::uint32_t out = args.u32(1);
  std::uint32_t count = args.u32(2);
  std::uint32_t result_at = args.u32(3);
  if (count == 0) return Errno::inval;
  auto subscriptions = guest.bytes(in, std::uint64_t{count} * layout::subscription_size);
  if (!subscriptions) return Errno::fault;
  if (!guest.writable(out, std::uint64_t{count} * layout::event_size)) return Errno::fault;
  if (!guest.writable(result_at, 4)) return Errno::fault;
  // Copy the subscriptions: `in` and `out` may overlap.
  std::vector<std::uint8_t> records(subscriptions->begin(), subscriptions->end());

  std::vector<Event> ready;       // events known without waiting
  std::vector<Pending> pending;   // clocks and fds to wait for
  std::vector<struct pollfd> polled;
  std::optional<std::uint64_t> earliest;  // monotonic ns
  std::uint64_t start = now_ns(CLOCK_MONOTONIC);

  for (std::uint32_t i = 0; i < count; ++i) {
    const std::uint8_t* record = records.data() + std::size_t{i} * layout::subscription_size;
    std::uint64_t userdata = 0;
    std::memcpy(&userdata, record, 8);
    auto tag = static_cast<EventType>(record[8]);
    if (tag == EventType::clock) {
      std::uint32_t id = 0;
      std::uint64_t timeout = 0;
      std::uint16_t flags = 0;
      std::memcpy(&id, record + 16, 4);
      std::memcpy(&timeout, record + 24, 8);
      std::memcpy(&flags, record + 40, 2);
      std::uint64_t deadline;
      bool absolute = flags & subclock_abstime;
      if (id == static_cast<std::uint32_t>(ClockId::monotonic)) {
        deadline = absolute ? timeout : start + std::min(timeout, UINT64_MAX - start);
      } else if (id == static_cast<std::uint32_t>(ClockId::realtime)) {
        std::uint64_t real = now_ns(CLOCK_REALTIME);
        std::uint64_t wait = absolute ? (timeout > real ? timeout - real : 0) : timeout;
        deadline = start + std::min(wait, UINT64_MAX - start);
      } else {
        // Waiting on CPU-time clocks is not supported (nor by wasmtime).
        ready.push_back({userdata, Errno::inval, EventType::clock});
        continue;
      }
      pending.push_back({userdata, EventType::clock, deadline});
      earliest = earliest ? std::min(*earliest, deadline) : deadline;
    } else if (tag == EventType::fd_read || tag == EventType::fd_write) {
      std::uint32_t fd = 0;
      std::memcpy(&fd, record + 16, 4);
      Rights needed = right::poll_fd_readwrite |
                      (tag == EventType::fd_read ? right::fd_read : right::fd_write);
      auto entry = context.fds().get(fd, needed);
      if (!entry) {
        ready.push_back({userdata, entry.error(), tag});
        continue;
      }
      if ((*entry)->type == Filetype::regular_file) {
        Event event{userdata, Errno::success, tag};
        if (tag == EventType::fd_read) {
          struct stat st {};
          off_t position = ::lseek((*entry)->host.get(), 0, SEEK_CUR);
          if (::fstat((*entry)->host.get(), &st) == 0 && position >= 0 && st.st_size > position) {
            event.nbytes = static_cast<std::uint64_t>(st.st_size - position);
          }
        }
        ready.push_back(event);
        continue;
      }
      Pending wait{userdata, tag, 0, (*entry)->host.get(), polled.size()};
      polled.push_back({wait.host_fd, static_cast<short>(tag == EventType::fd_read ? POLLIN : POLLOUT), 0});
      pending.push_back(wait);
    } else {
      ready.push_back({userdata, Errno::inval, tag});
    }
  }

  std::vector<Event> events = ready;
  for (;;) {
    // Wait only when nothing is ready yet.
    std::optional<struct timespec> timeout;
    std::uint64_t now = now_ns(CLOCK_MONOTONIC);
    if (!events.empty()) {
      timeout = timespec{0, 0};
    } else if (earliest) {
      std::uint64_t left = *earliest > now ? *earliest - now : 0;
      timeout = timespec{static_cast<time_t>(std::min<std::uint64_t>(left / 1'000'000'000u, INT_MAX)),
                         static_cast<long>(left % 1'000'000'000u)};
    }
    int n = 0;
    if (!polled.empty() || !events.empty() || timeout) {
      n = ::ppoll(polled.data(), polled.size(), timeout ? &*timeout : nullptr, nullptr);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_now();
      }
    } else {
      return Errno::inval;  // nothing to wait for can ever happen
    }
    now = now_ns(CLOCK_MONOTONIC);
    for (const Pending& wait : pending) {
      if (wait.type == EventType::clock) {
        if (now >= wait.deadline) events.push_back({wait.userdata, Errno::success, EventType::clock});
        continue;
      }
      short revents = polled[wait.poll_index].revents;
      if (revents == 0) continue;
      Event event{wait.userdata, Errno::success, wait.type};
      if (revents & POLLNVAL) {
        event.error = Errno::badf;
      } else if (revents & POLLERR) {
        event.error = Errno::io;
      } else {
        if (revents & POLLHUP) event.flags |= event_fd_readwrite_hangup;
        int available = 0;
        if (wait.type == EventType::fd_read && ::ioctl(wait.host_fd, FIONREAD, &available) == 0 &&
            available > 0) {
          event.nbytes = static_cast<std::uint64_t>(available);
        }
      }
      events.push_back(event);
    }
    if (!events.empty()) break;
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    store_event(guest, out + i * std::uint64_t{layout::event_size}, events[i]);
  }
  guest.store<std::uint32_t>(result_at, static_cast<std::uint32_t>(events.size()));
  return Errno::success;
}

}  // namespace berth::wasm::wasi
