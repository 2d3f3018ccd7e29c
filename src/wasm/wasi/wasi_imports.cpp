#include "wasm/wasi/wasi_imports.hpp"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <climits>

#include "wasm/wasi/calls.hpp"
#include "wasm/wasi/errno_map.hpp"

namespace berth::wasm::wasi {

std::expected<std::string, Errno> Guest::string(std::uint32_t offset, std::uint32_t length) {
  auto view = bytes(offset, length);
  if (!view) return std::unexpected(Errno::fault);
  return std::string(reinterpret_cast<const char*>(view->data()), view->size());
}

std::expected<std::vector<struct iovec>, Errno> Guest::iovecs(std::uint32_t offset,
                                                              std::uint32_t count) {
  if (count > IOV_MAX) return std::unexpected(Errno::inval);
  auto table = bytes(offset, std::uint64_t{count} * layout::iovec_size);
  if (!table) return std::unexpected(Errno::fault);
  std::vector<struct iovec> out;
  out.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint32_t buf = 0;
    std::uint32_t len = 0;
    std::memcpy(&buf, table->data() + i * layout::iovec_size, 4);
    std::memcpy(&len, table->data() + i * layout::iovec_size + 4, 4);
    auto region = bytes(buf, len);
    if (!region) return std::unexpected(Errno::fault);
    out.push_back({region->data(), region->size()});
  }
  return out;
}

Errno errno_now() { return errno_from_host(errno); }

std::uint64_t to_timestamp(const struct timespec& time) {
  if (time.tv_sec < 0) return 0;
  return static_cast<std::uint64_t>(time.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(time.tv_nsec);
}

bool store_filestat(Guest& guest, std::uint32_t offset, const struct stat& st) {
  std::uint8_t record[layout::filestat_size] = {};
  auto put64 = [&](std::size_t at, std::uint64_t value) { std::memcpy(record + at, &value, 8); };
  put64(0, st.st_dev);
  put64(8, st.st_ino);
  record[16] = static_cast<std::uint8_t>(filetype_of(st));
  put64(24, st.st_nlink);
  put64(32, static_cast<std::uint64_t>(st.st_size));
  put64(40, to_timestamp(st.st_atim));
  put64(48, to_timestamp(st.st_mtim));
  put64(56, to_timestamp(st.st_ctim));
  return guest.store_bytes(offset, record, sizeof record);
}

SigpipeGuard::SigpipeGuard() {
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  if (::sigpending(&pending) == 0) was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  active_ = ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask_) == 0;
}

SigpipeGuard::~SigpipeGuard() {
  if (!active_) return;
  if (!was_pending_) {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    struct timespec zero {};
    // EAGAIN (none raised) is the usual answer; nothing else can go wrong here.
    while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

namespace {

constexpr ValueType I32 = ValueType::i32;
constexpr ValueType I64 = ValueType::i64;

struct Signature {
  const char* name;
  std::vector<ValueType> params;
  Call call;
};

// Signatures as wasi-libc's and every runtime's lowering of the witx: records and results by
// pointer, errno as the one i32 result.
const std::vector<Signature>& signatures() {
  static const std::vector<Signature> table = {
      {"args_get", {I32, I32}, args_get},
      {"args_sizes_get", {I32, I32}, args_sizes_get},
      {"environ_get", {I32, I32}, environ_get},
      {"environ_sizes_get", {I32, I32}, environ_sizes_get},
      {"clock_res_get", {I32, I32}, clock_res_get},
      {"clock_time_get", {I32, I64, I32}, clock_time_get},
      {"fd_advise", {I32, I64, I64, I32}, fd_advise},
      {"fd_allocate", {I32, I64, I64}, fd_allocate},
      {"fd_close", {I32}, fd_close},
      {"fd_datasync", {I32}, fd_datasync},
      {"fd_fdstat_get", {I32, I32}, fd_fdstat_get},
      {"fd_fdstat_set_flags", {I32, I32}, fd_fdstat_set_flags},
      {"fd_fdstat_set_rights", {I32, I64, I64}, fd_fdstat_set_rights},
      {"fd_filestat_get", {I32, I32}, fd_filestat_get},
      {"fd_filestat_set_size", {I32, I64}, fd_filestat_set_size},
      {"fd_filestat_set_times", {I32, I64, I64, I32}, fd_filestat_set_times},
      {"fd_pread", {I32, I32, I32, I64, I32}, fd_pread},
      {"fd_prestat_get", {I32, I32}, fd_prestat_get},
      {"fd_prestat_dir_name", {I32, I32, I32}, fd_prestat_dir_name},
      {"fd_pwrite", {I32, I32, I32, I64, I32}, fd_pwrite},
      {"fd_read", {I32, I32, I32, I32}, fd_read},
      {"fd_readdir", {I32, I32, I32, I64, I32}, fd_readdir},
      {"fd_renumber", {I32, I32}, fd_renumber},
      {"fd_seek", {I32, I64, I32, I32}, fd_seek},
      {"fd_sync", {I32}, fd_sync},
      {"fd_tell", {I32, I32}, fd_tell},
      {"fd_write", {I32, I32, I32, I32}, fd_write},
      {"path_create_directory", {I32, I32, I32}, path_create_directory},
      {"path_filestat_get", {I32, I32, I32, I32, I32}, path_filestat_get},
      {"path_filestat_set_times", {I32, I32, I32, I32, I64, I64, I32}, path_filestat_set_times},
      {"path_link", {I32, I32, I32, I32, I32, I32, I32}, path_link},
      {"path_open", {I32, I32, I32, I32, I32, I64, I64, I32, I32}, path_open},
      {"path_readlink", {I32, I32, I32, I32, I32, I32}, path_readlink},
      {"path_remove_directory", {I32, I32, I32}, path_remove_directory},
      {"path_rename", {I32, I32, I32, I32, I32, I32}, path_rename},
      {"path_symlink", {I32, I32, I32, I32, I32}, path_symlink},
      {"path_unlink_file", {I32, I32, I32}, path_unlink_file},
      {"poll_oneoff", {I32, I32, I32, I32}, poll_oneoff},
      {"proc_raise", {I32}, proc_raise},
      {"sched_yield", {}, sched_yield},
      {"random_get", {I32, I32}, random_get},
      {"sock_accept", {I32, I32, I32}, sock_accept},
      {"sock_recv", {I32, I32, I32, I32, I32, I32}, sock_recv},
      {"sock_send", {I32, I32, I32, I32, I32}, sock_send},
      {"sock_shutdown", {I32, I32}, sock_shutdown},
  };
  return table;
}

}  // namespace
}  // namespace berth::wasm::wasi

namespace berth::wasm {

std::vector<HostFunction> wasi_imports(std::shared_ptr<WasiContext> context) {
  using namespace wasi;
  std::vector<HostFunction> out;
  for (const auto& signature : signatures()) {
    HostFunction function;
    function.module = module_name;
    function.name = signature.name;
    function.type = FunctionType{signature.params, {ValueType::i32}};
    Call call = signature.call;
    std::size_t arity = signature.params.size();
    function.body = [context, call, arity](HostCall& host, std::span<const Value> args,
                                           std::span<Value> results) -> CallResult<void> {
      if (args.size() != arity || results.size() != 1) {
        return std::unexpected(Trap{TrapKind::host_error, "WASI call with the wrong arity", 0});
      }
      Guest guest(host.memory);
      Errno result = call(*context, guest, Args{args});
      results[0] = Value::i32(static_cast<std::uint32_t>(result));
      return {};
    };
    out.push_back(std::move(function));
  }
  HostFunction exit;
  exit.module = module_name;
  exit.name = "proc_exit";
  exit.type = FunctionType{{ValueType::i32}, {}};
  exit.body = [context](HostCall&, std::span<const Value> args,
                        std::span<Value>) -> CallResult<void> {
    int code = args.empty() ? 0 : static_cast<int>(args[0].as_i32());
    context->record_exit(code);
    return std::unexpected(Trap{TrapKind::exit, "proc_exit(" + std::to_string(code) + ")", code});
  };
  out.push_back(std::move(exit));
  return out;
}

}  // namespace berth::wasm
