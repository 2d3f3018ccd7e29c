// WASI outside the file system: signatures, arguments, environment, clocks, randomness, poll,
// stdio, sockets and exiting.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <set>

#include "wasi_fixture.hpp"

namespace berth::wasm::wasi::testing {
namespace {

using std::chrono::steady_clock;

TEST(WasiImports, EveryPreview1FunctionWithItsSignature) {
  auto context = WasiContext::create({});
  ASSERT_TRUE(context.has_value()) << context.error().message;
  auto functions = wasi_imports(*context);
  std::map<std::string, std::string> signatures;
  for (const auto& f : functions) {
    EXPECT_EQ(f.module, "wasi_snapshot_preview1");
    std::string s;
    for (auto t : f.type.params) s += std::string(to_string(t)) + " ";
    s += "->";
    for (auto t : f.type.results) s += " " + std::string(to_string(t));
    EXPECT_TRUE(signatures.emplace(f.name, s).second) << "duplicate " << f.name;
  }
  const std::map<std::string, std::string> expected = {
      {"args_get", "i32 i32 -> i32"}, {"args_sizes_get", "i32 i32 -> i32"},
      {"environ_get", "i32 i32 -> i32"}, {"environ_sizes_get", "i32 i32 -> i32"},
      {"clock_res_get", "i32 i32 -> i32"}, {"clock_time_get", "i32 i64 i32 -> i32"},
      {"fd_advise", "i32 i64 i64 i32 -> i32"}, {"fd_allocate", "i32 i64 i64 -> i32"},
      {"fd_close", "i32 -> i32"}, {"fd_datasync", "i32 -> i32"},
      {"fd_fdstat_get", "i32 i32 -> i32"}, {"fd_fdstat_set_flags", "i32 i32 -> i32"},
      {"fd_fdstat_set_rights", "i32 i64 i64 -> i32"}, {"fd_filestat_get", "i32 i32 -> i32"},
      {"fd_filestat_set_size", "i32 i64 -> i32"},
      {"fd_filestat_set_times", "i32 i64 i64 i32 -> i32"},
      {"fd_pread", "i32 i32 i32 i64 i32 -> i32"}, {"fd_prestat_get", "i32 i32 -> i32"},
      {"fd_prestat_dir_name", "i32 i32 i32 -> i32"}, {"fd_pwrite", "i32 i32 i32 i64 i32 -> i32"},
      {"fd_read", "i32 i32 i32 i32 -> i32"}, {"fd_readdir", "i32 i32 i32 i64 i32 -> i32"},
      {"fd_renumber", "i32 i32 -> i32"}, {"fd_seek", "i32 i64 i32 i32 -> i32"},
      {"fd_sync", "i32 -> i32"}, {"fd_tell", "i32 i32 -> i32"},
      {"fd_write", "i32 i32 i32 i32 -> i32"}, {"path_create_directory", "i32 i32 i32 -> i32"},
      {"path_filestat_get", "i32 i32 i32 i32 i32 -> i32"},
      {"path_filestat_set_times", "i32 i32 i32 i32 i64 i64 i32 -> i32"},
      {"path_link", "i32 i32 i32 i32 i32 i32 i32 -> i32"},
      {"path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32 -> i32"},
      {"path_readlink", "i32 i32 i32 i32 i32 i32 -> i32"},
      {"path_remove_directory", "i32 i32 i32 -> i32"},
      {"path_rename", "i32 i32 i32 i32 i32 i32 -> i32"},
      {"path_symlink", "i32 i32 i32 i32 i32 -> i32"}, {"path_unlink_file", "i32 i32 i32 -> i32"},
      {"poll_oneoff", "i32 i32 i32 i32 -> i32"}, {"proc_exit", "i32 ->"},
      {"proc_raise", "i32 -> i32"}, {"sched_yield", "-> i32"}, {"random_get", "i32 i32 -> i32"},
      {"sock_accept", "i32 i32 i32 -> i32"}, {"sock_recv", "i32 i32 i32 i32 i32 i32 -> i32"},
      {"sock_send", "i32 i32 i32 i32 i32 -> i32"}, {"sock_shutdown", "i32 i32 -> i32"},
  };
  EXPECT_EQ(signatures, expected);
}

TEST_F(WasiTest, ArgsAndEnviron) {
  ASSERT_EQ(call("args_sizes_get", {I32(result), I32(result + 4)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 3u);
  EXPECT_EQ(load<std::uint32_t>(result + 4), 6u + 4u + 10u);
  ASSERT_EQ(call("args_get", {I32(200), I32(buffer)}), 0);
  EXPECT_EQ(load<std::uint32_t>(200), buffer);
  EXPECT_EQ(bytes_at(load<std::uint32_t>(204), 4), std::string("one\0", 4));
  EXPECT_EQ(bytes_at(load<std::uint32_t>(208), 10), std::string("two words\0", 10));
  ASSERT_EQ(call("environ_sizes_get", {I32(result), I32(result + 4)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 2u);
  EXPECT_EQ(load<std::uint32_t>(result + 4), 4u + 15u);
  ASSERT_EQ(call("environ_get", {I32(200), I32(buffer)}), 0);
  EXPECT_EQ(bytes_at(load<std::uint32_t>(204), 15), std::string("GREETING=hello\0", 15));
}

TEST_F(WasiTest, Clocks) {
  for (std::uint32_t id = 0; id < 4; ++id) {
    ASSERT_EQ(call("clock_res_get", {I32(id), I32(result)}), 0) << id;
    EXPECT_GT(load<std::uint64_t>(result), 0u);
    ASSERT_EQ(call("clock_time_get", {I32(id), I64(1), I32(result)}), 0) << id;
  }
  EXPECT_EQ(call("clock_res_get", {I32(4), I32(result)}), E(Errno::inval));
  EXPECT_EQ(call("clock_time_get", {I32(99), I64(0), I32(result)}), E(Errno::inval));
  ASSERT_EQ(call("clock_time_get", {I32(0), I64(0), I32(result)}), 0);
  auto wall = std::chrono::system_clock::now().time_since_epoch();
  auto guest_wall = std::chrono::nanoseconds(load<std::uint64_t>(result));
  EXPECT_LT(std::chrono::abs(wall - guest_wall), std::chrono::seconds(5));
  ASSERT_EQ(call("clock_time_get", {I32(1), I64(0), I32(result)}), 0);
  std::uint64_t first = load<std::uint64_t>(result);
  ASSERT_EQ(call("clock_time_get", {I32(1), I64(0), I32(result)}), 0);
  EXPECT_GE(load<std::uint64_t>(result), first);
}

TEST_F(WasiTest, RandomFillsTheBuffer) {
  std::memset(memory.data() + buffer, 0, 4096);
  ASSERT_EQ(call("random_get", {I32(buffer), I32(4096)}), 0);
  std::set<std::uint8_t> seen(memory.data() + buffer, memory.data() + buffer + 4096);
  EXPECT_GT(seen.size(), 200u);
  EXPECT_EQ(call("random_get", {I32(buffer), I32(0)}), 0);
}

TEST_F(WasiTest, ProcExitTrapsWithTheCode) {
  EXPECT_EQ(call("proc_exit", {I32(42)}), -1);
  EXPECT_EQ(last_trap.kind, TrapKind::exit);
  EXPECT_EQ(last_trap.exit_code, 42);
  EXPECT_EQ(context->exit_code(), 42);
  EXPECT_EQ(call("proc_raise", {I32(15)}), E(Errno::nosys));
  EXPECT_EQ(call("sched_yield", {}), 0);
}

// Subscriptions: a clock with a relative timeout.
void subscribe_clock(WasiFixture& t, std::uint32_t at, std::uint64_t userdata, std::uint32_t clock,
                     std::uint64_t timeout, std::uint16_t flags = 0) {
  std::memset(t.memory.data() + at, 0, layout::subscription_size);
  t.put<std::uint64_t>(at, userdata);
  t.put<std::uint8_t>(at + 8, static_cast<std::uint8_t>(EventType::clock));
  t.put<std::uint32_t>(at + 16, clock);
  t.put<std::uint64_t>(at + 24, timeout);
  t.put<std::uint16_t>(at + 40, flags);
}
void subscribe_fd(WasiFixture& t, std::uint32_t at, std::uint64_t userdata, EventType type,
                  std::uint32_t fd) {
  std::memset(t.memory.data() + at, 0, layout::subscription_size);
  t.put<std::uint64_t>(at, userdata);
  t.put<std::uint8_t>(at + 8, static_cast<std::uint8_t>(type));
  t.put<std::uint32_t>(at + 16, fd);
}

constexpr std::uint32_t subs = 1024;
constexpr std::uint32_t events = 2048;

TEST_F(WasiTest, PollSleepsOnRelativeAndAbsoluteClocks) {
  subscribe_clock(*this, subs, 7, 1, 30'000'000);
  auto start = steady_clock::now();
  ASSERT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(1), I32(result)}), 0);
  EXPECT_GE(steady_clock::now() - start, std::chrono::milliseconds(30));
  EXPECT_EQ(load<std::uint32_t>(result), 1u);
  EXPECT_EQ(load<std::uint64_t>(events), 7u);
  EXPECT_EQ(load<std::uint16_t>(events + 8), 0u);
  EXPECT_EQ(load<std::uint8_t>(events + 10), static_cast<std::uint8_t>(EventType::clock));

  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::uint64_t real = std::uint64_t(now.tv_sec) * 1'000'000'000u + std::uint64_t(now.tv_nsec);
  subscribe_clock(*this, subs, 8, 0, real + 20'000'000, subclock_abstime);
  start = steady_clock::now();
  ASSERT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(1), I32(result)}), 0);
  EXPECT_GE(steady_clock::now() - start, std::chrono::milliseconds(15));
  EXPECT_EQ(load<std::uint64_t>(events), 8u);
  // An absolute time in the past fires at once.
  subscribe_clock(*this, subs, 9, 1, 1, subclock_abstime);
  ASSERT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(1), I32(result)}), 0);
  EXPECT_EQ(load<std::uint64_t>(events), 9u);
  EXPECT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(0), I32(result)}), E(Errno::inval));
}

TEST_F(WasiTest, PollWakesOnPipeReadiness) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  stop();
  WasiConfig config;
  config.stdin_fd = read_end.get();
  start(PathStrategy::automatic, std::move(config));
  // Nothing to read yet: the 20 ms clock fires first.
  subscribe_fd(*this, subs, 1, EventType::fd_read, 0);
  subscribe_clock(*this, subs + 48, 2, 1, 20'000'000);
  ASSERT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(2), I32(result)}), 0);
  ASSERT_EQ(load<std::uint32_t>(result), 1u);
  EXPECT_EQ(load<std::uint64_t>(events), 2u);
  // Data waiting: the read event, with the byte count.
  ASSERT_EQ(::write(write_end.get(), "hello", 5), 5);
  subscribe_clock(*this, subs + 48, 2, 1, 5'000'000'000ull);
  auto start_time = steady_clock::now();
  ASSERT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(2), I32(result)}), 0);
  EXPECT_LT(steady_clock::now() - start_time, std::chrono::seconds(2));
  ASSERT_EQ(load<std::uint32_t>(result), 1u);
  EXPECT_EQ(load<std::uint64_t>(events), 1u);
  EXPECT_EQ(load<std::uint8_t>(events + 10), static_cast<std::uint8_t>(EventType::fd_read));
  EXPECT_EQ(load<std::uint64_t>(events + 16), 5u);
  ASSERT_EQ(read(0, 5), 0);
  EXPECT_EQ(bytes_at(buffer, 5), "hello");
  // Writer gone: hangup.
  write_end.reset();
  ASSERT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(2), I32(result)}), 0);
  EXPECT_EQ(load<std::uint16_t>(events + 24), event_fd_readwrite_hangup);
  // Bad descriptors are reported per event; stdout (/dev/null) is writable.
  subscribe_fd(*this, subs, 3, EventType::fd_read, 77);
  subscribe_fd(*this, subs + 48, 4, EventType::fd_write, 1);
  ASSERT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(2), I32(result)}), 0);
  ASSERT_EQ(load<std::uint32_t>(result), 2u);
  EXPECT_EQ(load<std::uint64_t>(events), 3u);
  EXPECT_EQ(load<std::uint16_t>(events + 8), E(Errno::badf));
  EXPECT_EQ(load<std::uint64_t>(events + 32), 4u);
  EXPECT_EQ(load<std::uint16_t>(events + 40), 0u);
  // A regular file is always ready.
  std::uint32_t file = open_ok("f", oflag::creat);
  ASSERT_EQ(write(file, "abc"), 0);
  ASSERT_EQ(call("fd_seek", {I32(file), I64(1), I32(0), I32(result)}), 0);
  subscribe_fd(*this, subs, 5, EventType::fd_read, file);
  ASSERT_EQ(call("poll_oneoff", {I32(subs), I32(events), I32(1), I32(result)}), 0);
  EXPECT_EQ(load<std::uint64_t>(events + 16), 2u);
}

TEST_F(WasiTest, StdioGoesToTheGivenDescriptors) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  stop();
  WasiConfig config;
  config.stdout_fd = write_end.get();
  start(PathStrategy::automatic, std::move(config));
  ASSERT_EQ(write(1, "to stdout"), 0);
  char got[16] = {};
  ASSERT_EQ(::read(read_end.get(), got, sizeof got), 9);
  EXPECT_STREQ(got, "to stdout");
  ASSERT_EQ(call("fd_fdstat_get", {I32(1), I32(256)}), 0);
  EXPECT_EQ(load<std::uint64_t>(264) & right::fd_seek, 0u);
  EXPECT_EQ(load<std::uint64_t>(264) & right::fd_read, 0u);  // write end only
  // stdin defaults to /dev/null: end of file at once.
  ASSERT_EQ(read(0, 10), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 0u);
  EXPECT_EQ(write(0, "x"), E(Errno::notcapable));
  // The reader gone, a write is EPIPE for the guest, not SIGPIPE for the host.
  read_end.reset();
  EXPECT_EQ(write(1, "into the void"), E(Errno::pipe));
}

TEST_F(WasiTest, SocketsSendReceiveShutdownAccept) {
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
  UniqueFd mine(pair[0]), theirs(pair[1]);
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  stop();
  WasiConfig config;
  config.preopened_sockets = {theirs.get(), listener.get()};
  start(PathStrategy::automatic, std::move(config));
  const std::uint32_t sock = 4, listening = 5;  // after the one preopened directory
  ASSERT_EQ(call("fd_fdstat_get", {I32(sock), I32(256)}), 0);
  EXPECT_EQ(load<std::uint8_t>(256), static_cast<std::uint8_t>(Filetype::socket_stream));

  std::memcpy(memory.data() + buffer, "ping", 4);
  put<std::uint32_t>(64, buffer);
  put<std::uint32_t>(68, 4);
  ASSERT_EQ(call("sock_send", {I32(sock), I32(64), I32(1), I32(0), I32(result)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 4u);
  char got[8] = {};
  ASSERT_EQ(::read(mine.get(), got, sizeof got), 4);
  EXPECT_STREQ(got, "ping");
  ASSERT_EQ(::write(mine.get(), "pong", 4), 4);
  put<std::uint32_t>(64, buffer + 100);
  put<std::uint32_t>(68, 16);
  ASSERT_EQ(call("sock_recv", {I32(sock), I32(64), I32(1), I32(riflag_recv_peek), I32(result), I32(result + 4)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 4u);
  ASSERT_EQ(call("sock_recv", {I32(sock), I32(64), I32(1), I32(0), I32(result), I32(result + 4)}), 0);
  EXPECT_EQ(bytes_at(buffer + 100, 4), "pong");
  EXPECT_EQ(load<std::uint16_t>(result + 4), 0u);
  EXPECT_EQ(call("sock_shutdown", {I32(sock), I32(0)}), E(Errno::inval));
  ASSERT_EQ(call("sock_shutdown", {I32(sock), I32(sdflag_wr)}), 0);
  EXPECT_EQ(::read(mine.get(), got, sizeof got), 0);
  // A file is not a socket.
  std::uint32_t file = open_ok("f", oflag::creat);
  EXPECT_EQ(call("sock_shutdown", {I32(file), I32(sdflag_rd)}), E(Errno::notcapable));

  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(call("sock_accept", {I32(listening), I32(0), I32(result)}), 0);
  std::uint32_t accepted = load<std::uint32_t>(result);
  ASSERT_EQ(::write(client.get(), "hi", 2), 2);
  ASSERT_EQ(read(accepted, 2), 0);
  EXPECT_EQ(bytes_at(buffer, 2), "hi");
  // Nothing waiting on a non-blocking listener: again. (sock_accept's own flags are the new
  // socket's.)
  ASSERT_EQ(call("fd_fdstat_set_flags", {I32(listening), I32(fdflag::nonblock)}), 0);
  EXPECT_EQ(call("sock_accept", {I32(listening), I32(fdflag::nonblock), I32(result)}), E(Errno::again));
  EXPECT_EQ(call("sock_accept", {I32(sock), I32(0), I32(result)}), E(Errno::inval));
}

TEST(WasiContextCreate, NamesAMissingPreopen) {
  WasiConfig config;
  config.preopens.push_back({"/nonexistent/berth-wasi", "/data"});
  auto context = WasiContext::create(std::move(config));
  ASSERT_FALSE(context.has_value());
  EXPECT_NE(context.error().message.find("/nonexistent/berth-wasi"), std::string::npos);
  EXPECT_EQ(context.error().code, ErrorCode::not_found);
}

}  // namespace
}  // namespace berth::wasm::wasi::testing
