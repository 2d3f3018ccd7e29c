// Signals in the CLI: names as people type them, and forwarding what the CLI receives.
#pragma once

#include <signal.h>

#include <array>
#include <string_view>

#include "berth/error.hpp"
#include "common/signal_names.hpp"

namespace berth::cli {

using berth::parse_signal;

// While alive, SIGINT, SIGTERM and SIGHUP sent to the CLI are caught (not fatal) and kept for
// take(), so an attached `run` can pass them on to its workload. Restores the old handlers.
class CaughtSignals {
 public:
  CaughtSignals();
  ~CaughtSignals();
  CaughtSignals(const CaughtSignals&) = delete;
  CaughtSignals& operator=(const CaughtSignals&) = delete;

  // The next signal caught since the last call, or 0.
  int take();

 private:
  static constexpr std::array<int, 3> signals_{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> previous_{};
};

}  // namespace berth::cli
