// Calls berth's WASI host functions directly, without an engine: a byte buffer plays the
// guest's linear memory and a temporary directory is preopened as "/sandbox" (fd 3).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/fs.hpp"
#include "wasm/wasi/abi.hpp"
#include "wasm/wasi/wasi_imports.hpp"

namespace berth::wasm::wasi::testing {

class BufferMemory : public GuestMemory {
 public:
  explicit BufferMemory(std::size_t size) : bytes_(size) {}
  std::uint8_t* data() override { return bytes_.data(); }
  std::uint64_t size() const override { return bytes_.size(); }

 private:
  std::vector<std::uint8_t> bytes_;
};

inline Value I32(std::uint32_t v) { return Value::i32(v); }
inline Value I64(std::uint64_t v) { return Value::i64(v); }

class WasiFixture {
 public:
  static constexpr std::uint32_t sandbox_fd = 3;
  static constexpr std::uint32_t memory_size = 1 << 20;
  static constexpr std::uint32_t result = 16;       // scratch for results
  static constexpr std::uint32_t strings = 4096;    // bump area for guest strings
  static constexpr std::uint32_t buffer = 65536;    // I/O buffers

  void start(PathStrategy strategy = PathStrategy::automatic, WasiConfig config = {}) {
    char pattern[] = "/tmp/berth-wasi-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    root = pattern;
    config.preopens.insert(config.preopens.begin(), Preopen{root, "/sandbox"});
    config.path_strategy = strategy;
    if (config.args.empty()) config.args = {"guest", "one", "two words"};
    if (config.env.empty()) config.env = {"A=1", "GREETING=hello"};
    auto created = WasiContext::create(std::move(config));
    ASSERT_TRUE(created.has_value()) << created.error().message;
    context = *created;
    for (auto& function : wasi_imports(context)) functions.emplace(function.name, std::move(function));
    host.memory = &memory;
  }
  void stop() {
    functions.clear();
    context.reset();
    if (!root.empty()) (void)remove_tree(root);
  }

  // Calls a WASI function; returns its errno (or -1 after a trap, kept in `last_trap`).
  int call(const std::string& name, std::vector<Value> args) {
    auto it = functions.find(name);
    EXPECT_NE(it, functions.end()) << name;
    if (it == functions.end()) return -2;
    EXPECT_EQ(args.size(), it->second.type.params.size()) << name;
    for (std::size_t i = 0; i < args.size() && i < it->second.type.params.size(); ++i) {
      EXPECT_EQ(args[i].type, it->second.type.params[i]) << name << " argument " << i;
    }
    std::vector<Value> results(it->second.type.results.size());
    auto outcome = it->second.body(host, args, results);
    if (!outcome) {
      last_trap = outcome.error();
      return -1;
    }
    return static_cast<int>(results.at(0).as_i32());
  }

  // Places a string in guest memory; returns (pointer, length) as two i32 values.
  std::pair<Value, Value> str(std::string_view s) {
    std::uint32_t at = next_string;
    next_string += static_cast<std::uint32_t>(s.size()) + 1;
    std::memcpy(memory.data() + at, s.data(), s.size());
    return {I32(at), I32(static_cast<std::uint32_t>(s.size()))};
  }
  template <typename T>
  T load(std::uint32_t at) {
    T v;
    std::memcpy(&v, memory.data() + at, sizeof v);
    return v;
  }
  template <typename T>
  void put(std::uint32_t at, T v) {
    std::memcpy(memory.data() + at, &v, sizeof v);
  }
  std::string bytes_at(std::uint32_t at, std::size_t n) {
    return std::string(reinterpret_cast<const char*>(memory.data() + at), n);
  }

  static int E(Errno e) { return static_cast<int>(e); }

  int open(std::string_view path, std::uint32_t oflags = 0, Rights base = right::all,
           std::uint32_t fdflags = 0, std::uint32_t lookup = lookup_symlink_follow,
           std::uint32_t dir = sandbox_fd) {
    auto [p, n] = str(path);
    return call("path_open", {I32(dir), I32(lookup), p, n, I32(oflags), I64(base), I64(base),
                              I32(fdflags), I32(result)});
  }
  // Opens or fails the test; returns the new fd.
  std::uint32_t open_ok(std::string_view path, std::uint32_t oflags = 0, Rights base = right::all,
                        std::uint32_t fdflags = 0) {
    int rc = open(path, oflags, base, fdflags);
    EXPECT_EQ(rc, 0) << "path_open " << path;
    return load<std::uint32_t>(result);
  }
  int write(std::uint32_t fd, std::string_view data, const char* how = "fd_write") {
    std::memcpy(memory.data() + buffer, data.data(), data.size());
    put<std::uint32_t>(64, buffer);
    put<std::uint32_t>(68, static_cast<std::uint32_t>(data.size()));
    return call(how, {I32(fd), I32(64), I32(1), I32(result)});
  }
  int read(std::uint32_t fd, std::uint32_t n) {
    put<std::uint32_t>(64, buffer);
    put<std::uint32_t>(68, n);
    return call("fd_read", {I32(fd), I32(64), I32(1), I32(result)});
  }
  std::string host_path(const std::string& relative) const { return root + "/" + relative; }

  BufferMemory memory{memory_size};
  HostCall host;
  std::shared_ptr<WasiContext> context;
  std::map<std::string, HostFunction> functions;
  std::string root;
  Trap last_trap;
  std::uint32_t next_string = strings;
};

class WasiTest : public ::testing::Test, public WasiFixture {
 protected:
  void SetUp() override { start(); }
  void TearDown() override { stop(); }
};

}  // namespace berth::wasm::wasi::testing
