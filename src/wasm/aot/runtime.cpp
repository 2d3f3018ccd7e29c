// berth's implementation of the wasm_rt_* interface (replacing wabt's sample wasm-rt-impl.c,
// whose trap state is one process-global jmp_buf). See runtime.hpp.
#include "wasm/aot/runtime.hpp"

#include "wasm/aot/deadline_watchdog.hpp"

// Types and prototypes come from wabt's wasm-rt.h; the call depth counter is declared here
// instead, thread-local (generated code sees it through berth's copy of the header).
#define WASM_RT_MEMCHECK_SIGNAL_HANDLER 1
#define WASM_RT_USE_STACK_DEPTH_COUNT 0
#include <wasm-rt.h>

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

extern "C" {
constinit thread_local std::uint32_t wasm_rt_call_stack_depth = 0;
}

namespace berth::wasm::aot {
namespace {

constexpr std::uint64_t kPageBytes = 65536;
constexpr std::uint64_t kMaxPages = 65536;
// Any wasm32 access is base + u32 address + u32 offset (+ width): 8 GiB covers them all.
constexpr std::uint64_t kReservationBytes = 8ull << 30;
constexpr std::size_t kMaxReservations = 16384;  // 128 TiB of address space / 8 GiB
constexpr std::uint32_t kMaxTableElements = 10'000'000;

// Live linear-memory reservations, read by the fault handler (so: lock-free slots).
std::atomic<std::uintptr_t> g_reservations[kMaxReservations];
std::atomic<std::uint32_t> g_limit_pages[kMaxReservations];
std::atomic<std::size_t> g_reservation_high_water{0};

// Per-thread state the signal handlers read: trivially constructed, constant-initialized.
constinit thread_local sigjmp_buf* t_jmp = nullptr;
constinit thread_local volatile int t_guest_depth = 0;  // active invoke()s
constinit thread_local volatile int t_host_depth = 0;   // host code / runtime critical sections
constinit thread_local volatile int t_deadline_armed = 0;
constinit thread_local volatile int t_deadline_pending = 0;
constinit thread_local std::uintptr_t t_stack_low = 0;
constinit thread_local std::uint32_t t_memory_limit_pages = kMaxPages;

struct sigaction g_previous_segv;
struct sigaction g_previous_bus;
std::once_flag g_install_once;
std::atomic<bool> g_initialized{false};

int deadline_signal() { return SIGRTMIN + 4; }

bool in_reservation(std::uintptr_t address) {
  std::size_t n = g_reservation_high_water.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    std::uintptr_t base = g_reservations[i].load(std::memory_order_acquire);
    if (base != 0 && address >= base && address - base < kReservationBytes) return true;
  }
  return false;
}

void chain(int signal, siginfo_t* info, void* context) {
  const struct sigaction& previous = signal == SIGSEGV ? g_previous_segv : g_previous_bus;
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction != nullptr) {
      previous.sa_sigaction(signal, info, context);
      return;
    }
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal);
    return;
  }
  // Default action: reinstate it; the faulting instruction runs again and ends the process.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(signal, &dfl, nullptr);
}

void fault_handler(int signal, siginfo_t* info, void* context) {
  auto address = reinterpret_cast<std::uintptr_t>(info->si_addr);
  if (t_guest_depth > 0 && t_host_depth == 0 && t_jmp != nullptr) {
    if (in_reservation(address)) siglongjmp(*t_jmp, WASM_RT_TRAP_OOB);
    // A fault just below this thread's stack: guest recursion overran it (the depth counter
    // bounds frames by count; this bounds them by bytes).
    if (t_stack_low != 0 && address < t_stack_low + (256u << 10) && address + (1u << 20) >= t_stack_low)
      siglongjmp(*t_jmp, WASM_RT_TRAP_EXHAUSTION);
  }
  chain(signal, info, context);
}

void deadline_handler(int, siginfo_t*, void*) {
  // A late signal (the call it was for has ended, or is the next one) is ignored.
  if (!t_deadline_armed || !thread_deadline_passed()) return;
  if (t_guest_depth > 0 && t_host_depth == 0 && t_jmp != nullptr) siglongjmp(*t_jmp, kTrapDeadline);
  t_deadline_pending = 1;  // in host code: the guest unwinds when it returns
}

void install_handlers() {
  struct sigaction action {};
  action.sa_sigaction = fault_handler;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSEGV, &action, &g_previous_segv) != 0 || sigaction(SIGBUS, &action, &g_previous_bus) != 0) {
    std::perror("berth wasm runtime: sigaction");
    std::abort();
  }
  struct sigaction timer {};
  timer.sa_sigaction = deadline_handler;
  // SA_NODEFER, like the fault handler: entering it changes no signal mask, so the jump out of
  // it needs none restored, and run_guest's sigsetjmp saves none (a syscall per call saved).
  timer.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER;
  sigemptyset(&timer.sa_mask);
  if (sigaction(deadline_signal(), &timer, nullptr) != 0) {
    std::perror("berth wasm runtime: sigaction");
    std::abort();
  }
}

// What each thread that runs guest code owns: its alternate signal stack; its deadline is armed
// with the process's watchdog (deadline_watchdog.hpp).
class ThreadState {
 public:
  ThreadState() {
    altstack_size_ = std::max<std::size_t>(SIGSTKSZ, 64u << 10);
    void* stack = mmap(nullptr, altstack_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack != MAP_FAILED) {
      stack_t ss{};
      ss.ss_sp = stack;
      ss.ss_size = altstack_size_;
      if (sigaltstack(&ss, nullptr) == 0) {
        altstack_ = stack;
      } else {
        munmap(stack, altstack_size_);
      }
    }
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      void* low = nullptr;
      std::size_t size = 0;
      if (pthread_attr_getstack(&attr, &low, &size) == 0) t_stack_low = reinterpret_cast<std::uintptr_t>(low);
      pthread_attr_destroy(&attr);
    }
  }
  ~ThreadState() {
    if (altstack_ != nullptr) {
      stack_t ss{};
      ss.ss_flags = SS_DISABLE;
      if (sigaltstack(&ss, nullptr) == 0) munmap(altstack_, altstack_size_);
    }
  }
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;

  void arm(std::chrono::nanoseconds deadline) {
    t_deadline_pending = 0;
    t_deadline_armed = 1;
    arm_thread_deadline(deadline, deadline_signal());
  }
  void disarm() {
    disarm_thread_deadline();
    t_deadline_armed = 0;
    t_deadline_pending = 0;
  }

 private:
  void* altstack_ = nullptr;
  std::size_t altstack_size_ = 0;
};

ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

thread_local std::optional<Trap> t_host_trap;

// Runtime functions that take locks or allocate run as host code: a deadline never unwinds
// through them; it lands when they are done.
void enter_critical() { t_host_depth = t_host_depth + 1; std::atomic_signal_fence(std::memory_order_seq_cst); }
void leave_critical() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_host_depth = t_host_depth - 1;
  if (t_host_depth == 0 && t_guest_depth > 0 && t_deadline_pending) wasm_rt_trap(static_cast<wasm_rt_trap_t>(kTrapDeadline));
}

[[gnu::noinline]] int run_guest(GuestEntry entry, void* instance, std::uint64_t* slots) {
  sigjmp_buf buffer;
  sigjmp_buf* const saved_jmp = t_jmp;
  const std::uint32_t saved_depth = wasm_rt_call_stack_depth;
  const int saved_host = t_host_depth;
  int code = sigsetjmp(buffer, 0);  // no mask to restore: both handlers are SA_NODEFER
  if (code == 0) {
    t_jmp = &buffer;
    t_host_depth = 0;
    t_guest_depth = t_guest_depth + 1;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (t_deadline_pending) siglongjmp(buffer, kTrapDeadline);
    entry(instance, slots);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  t_guest_depth = t_guest_depth - 1;
  t_jmp = saved_jmp;
  t_host_depth = saved_host;
  wasm_rt_call_stack_depth = saved_depth;
  return code;
}

int register_reservation(std::uintptr_t base, std::uint32_t limit_pages) {
  for (std::size_t i = 0; i < kMaxReservations; ++i) {
    std::uintptr_t expected = 0;
    if (g_reservations[i].compare_exchange_strong(expected, base, std::memory_order_acq_rel)) {
      // Only the slot's owner writes its limit (grow reads it only after allocate returned).
      g_limit_pages[i].store(limit_pages, std::memory_order_release);
      std::size_t high = g_reservation_high_water.load(std::memory_order_relaxed);
      while (high < i + 1 && !g_reservation_high_water.compare_exchange_weak(high, i + 1)) {
      }
      return static_cast<int>(i);
    }
  }
  return -1;
}

int find_reservation(std::uintptr_t base) {
  std::size_t n = g_reservation_high_water.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i)
    if (g_reservations[i].load(std::memory_order_acquire) == base) return static_cast<int>(i);
  return -1;
}

}  // namespace

void ensure_runtime() {
  std::call_once(g_install_once, [] {
    install_handlers();
    g_initialized = true;
  });
  (void)thread_state();
}

int invoke(GuestEntry entry, void* instance, std::uint64_t* slots,
           std::optional<std::chrono::nanoseconds> deadline) {
  ensure_runtime();
  bool armed = deadline.has_value() && t_guest_depth == 0;
  if (armed) thread_state().arm(*deadline);
  int code = run_guest(entry, instance, slots);
  if (armed) thread_state().disarm();
  return code;
}

HostScope::HostScope() { t_host_depth = t_host_depth + 1; std::atomic_signal_fence(std::memory_order_seq_cst); }
HostScope::~HostScope() { std::atomic_signal_fence(std::memory_order_seq_cst); t_host_depth = t_host_depth - 1; }
int HostScope::pending_trap() const { return t_deadline_pending && t_guest_depth > 0 ? kTrapDeadline : 0; }

void stash_host_trap(Trap trap) { t_host_trap = std::move(trap); }
Trap take_host_trap() {
  Trap trap = t_host_trap.value_or(Trap{TrapKind::host_error, "host function failed"});
  t_host_trap.reset();
  return trap;
}

MemoryLimitScope::MemoryLimitScope(std::uint64_t bytes) : saved_(t_memory_limit_pages) {
  t_memory_limit_pages = static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes / kPageBytes, kMaxPages));
}
MemoryLimitScope::~MemoryLimitScope() { t_memory_limit_pages = saved_; }

Trap trap_from_code(int code) {
  switch (code) {
    case WASM_RT_TRAP_OOB: return {TrapKind::memory_out_of_bounds, "out of bounds memory access"};
    case WASM_RT_TRAP_INT_OVERFLOW: return {TrapKind::integer_overflow, "integer overflow"};
    case WASM_RT_TRAP_DIV_BY_ZERO: return {TrapKind::integer_divide_by_zero, "integer divide by zero"};
    case WASM_RT_TRAP_INVALID_CONVERSION: return {TrapKind::invalid_conversion, "invalid conversion to integer"};
    case WASM_RT_TRAP_UNREACHABLE: return {TrapKind::unreachable, "unreachable"};
    case WASM_RT_TRAP_CALL_INDIRECT:
      return {TrapKind::indirect_call_type_mismatch, "indirect call: undefined element or type mismatch"};
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return {TrapKind::host_error, "uncaught exception"};
    case WASM_RT_TRAP_EXHAUSTION: return {TrapKind::call_stack_exhausted, "call stack exhausted"};
    case kTrapDeadline: return {TrapKind::deadline_exceeded, "deadline exceeded"};
    case kTrapHost: return take_host_trap();
    case kTrapMemoryLimit: return {TrapKind::memory_limit, "memory needed exceeds the instance's memory limit"};
    case kTrapResources: return {TrapKind::host_error, "out of host memory or address space"};
    default: return {TrapKind::host_error, "unknown trap " + std::to_string(code)};
  }
}

}  // namespace berth::wasm::aot

// ---- the wasm_rt_* interface (extern "C", exported to generated code) ----

using namespace berth::wasm::aot;

namespace {
std::mutex g_types_mutex;
std::vector<std::vector<wasm_rt_type_t>> g_types;
constinit thread_local void* t_unwind_target = nullptr;
constinit thread_local std::uint32_t t_exception_tag = 0;
}  // namespace

extern "C" {

void wasm_rt_init(void) { ensure_runtime(); }
bool wasm_rt_is_initialized(void) { return g_initialized.load(); }
void wasm_rt_free(void) {}

void wasm_rt_trap(wasm_rt_trap_t code) {
  if (t_jmp == nullptr) {
    std::fprintf(stderr, "berth wasm runtime: trap %d outside guest code\n", static_cast<int>(code));
    std::abort();
  }
  siglongjmp(*t_jmp, static_cast<int>(code));
}

const char* wasm_rt_strerror(wasm_rt_trap_t trap) {
  static thread_local std::string text;
  text = trap_from_code(trap).message;
  return text.c_str();
}

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  std::vector<wasm_rt_type_t> signature;
  signature.reserve(params + results + 1);
  signature.push_back(static_cast<wasm_rt_type_t>(params));  // separates params from results
  va_list args;
  va_start(args, results);
  for (uint32_t i = 0; i < params + results; ++i) signature.push_back(static_cast<wasm_rt_type_t>(va_arg(args, int)));
  va_end(args);
  std::lock_guard lock(g_types_mutex);
  for (std::size_t i = 0; i < g_types.size(); ++i)
    if (g_types[i] == signature) return static_cast<uint32_t>(i + 1);
  g_types.push_back(std::move(signature));
  return static_cast<uint32_t>(g_types.size());  // 0 is no type (the null funcref's)
}

uint32_t wasm_rt_register_tag(uint32_t) {
  static std::atomic<uint32_t> next{0};
  return next++;
}
void wasm_rt_load_exception(uint32_t tag, uint32_t, const void*) { t_exception_tag = tag; }
void wasm_rt_throw(void) { wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION); }
WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void) { return static_cast<WASM_RT_UNWIND_TARGET*>(t_unwind_target); }
void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET* target) { t_unwind_target = target; }
uint32_t wasm_rt_exception_tag(void) { return t_exception_tag; }
uint32_t wasm_rt_exception_size(void) { return 0; }
void* wasm_rt_exception(void) { return nullptr; }

}  // extern "C"

namespace {

// Freed linear-memory reservations kept for the next instance: mapping and unmapping 8 GiB
// regions for every short-lived instance serialises threads on the address space's lock (a
// fresh instance per call was mostly that). A kept reservation reads as zero and is protected
// past the next instance's size, so it is indistinguishable from a new one.
//
// A small memory (most handlers and functions: a few 64 KiB pages) is zeroed with memset and
// stays accessible: dropping its pages with madvise costs a TLB shootdown on every core that
// ran this process plus a page fault per page on the next instance, several times the memset.
// A large one has its pages dropped and goes back to PROT_NONE.
constexpr std::size_t kKeptReservations = 32;
constexpr std::uint64_t kZeroInPlaceBytes = 1u << 20;
struct KeptReservation {
  void* base;
  std::uint64_t accessible_bytes;  // [base, base + this) is read-write and zero
};
std::mutex g_kept_mutex;
std::vector<KeptReservation> g_kept;

// A reservation whose first `bytes` are read-write and zero and the rest PROT_NONE; null when
// none could be made.
void* take_reservation(std::uint64_t bytes) {
  std::optional<KeptReservation> kept;
  {
    std::lock_guard lock(g_kept_mutex);
    if (!g_kept.empty()) {
      // Prefer one already the right size: no mprotect at all.
      auto same = std::find_if(g_kept.begin(), g_kept.end(), [&](auto& k) { return k.accessible_bytes == bytes; });
      if (same == g_kept.end()) same = g_kept.end() - 1;
      kept = *same;
      *same = g_kept.back();
      g_kept.pop_back();
    }
  }
  if (kept) {
    auto* base = static_cast<std::uint8_t*>(kept->base);
    int rc = 0;
    if (kept->accessible_bytes > bytes)
      rc = mprotect(base + bytes, kept->accessible_bytes - bytes, PROT_NONE);
    else if (kept->accessible_bytes < bytes)
      rc = mprotect(base + kept->accessible_bytes, bytes - kept->accessible_bytes, PROT_READ | PROT_WRITE);
    if (rc == 0) return base;
    munmap(base, kReservationBytes);
  }
  void* base = mmap(nullptr, kReservationBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  if (bytes > 0 && mprotect(base, bytes, PROT_READ | PROT_WRITE) != 0) {
    munmap(base, kReservationBytes);
    return nullptr;
  }
  return base;
}

// `used_bytes` at the start of `base` are read-write (and dirty); the rest is PROT_NONE.
void give_back_reservation(void* base, std::uint64_t used_bytes) {
  std::uint64_t accessible = used_bytes;
  bool clean = true;
  if (used_bytes <= kZeroInPlaceBytes) {
    std::memset(base, 0, used_bytes);
  } else {
    clean = madvise(base, used_bytes, MADV_DONTNEED) == 0 && mprotect(base, used_bytes, PROT_NONE) == 0;
    accessible = 0;
  }
  if (clean) {
    std::lock_guard lock(g_kept_mutex);
    if (g_kept.size() < kKeptReservations) {
      g_kept.push_back({base, accessible});
      return;
    }
  }
  if (munmap(base, kReservationBytes) != 0) std::perror("berth wasm runtime: munmap");
}

}  // namespace

extern "C" {

void wasm_rt_allocate_memory(wasm_rt_memory_t* memory, uint32_t initial_pages, uint32_t max_pages) {
  enter_critical();
  std::uint32_t limit = std::min<std::uint64_t>({t_memory_limit_pages, max_pages, kMaxPages});
  memory->data = nullptr;
  memory->pages = 0;
  memory->size = 0;
  memory->max_pages = max_pages;
  if (initial_pages > limit) {
    leave_critical();
    wasm_rt_trap(static_cast<wasm_rt_trap_t>(kTrapMemoryLimit));
  }
  void* base = take_reservation(std::uint64_t{initial_pages} * kPageBytes);
  bool ok = base != nullptr;
  if (ok && register_reservation(reinterpret_cast<std::uintptr_t>(base), limit) < 0) {
    give_back_reservation(base, initial_pages * kPageBytes);
    ok = false;
  }
  if (!ok) {
    leave_critical();
    wasm_rt_trap(static_cast<wasm_rt_trap_t>(kTrapResources));
  }
  memory->data = static_cast<uint8_t*>(base);
  memory->pages = initial_pages;
  memory->size = static_cast<uint32_t>(initial_pages * kPageBytes);
  leave_critical();
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* memory, uint32_t delta) {
  enter_critical();
  uint32_t old_pages = memory->pages;
  uint32_t result = old_pages;
  int slot = find_reservation(reinterpret_cast<std::uintptr_t>(memory->data));
  std::uint64_t new_pages = std::uint64_t{old_pages} + delta;
  std::uint64_t limit = slot < 0 ? 0 : std::min<std::uint64_t>(g_limit_pages[slot].load(), memory->max_pages);
  if (delta == 0) {
    result = old_pages;
  } else if (slot < 0 || new_pages > limit) {
    result = UINT32_MAX;
  } else if (mprotect(memory->data + old_pages * kPageBytes, std::uint64_t{delta} * kPageBytes,
                      PROT_READ | PROT_WRITE) != 0) {
    result = UINT32_MAX;
  } else {
    memory->pages = static_cast<uint32_t>(new_pages);
    memory->size = static_cast<uint32_t>(new_pages * kPageBytes);
  }
  leave_critical();
  return result;
}

void wasm_rt_free_memory(wasm_rt_memory_t* memory) {
  if (memory->data == nullptr) return;
  int slot = find_reservation(reinterpret_cast<std::uintptr_t>(memory->data));
  if (slot >= 0) {
    g_reservations[slot].store(0, std::memory_order_release);
    give_back_reservation(memory->data, std::uint64_t{memory->pages} * kPageBytes);
  }
  memory->data = nullptr;
  memory->pages = 0;
  memory->size = 0;
}

}  // extern "C"

namespace {

template <typename Table, typename Element>
void allocate_table(Table* table, uint32_t elements, uint32_t max_elements) {
  enter_critical();
  table->data = nullptr;
  table->size = 0;
  table->max_size = max_elements;
  if (elements > kMaxTableElements) {
    leave_critical();
    wasm_rt_trap(static_cast<wasm_rt_trap_t>(kTrapResources));
  }
  if (elements > 0) {
    table->data = static_cast<Element*>(std::calloc(elements, sizeof(Element)));
    if (table->data == nullptr) {
      leave_critical();
      wasm_rt_trap(static_cast<wasm_rt_trap_t>(kTrapResources));
    }
  }
  table->size = elements;
  leave_critical();
}

template <typename Table, typename Element>
uint32_t grow_table(Table* table, uint32_t delta, Element init) {
  enter_critical();
  uint32_t old_size = table->size;
  uint32_t result = old_size;
  std::uint64_t new_size = std::uint64_t{old_size} + delta;
  if (delta != 0) {
    if (new_size > table->max_size || new_size > kMaxTableElements) {
      result = UINT32_MAX;
    } else if (auto* data = static_cast<Element*>(std::realloc(table->data, new_size * sizeof(Element)))) {
      for (std::uint64_t i = old_size; i < new_size; ++i) data[i] = init;
      table->data = data;
      table->size = static_cast<uint32_t>(new_size);
    } else {
      result = UINT32_MAX;
    }
  }
  leave_critical();
  return result;
}

}  // namespace

extern "C" {

void wasm_rt_allocate_funcref_table(wasm_rt_funcref_table_t* table, uint32_t elements, uint32_t max_elements) {
  allocate_table<wasm_rt_funcref_table_t, wasm_rt_funcref_t>(table, elements, max_elements);
}
void wasm_rt_allocate_externref_table(wasm_rt_externref_table_t* table, uint32_t elements, uint32_t max_elements) {
  allocate_table<wasm_rt_externref_table_t, wasm_rt_externref_t>(table, elements, max_elements);
}
void wasm_rt_free_funcref_table(wasm_rt_funcref_table_t* table) {
  std::free(table->data);
  table->data = nullptr;
  table->size = 0;
}
void wasm_rt_free_externref_table(wasm_rt_externref_table_t* table) {
  std::free(table->data);
  table->data = nullptr;
  table->size = 0;
}
uint32_t wasm_rt_grow_funcref_table(wasm_rt_funcref_table_t* table, uint32_t delta, wasm_rt_funcref_t init) {
  return grow_table(table, delta, init);
}
uint32_t wasm_rt_grow_externref_table(wasm_rt_externref_table_t* table, uint32_t delta, wasm_rt_externref_t init) {
  return grow_table(table, delta, init);
}

}  // extern "C"
