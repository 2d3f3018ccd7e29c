// The Wasm start benchmarks' module: a WASI command whose _start returns at once, with the
// imports a libc program has (so WASI set-up is not skipped) and a 1 MiB memory as clang's
// default layout has. Shared so the benchmarks measure the same thing.
#pragma once

#include "lifecycle_bench.hpp"

namespace berth::bench {

inline constexpr const char* kEmptyWasiCommand = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func (param i32 i32) (result i32)))
  (memory (export "memory") 16)
  (func (export "_start")))
)";

inline bool have_node() { return run_quietly({"node", "--version"}) == 0; }

}  // namespace berth::bench
