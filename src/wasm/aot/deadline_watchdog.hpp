// Deadlines for guest calls without a syscall per call. One watchdog thread for the process
// ticks every millisecond while any thread has a deadline armed (and for a while after, so
// back-to-back calls never wake it); a thread arms by storing its deadline and disarms by
// clearing it. When a deadline passes, the watchdog sends the thread `signal` once; the
// thread's handler asks deadline_passed() before acting, so a signal that lands after the
// call ended, or in the next call, is ignored. Precision: about one tick.
//
// A per-thread POSIX timer armed and disarmed around every call cost two timer_settime
// syscalls per call, most of a pooled call's overhead.
#pragma once

#include <chrono>

namespace berth::wasm::aot {

// Arms this thread's deadline `from_now` from now; `signal` is what the watchdog sends.
void arm_thread_deadline(std::chrono::nanoseconds from_now, int signal);
void disarm_thread_deadline();
// Async-signal-safe: this thread has an armed deadline and it has passed.
bool thread_deadline_passed();

}  // namespace berth::wasm::aot
