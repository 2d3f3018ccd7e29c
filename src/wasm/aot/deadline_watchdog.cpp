#include "wasm/aot/deadline_watchdog.hpp"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace berth::wasm::aot {
namespace {

constexpr std::int64_t kTickNs = 1'000'000;
// How long the watchdog keeps ticking after the last armed deadline it saw.
constexpr std::int64_t kLingerNs = 200'000'000;

std::int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Watched {
  std::atomic<std::int64_t> deadline_ns{0};  // 0: none armed
  std::atomic<bool> signalled{false};
  std::atomic<int> signal{0};
  pthread_t thread = pthread_self();
};

class Watchdog {
 public:
  // Never destroyed: threads may arm deadlines while the process exits. A forked child has no
  // watchdog thread (and maybe a lock held by a thread that is not there): it gets a new one.
  static Watchdog& instance() {
    static bool at_fork_registered = (pthread_atfork(nullptr, nullptr, [] { current_ = nullptr; }), true);
    (void)at_fork_registered;
    Watchdog* w = current_.load(std::memory_order_acquire);
    if (w != nullptr) return *w;
    static std::mutex creating;
    std::lock_guard lock(creating);
    if (current_.load() == nullptr) current_.store(new Watchdog);
    return *current_.load();
  }

  void add(Watched* w) {
    std::lock_guard lock(registry_mutex_);
    watched_.push_back(w);
  }
  void remove(Watched* w) {
    std::lock_guard lock(registry_mutex_);  // the watchdog signals threads only under this lock
    std::erase(watched_, w);
  }

  // After the deadline is stored: wake the watchdog if it went idle. Both sides use seq_cst, so
  // either this load sees idle, or the watchdog's last scan before idling sees the deadline.
  void wake_if_idle() {
    if (!idle_.load()) return;
    std::lock_guard lock(idle_mutex_);
    idle_.store(false);
    idle_cv_.notify_one();
  }

 private:
  Watchdog() { std::thread([this] { run(); }).detach(); }

  // Signals every thread past its deadline; true if any deadline is armed.
  bool scan(std::int64_t now) {
    bool armed = false;
    std::lock_guard lock(registry_mutex_);
    for (Watched* w : watched_) {
      std::int64_t deadline = w->deadline_ns.load();
      if (deadline == 0) continue;
      armed = true;
      if (now >= deadline && !w->signalled.exchange(true)) pthread_kill(w->thread, w->signal.load());
    }
    return armed;
  }

  [[noreturn]] void run() {
    std::int64_t last_armed = monotonic_ns();
    for (;;) {
      if (idle_.load()) {
        std::unique_lock lock(idle_mutex_);
        idle_cv_.wait(lock, [&] { return !idle_.load(); });
        last_armed = monotonic_ns();
      }
      timespec tick{0, kTickNs};
      nanosleep(&tick, nullptr);
      std::int64_t now = monotonic_ns();
      if (scan(now)) {
        last_armed = now;
      } else if (now - last_armed > kLingerNs) {
        idle_.store(true);
        if (scan(monotonic_ns())) idle_.store(false);  // armed between the two: keep ticking
      }
    }
  }

  std::mutex registry_mutex_;
  std::vector<Watched*> watched_;
  std::mutex idle_mutex_;
  std::condition_variable idle_cv_;
  std::atomic<bool> idle_{true};
  static inline std::atomic<Watchdog*> current_{nullptr};
};

// Registered on a thread's first deadline (again after a fork), unregistered when it ends.
struct ThreadWatch {
  Watched watched;
  Watchdog* registered_with = nullptr;
  Watchdog& watchdog() {
    Watchdog& current = Watchdog::instance();
    if (registered_with != &current) {
      current.add(&watched);
      registered_with = &current;
    }
    return current;
  }
  ~ThreadWatch() {
    if (registered_with != nullptr && registered_with == &Watchdog::instance()) registered_with->remove(&watched);
  }
};

thread_local ThreadWatch t_watch;
// The handler reads this, not t_watch (whose first use from a signal handler would construct it).
constinit thread_local std::atomic<std::int64_t>* t_deadline = nullptr;

}  // namespace

void arm_thread_deadline(std::chrono::nanoseconds from_now, int signal) {
  Watchdog& watchdog = t_watch.watchdog();
  Watched& w = t_watch.watched;
  w.thread = pthread_self();
  t_deadline = &w.deadline_ns;
  w.signal.store(signal, std::memory_order_relaxed);
  w.signalled.store(false, std::memory_order_relaxed);
  w.deadline_ns.store(monotonic_ns() + std::max<std::int64_t>(from_now.count(), 1));
  watchdog.wake_if_idle();
}

void disarm_thread_deadline() { t_watch.watched.deadline_ns.store(0, std::memory_order_release); }

bool thread_deadline_passed() {
  if (t_deadline == nullptr) return false;
  std::int64_t deadline = t_deadline->load();
  return deadline != 0 && monotonic_ns() >= deadline;
}

}  // namespace berth::wasm::aot
