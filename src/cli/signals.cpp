#include "cli/signals.hpp"

#include <atomic>
#include <cctype>
#include <charconv>
#include <fmt/format.h>
#include <string>
#include <utility>

namespace berth::cli {

namespace {

// One pending flag per forwarded signal: a burst of different signals loses none of them.
std::atomic<bool> pending[NSIG];
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void remember_signal(int sig) { pending[sig].store(true); }

}  // namespace


CaughtSignals::CaughtSignals() {
  struct sigaction sa{};
  sa.sa_handler = remember_signal;
  sa.sa_flags = SA_RESTART;  // calls into the runtime carry on; the pending flag is polled
  sigemptyset(&sa.sa_mask);
  for (std::size_t i = 0; i < signals_.size(); ++i) {
    pending[signals_[i]].store(false);
    ::sigaction(signals_[i], &sa, &previous_[i]);
  }
}

CaughtSignals::~CaughtSignals() {
  for (std::size_t i = 0; i < signals_.size(); ++i) ::sigaction(signals_[i], &previous_[i], nullptr);
}

int CaughtSignals::take() {
  for (int sig : signals_)
    if (pending[sig].exchange(false)) return sig;
  return 0;
}

}  // namespace berth::cli
