// The state of one WASI guest: its arguments, environment, descriptors (stdio, preopened
// directories and sockets, and what it opens), and how it exited. One context serves one
// instance at a time; it is not shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <berth/error.hpp>

#include "wasm/wasi/fd_table.hpp"
#include "wasm/wasi/sandbox_path.hpp"

namespace berth::wasm::wasi {

struct Preopen {
  std::string host_path;   // a directory on the host
  std::string guest_path;  // what fd_prestat_dir_name tells the guest, e.g. "/data" or "."
};

struct WasiConfig {
  std::vector<std::string> args;  // args[0] is the program name
  std::vector<std::string> env;   // "KEY=value"
  std::vector<Preopen> preopens;  // numbered from 3 in this order
  // Already-open sockets (listening or connected) the guest may use, numbered after the
  // preopened directories. Duplicated; the caller keeps its descriptors.
  // TODO(policy): an allow-list of peers for accepted/connected sockets hooks in here.
  std::vector<int> preopened_sockets;
  // Host descriptors for the guest's 0, 1, 2; duplicated (the caller keeps its own).
  // -1 means /dev/null.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
  PathStrategy path_strategy = PathStrategy::automatic;
  std::uint32_t max_fds = 1024;
};

class WasiContext {
 public:
  // Fails naming the preopen or descriptor that could not be opened or duplicated.
  static Result<std::shared_ptr<WasiContext>> create(WasiConfig config);

  const std::vector<std::string>& args() const { return args_; }
  const std::vector<std::string>& env() const { return env_; }
  FdTable& fds() { return fds_; }
  PathStrategy path_strategy() const { return path_strategy_; }

  // Set by proc_exit.
  std::optional<int> exit_code() const { return exit_code_; }
  void record_exit(int code) { exit_code_ = code; }

 private:
  WasiContext(std::uint32_t max_fds) : fds_(max_fds) {}

  std::vector<std::string> args_;
  std::vector<std::string> env_;
  FdTable fds_;
  PathStrategy path_strategy_ = PathStrategy::automatic;
  std::optional<int> exit_code_;
};

}  // namespace berth::wasm::wasi
