// berth's runtime support for wasm2c-generated code: the wasm_rt_* functions the generated
// code calls (exported from the host executable, see runtime_symbols.list), with trap state,
// call depth and deadlines per thread, linear memories reserved with guard pages, and a
// SIGSEGV/SIGBUS handler on a per-thread alternate stack.
#pragma once

#include "wasm/engine.hpp"

#include <chrono>
#include <cstdint>
#include <optional>

namespace berth::wasm::aot {

// The uniform signature of berth's glue around generated code.
using GuestEntry = void (*)(void* instance, std::uint64_t* slots);

// Trap codes beyond wasm_rt_trap_t's, carried through siglongjmp.
inline constexpr int kTrapDeadline = 100;
inline constexpr int kTrapHost = 101;         // a host function failed: see take_host_trap()
inline constexpr int kTrapMemoryLimit = 102;  // memory allocation beyond the instance's limit
inline constexpr int kTrapResources = 103;    // mmap/calloc failed

// Installs the signal handlers (once per process) and this thread's alternate signal stack.
void ensure_runtime();

// Runs entry(instance, slots) as guest code; returns 0, or the trap code that unwound it.
// Nests (host functions may call back into guests). The outermost call arms `deadline`.
int invoke(GuestEntry entry, void* instance, std::uint64_t* slots,
           std::optional<std::chrono::nanoseconds> deadline);

// While alive, the thread runs host code: a deadline is deferred until the scope ends.
class HostScope {
 public:
  HostScope();
  ~HostScope();
  HostScope(const HostScope&) = delete;
  HostScope& operator=(const HostScope&) = delete;
  // After the host code returned: the trap code the guest must unwind with (a deadline
  // that passed meanwhile), or 0.
  int pending_trap() const;
};

// The trap a host function returned (kTrapHost), stashed per thread until the call unwinds.
void stash_host_trap(Trap trap);
Trap take_host_trap();

// The memory limit applied to memories the calling thread allocates until the scope ends.
class MemoryLimitScope {
 public:
  explicit MemoryLimitScope(std::uint64_t bytes);
  ~MemoryLimitScope();
  MemoryLimitScope(const MemoryLimitScope&) = delete;
  MemoryLimitScope& operator=(const MemoryLimitScope&) = delete;

 private:
  std::uint32_t saved_;
};

Trap trap_from_code(int code);

}  // namespace berth::wasm::aot
