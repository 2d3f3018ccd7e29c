// WASI files and directories through the host functions, in a preopened temporary directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "wasi_fixture.hpp"

namespace berth::wasm::wasi::testing {
namespace {

TEST_F(WasiTest, PreopenIsDescribedByPrestat) {
  ASSERT_EQ(call("fd_prestat_get", {I32(sandbox_fd), I32(result)}), 0);
  EXPECT_EQ(load<std::uint8_t>(result), preopentype_dir);
  EXPECT_EQ(load<std::uint32_t>(result + 4), 8u);
  ASSERT_EQ(call("fd_prestat_dir_name", {I32(sandbox_fd), I32(200), I32(8)}), 0);
  EXPECT_EQ(bytes_at(200, 8), "/sandbox");
  EXPECT_EQ(call("fd_prestat_dir_name", {I32(sandbox_fd), I32(200), I32(3)}), E(Errno::nametoolong));
  EXPECT_EQ(call("fd_prestat_get", {I32(1), I32(result)}), E(Errno::badf));
  EXPECT_EQ(call("fd_prestat_get", {I32(4), I32(result)}), E(Errno::badf));
}

TEST_F(WasiTest, CreateWriteReadSeekTell) {
  std::uint32_t fd = open_ok("hello.txt", oflag::creat);
  ASSERT_EQ(write(fd, "hello, world"), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 12u);
  ASSERT_EQ(call("fd_tell", {I32(fd), I32(result)}), 0);
  EXPECT_EQ(load<std::uint64_t>(result), 12u);
  ASSERT_EQ(call("fd_seek", {I32(fd), I64(static_cast<std::uint64_t>(-5)), I32(1), I32(result)}), 0);
  EXPECT_EQ(load<std::uint64_t>(result), 7u);
  ASSERT_EQ(read(fd, 100), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 5u);
  EXPECT_EQ(bytes_at(buffer, 5), "world");
  ASSERT_EQ(call("fd_seek", {I32(fd), I64(0), I32(0), I32(result)}), 0);
  ASSERT_EQ(read(fd, 5), 0);
  EXPECT_EQ(bytes_at(buffer, 5), "hello");
  ASSERT_EQ(call("fd_seek", {I32(fd), I64(2), I32(2), I32(result)}), 0);
  EXPECT_EQ(load<std::uint64_t>(result), 14u);
  EXPECT_EQ(call("fd_seek", {I32(fd), I64(0), I32(7), I32(result)}), E(Errno::inval));
  EXPECT_EQ(call("fd_seek", {I32(fd), I64(static_cast<std::uint64_t>(-100)), I32(0), I32(result)}),
            E(Errno::inval));
  ASSERT_EQ(call("fd_close", {I32(fd)}), 0);
  EXPECT_EQ(call("fd_close", {I32(fd)}), E(Errno::badf));
  EXPECT_EQ(read_file(host_path("hello.txt")).value_or(""), "hello, world");
}

TEST_F(WasiTest, ScatterGatherWriteAndRead) {
  std::uint32_t fd = open_ok("iov", oflag::creat);
  std::memcpy(memory.data() + buffer, "abcdef", 6);
  put<std::uint32_t>(64, buffer);
  put<std::uint32_t>(68, 2);
  put<std::uint32_t>(72, buffer + 2);
  put<std::uint32_t>(76, 0);
  put<std::uint32_t>(80, buffer + 3);
  put<std::uint32_t>(84, 3);
  ASSERT_EQ(call("fd_write", {I32(fd), I32(64), I32(3), I32(result)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 5u);
  EXPECT_EQ(read_file(host_path("iov")).value_or(""), "abdef");
  put<std::uint32_t>(64, buffer + 100);
  put<std::uint32_t>(68, 3);
  put<std::uint32_t>(72, buffer + 200);
  put<std::uint32_t>(76, 10);
  ASSERT_EQ(call("fd_pread", {I32(fd), I32(64), I32(2), I64(0), I32(result)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 5u);
  EXPECT_EQ(bytes_at(buffer + 100, 3), "abd");
  EXPECT_EQ(bytes_at(buffer + 200, 2), "ef");
}

TEST_F(WasiTest, PreadPwriteLeaveTheOffsetAlone) {
  std::uint32_t fd = open_ok("p", oflag::creat);
  ASSERT_EQ(write(fd, "0123456789"), 0);
  std::memcpy(memory.data() + buffer, "XY", 2);
  put<std::uint32_t>(64, buffer);
  put<std::uint32_t>(68, 2);
  ASSERT_EQ(call("fd_pwrite", {I32(fd), I32(64), I32(1), I64(3), I32(result)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 2u);
  ASSERT_EQ(call("fd_tell", {I32(fd), I32(result)}), 0);
  EXPECT_EQ(load<std::uint64_t>(result), 10u);
  put<std::uint32_t>(68, 4);
  ASSERT_EQ(call("fd_pread", {I32(fd), I32(64), I32(1), I64(2), I32(result)}), 0);
  EXPECT_EQ(bytes_at(buffer, 4), "2XY5");
  ASSERT_EQ(call("fd_tell", {I32(fd), I32(result)}), 0);
  EXPECT_EQ(load<std::uint64_t>(result), 10u);
  EXPECT_EQ(call("fd_pread", {I32(fd), I32(64), I32(1), I64(1ull << 63), I32(result)}),
            E(Errno::inval));
}

TEST_F(WasiTest, TruncateAllocateAndStat) {
  std::uint32_t fd = open_ok("sized", oflag::creat);
  ASSERT_EQ(write(fd, "abcdef"), 0);
  ASSERT_EQ(call("fd_filestat_set_size", {I32(fd), I64(3)}), 0);
  ASSERT_EQ(call("fd_filestat_get", {I32(fd), I32(256)}), 0);
  EXPECT_EQ(load<std::uint8_t>(256 + 16), static_cast<std::uint8_t>(Filetype::regular_file));
  EXPECT_EQ(load<std::uint64_t>(256 + 24), 1u);  // nlink
  EXPECT_EQ(load<std::uint64_t>(256 + 32), 3u);  // size
  struct stat st {};
  ASSERT_EQ(::stat(host_path("sized").c_str(), &st), 0);
  EXPECT_EQ(load<std::uint64_t>(256 + 8), st.st_ino);
  EXPECT_EQ(load<std::uint64_t>(256 + 0), st.st_dev);
  ASSERT_EQ(call("fd_allocate", {I32(fd), I64(0), I64(4096)}), 0);
  ASSERT_EQ(call("fd_filestat_get", {I32(fd), I32(256)}), 0);
  EXPECT_EQ(load<std::uint64_t>(256 + 32), 4096u);
  ASSERT_EQ(call("fd_filestat_set_size", {I32(fd), I64(10)}), 0);
  EXPECT_EQ(read_file(host_path("sized")).value_or("").size(), 10u);
  EXPECT_EQ(call("fd_advise", {I32(fd), I64(0), I64(0), I32(1)}), 0);
  EXPECT_EQ(call("fd_advise", {I32(fd), I64(0), I64(0), I32(9)}), E(Errno::inval));
  EXPECT_EQ(call("fd_sync", {I32(fd)}), 0);
  EXPECT_EQ(call("fd_datasync", {I32(fd)}), 0);
  // O_TRUNC through path_open
  std::uint32_t again = open_ok("sized", oflag::trunc);
  ASSERT_EQ(call("fd_filestat_get", {I32(again), I32(256)}), 0);
  EXPECT_EQ(load<std::uint64_t>(256 + 32), 0u);
}

TEST_F(WasiTest, FileTimes) {
  std::uint32_t fd = open_ok("timed", oflag::creat);
  const std::uint64_t atim = 1'000'000'000ull * 1'000'000 + 5;
  const std::uint64_t mtim = 1'000'000'000ull * 2'000'000 + 7;
  ASSERT_EQ(call("fd_filestat_set_times",
                 {I32(fd), I64(atim), I64(mtim), I32(fstflag::atim | fstflag::mtim)}), 0);
  ASSERT_EQ(call("fd_filestat_get", {I32(fd), I32(256)}), 0);
  EXPECT_EQ(load<std::uint64_t>(256 + 40), atim);
  EXPECT_EQ(load<std::uint64_t>(256 + 48), mtim);
  EXPECT_EQ(call("fd_filestat_set_times",
                 {I32(fd), I64(0), I64(0), I32(fstflag::atim | fstflag::atim_now)}),
            E(Errno::inval));
  auto [p, n] = str("timed");
  ASSERT_EQ(call("path_filestat_set_times",
                 {I32(sandbox_fd), I32(0), p, n, I64(0), I64(mtim + 1000), I32(fstflag::mtim)}), 0);
  ASSERT_EQ(call("path_filestat_get", {I32(sandbox_fd), I32(0), p, n, I32(256)}), 0);
  EXPECT_EQ(load<std::uint64_t>(256 + 40), atim);
  EXPECT_EQ(load<std::uint64_t>(256 + 48), mtim + 1000);
  ASSERT_EQ(call("path_filestat_set_times",
                 {I32(sandbox_fd), I32(0), p, n, I64(0), I64(0), I32(fstflag::mtim_now)}), 0);
  ASSERT_EQ(call("path_filestat_get", {I32(sandbox_fd), I32(0), p, n, I32(256)}), 0);
  EXPECT_GT(load<std::uint64_t>(256 + 48), 1'600'000'000ull * 1'000'000'000ull);
}

TEST_F(WasiTest, FdstatReportsTypeFlagsAndRights) {
  std::uint32_t fd = open_ok("f", oflag::creat, right::all, fdflag::append);
  ASSERT_EQ(call("fd_fdstat_get", {I32(fd), I32(256)}), 0);
  EXPECT_EQ(load<std::uint8_t>(256), static_cast<std::uint8_t>(Filetype::regular_file));
  EXPECT_EQ(load<std::uint16_t>(258), fdflag::append);
  EXPECT_EQ(load<std::uint64_t>(264), right::regular_file_base);
  ASSERT_EQ(call("fd_fdstat_set_flags", {I32(fd), I32(fdflag::nonblock)}), 0);
  ASSERT_EQ(call("fd_fdstat_get", {I32(fd), I32(256)}), 0);
  EXPECT_EQ(load<std::uint16_t>(258), fdflag::nonblock);
  EXPECT_EQ(call("fd_fdstat_set_flags", {I32(fd), I32(fdflag::sync)}), E(Errno::notsup));
  ASSERT_EQ(call("fd_fdstat_get", {I32(sandbox_fd), I32(256)}), 0);
  EXPECT_EQ(load<std::uint8_t>(256), static_cast<std::uint8_t>(Filetype::directory));
  EXPECT_EQ(load<std::uint64_t>(264), right::directory_base);
  EXPECT_EQ(load<std::uint64_t>(272), right::all);
}

TEST_F(WasiTest, AppendModeAppends) {
  ASSERT_TRUE(write_file(host_path("log"), "one\n").has_value());
  std::uint32_t fd = open_ok("log", 0, right::fd_write | right::fd_seek, fdflag::append);
  ASSERT_EQ(write(fd, "two\n"), 0);
  EXPECT_EQ(read_file(host_path("log")).value_or(""), "one\ntwo\n");
}

TEST_F(WasiTest, OpenFlags) {
  EXPECT_EQ(open("missing"), E(Errno::noent));
  open_ok("exists", oflag::creat);
  EXPECT_EQ(open("exists", oflag::creat | oflag::excl), E(Errno::exist));
  EXPECT_EQ(open("exists", oflag::directory), E(Errno::notdir));
  EXPECT_EQ(open("exists", 0x10), E(Errno::inval));
  EXPECT_EQ(open("exists/", 0), E(Errno::notdir));
  ASSERT_EQ(::mkdir(host_path("d").c_str(), 0755), 0);
  std::uint32_t dir = open_ok("d", oflag::directory);
  ASSERT_EQ(call("fd_fdstat_get", {I32(dir), I32(256)}), 0);
  EXPECT_EQ(load<std::uint8_t>(256), static_cast<std::uint8_t>(Filetype::directory));
  open_ok("d/", 0, right::fd_read | right::fd_readdir);
  open_ok(".", oflag::directory);
}

TEST_F(WasiTest, DirectoriesCreateStatRemove) {
  auto [p, n] = str("sub");
  ASSERT_EQ(call("path_create_directory", {I32(sandbox_fd), p, n}), 0);
  EXPECT_EQ(call("path_create_directory", {I32(sandbox_fd), p, n}), E(Errno::exist));
  struct stat st {};
  ASSERT_EQ(::stat(host_path("sub").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(call("path_filestat_get", {I32(sandbox_fd), I32(0), p, n, I32(256)}), 0);
  EXPECT_EQ(load<std::uint8_t>(256 + 16), static_cast<std::uint8_t>(Filetype::directory));
  auto [q, m] = str("sub/inner");
  ASSERT_EQ(call("path_create_directory", {I32(sandbox_fd), q, m}), 0);
  EXPECT_EQ(call("path_remove_directory", {I32(sandbox_fd), p, n}), E(Errno::notempty));
  ASSERT_EQ(call("path_remove_directory", {I32(sandbox_fd), q, m}), 0);
  ASSERT_EQ(call("path_remove_directory", {I32(sandbox_fd), p, n}), 0);
  EXPECT_FALSE(path_exists(host_path("sub")));
  open_ok("file", oflag::creat);
  auto [f, fl] = str("file");
  EXPECT_EQ(call("path_remove_directory", {I32(sandbox_fd), f, fl}), E(Errno::notdir));
}

// Reads a whole directory with fd_readdir in chunks of `chunk` bytes, following d_next.
std::vector<std::pair<std::string, Filetype>> read_dir(WasiFixture& t, std::uint32_t fd,
                                                       std::uint32_t chunk) {
  std::vector<std::pair<std::string, Filetype>> out;
  std::uint64_t cookie = 0;
  for (int rounds = 0; rounds < 1000; ++rounds) {
    EXPECT_EQ(t.call("fd_readdir", {I32(fd), I32(t.buffer), I32(chunk), I64(cookie), I32(t.result)}), 0);
    std::uint32_t used = t.load<std::uint32_t>(t.result);
    std::uint32_t at = 0;
    bool progressed = false;
    while (at + layout::dirent_size <= used) {
      std::uint64_t next = t.load<std::uint64_t>(t.buffer + at);
      std::uint32_t name_length = t.load<std::uint32_t>(t.buffer + at + 16);
      auto type = static_cast<Filetype>(t.load<std::uint8_t>(t.buffer + at + 20));
      if (at + layout::dirent_size + name_length > used) break;  // cut off: retry from cookie
      out.emplace_back(t.bytes_at(t.buffer + at + layout::dirent_size, name_length), type);
      cookie = next;
      progressed = true;
      at += layout::dirent_size + name_length;
    }
    if (used < chunk) return out;
    EXPECT_TRUE(progressed) << "a buffer of " << chunk << " bytes holds no whole entry";
    if (!progressed) return out;
  }
  ADD_FAILURE() << "readdir did not end";
  return out;
}

TEST_F(WasiTest, ReaddirWithCookiesAndSmallBuffers) {
  std::set<std::string> expected = {".", ".."};
  for (int i = 0; i < 20; ++i) {
    std::string name = "file-with-a-longish-name-" + std::to_string(i);
    ASSERT_TRUE(write_file(host_path(name), "x").has_value());
    expected.insert(name);
  }
  ASSERT_EQ(::mkdir(host_path("subdir").c_str(), 0755), 0);
  ASSERT_EQ(::symlink("nowhere", host_path("link").c_str()), 0);
  expected.insert("subdir");
  expected.insert("link");
  for (std::uint32_t chunk : {4096u, 128u, 60u}) {
    auto entries = read_dir(*this, sandbox_fd, chunk);
    std::set<std::string> names;
    for (auto& [name, type] : entries) {
      EXPECT_TRUE(names.insert(name).second) << "duplicate " << name << " with chunk " << chunk;
      if (name == "subdir") {
        EXPECT_EQ(type, Filetype::directory);
      } else if (name == "link") {
        EXPECT_EQ(type, Filetype::symbolic_link);
      } else if (name.starts_with("file")) {
        EXPECT_EQ(type, Filetype::regular_file);
      }
    }
    EXPECT_EQ(names, expected) << "chunk " << chunk;
  }
}

TEST_F(WasiTest, ReaddirTruncatesTheLastEntryAndEndsShort) {
  ASSERT_TRUE(write_file(host_path("only"), "").has_value());
  // 10 bytes: not even one header fits; the buffer is filled and the guest must grow it.
  ASSERT_EQ(call("fd_readdir", {I32(sandbox_fd), I32(buffer), I32(10), I64(0), I32(result)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 10u);
  // A large buffer: everything fits, bufused < buf_len says "end of directory".
  ASSERT_EQ(call("fd_readdir", {I32(sandbox_fd), I32(buffer), I32(4096), I64(0), I32(result)}), 0);
  std::uint32_t used = load<std::uint32_t>(result);
  EXPECT_EQ(used, 3 * layout::dirent_size + 1 + 2 + 4);
  // A cookie past the end reads nothing.
  ASSERT_EQ(call("fd_readdir", {I32(sandbox_fd), I32(buffer), I32(4096), I64(3), I32(result)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 0u);
  std::uint32_t file = open_ok("only");
  EXPECT_EQ(call("fd_readdir", {I32(file), I32(buffer), I32(4096), I64(0), I32(result)}),
            E(Errno::notcapable));
}

TEST_F(WasiTest, RenameLinkUnlink) {
  ASSERT_TRUE(write_file(host_path("a"), "data").has_value());
  auto [a, al] = str("a");
  auto [b, bl] = str("b");
  auto [c, cl] = str("c");
  ASSERT_EQ(call("path_rename", {I32(sandbox_fd), a, al, I32(sandbox_fd), b, bl}), 0);
  EXPECT_FALSE(path_exists(host_path("a")));
  EXPECT_EQ(read_file(host_path("b")).value_or(""), "data");
  EXPECT_EQ(call("path_rename", {I32(sandbox_fd), a, al, I32(sandbox_fd), b, bl}), E(Errno::noent));
  ASSERT_EQ(call("path_link", {I32(sandbox_fd), I32(0), b, bl, I32(sandbox_fd), c, cl}), 0);
  struct stat st {};
  ASSERT_EQ(::stat(host_path("c").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(call("path_link", {I32(sandbox_fd), I32(0), b, bl, I32(sandbox_fd), c, cl}), E(Errno::exist));
  ASSERT_EQ(call("path_unlink_file", {I32(sandbox_fd), b, bl}), 0);
  EXPECT_FALSE(path_exists(host_path("b")));
  EXPECT_EQ(call("path_unlink_file", {I32(sandbox_fd), b, bl}), E(Errno::noent));
  ASSERT_EQ(::mkdir(host_path("dir").c_str(), 0755), 0);
  auto [d, dl] = str("dir");
  EXPECT_EQ(call("path_unlink_file", {I32(sandbox_fd), d, dl}), E(Errno::isdir));
  auto [cs, csl] = str("c/");
  EXPECT_EQ(call("path_unlink_file", {I32(sandbox_fd), cs, csl}), E(Errno::notdir));
  // Rename into a subdirectory, and a directory itself.
  auto [dc, dcl] = str("dir/c");
  ASSERT_EQ(call("path_rename", {I32(sandbox_fd), c, cl, I32(sandbox_fd), dc, dcl}), 0);
  EXPECT_EQ(read_file(host_path("dir/c")).value_or(""), "data");
  auto [e, el] = str("renamed-dir");
  ASSERT_EQ(call("path_rename", {I32(sandbox_fd), d, dl, I32(sandbox_fd), e, el}), 0);
  EXPECT_EQ(read_file(host_path("renamed-dir/c")).value_or(""), "data");
}

TEST_F(WasiTest, SymlinkReadlinkAndFollowing) {
  ASSERT_TRUE(write_file(host_path("target"), "pointed-at").has_value());
  auto [t, tl] = str("target");
  auto [l, ll] = str("link");
  ASSERT_EQ(call("path_symlink", {t, tl, I32(sandbox_fd), l, ll}), 0);
  char stored[64] = {};
  ASSERT_EQ(::readlink(host_path("link").c_str(), stored, sizeof stored), 6);
  EXPECT_STREQ(stored, "target");
  ASSERT_EQ(call("path_readlink", {I32(sandbox_fd), l, ll, I32(buffer), I32(64), I32(result)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 6u);
  EXPECT_EQ(bytes_at(buffer, 6), "target");
  // A small buffer truncates.
  ASSERT_EQ(call("path_readlink", {I32(sandbox_fd), l, ll, I32(buffer), I32(3), I32(result)}), 0);
  EXPECT_EQ(load<std::uint32_t>(result), 3u);
  EXPECT_EQ(call("path_readlink", {I32(sandbox_fd), t, tl, I32(buffer), I32(64), I32(result)}),
            E(Errno::inval));
  // lookupflags: without symlink_follow, stat sees the link; with it, the file.
  ASSERT_EQ(call("path_filestat_get", {I32(sandbox_fd), I32(0), l, ll, I32(256)}), 0);
  EXPECT_EQ(load<std::uint8_t>(256 + 16), static_cast<std::uint8_t>(Filetype::symbolic_link));
  ASSERT_EQ(call("path_filestat_get", {I32(sandbox_fd), I32(lookup_symlink_follow), l, ll, I32(256)}), 0);
  EXPECT_EQ(load<std::uint8_t>(256 + 16), static_cast<std::uint8_t>(Filetype::regular_file));
  EXPECT_EQ(load<std::uint64_t>(256 + 32), 10u);
  // path_open follows only when asked.
  EXPECT_EQ(open("link", 0, right::all, 0, 0), E(Errno::loop));
  std::uint32_t fd = open_ok("link");
  ASSERT_EQ(read(fd, 64), 0);
  EXPECT_EQ(bytes_at(buffer, 10), "pointed-at");
  // Dangling links and unlinking the link itself.
  auto [g, gl] = str("ghost");
  auto [dl, dll] = str("dangling");
  ASSERT_EQ(call("path_symlink", {g, gl, I32(sandbox_fd), dl, dll}), 0);
  EXPECT_EQ(open("dangling"), E(Errno::noent));
  std::uint32_t created = open_ok("dangling", oflag::creat);  // creates "ghost", as POSIX does
  EXPECT_TRUE(path_exists(host_path("ghost")));
  (void)created;
  ASSERT_EQ(call("path_unlink_file", {I32(sandbox_fd), l, ll}), 0);
  EXPECT_TRUE(path_exists(host_path("target")));
  EXPECT_EQ(call("path_symlink", {t, tl, I32(sandbox_fd), t, tl}), E(Errno::exist));
}

TEST_F(WasiTest, RightsAreEnforced) {
  ASSERT_TRUE(write_file(host_path("r"), "read only").has_value());
  // A read-only descriptor cannot write, truncate or allocate.
  std::uint32_t fd = open_ok("r", 0, right::fd_read | right::fd_seek | right::fd_tell);
  EXPECT_EQ(write(fd, "x"), E(Errno::notcapable));
  EXPECT_EQ(call("fd_filestat_set_size", {I32(fd), I64(0)}), E(Errno::notcapable));
  EXPECT_EQ(call("fd_allocate", {I32(fd), I64(0), I64(1)}), E(Errno::notcapable));
  EXPECT_EQ(call("fd_filestat_get", {I32(fd), I32(256)}), E(Errno::notcapable));
  ASSERT_EQ(read(fd, 4), 0);
  // Rights only shrink.
  ASSERT_EQ(call("fd_fdstat_set_rights", {I32(fd), I64(right::fd_read), I64(0)}), 0);
  EXPECT_EQ(call("fd_seek", {I32(fd), I64(0), I32(0), I32(result)}), E(Errno::notcapable));
  EXPECT_EQ(call("fd_tell", {I32(fd), I32(result)}), E(Errno::notcapable));
  EXPECT_EQ(call("fd_fdstat_set_rights", {I32(fd), I64(right::fd_read | right::fd_write), I64(0)}),
            E(Errno::notcapable));
  // A directory whose inheriting rights lack fd_write hands out no writable files.
  ASSERT_EQ(call("fd_fdstat_set_rights",
                 {I32(sandbox_fd), I64(right::directory_base),
                  I64(right::all & ~right::fd_write)}), 0);
  EXPECT_EQ(open("r", 0, right::fd_read | right::fd_write), E(Errno::notcapable));
  open_ok("r", 0, right::fd_read);
  // Without path_create_file there is no O_CREAT; without path_unlink_file no unlink.
  ASSERT_EQ(call("fd_fdstat_set_rights",
                 {I32(sandbox_fd), I64(right::directory_base & ~(right::path_create_file |
                                                                 right::path_unlink_file)),
                  I64(right::all & ~right::fd_write)}), 0);
  EXPECT_EQ(open("new", oflag::creat, right::fd_read), E(Errno::notcapable));
  auto [p, n] = str("r");
  EXPECT_EQ(call("path_unlink_file", {I32(sandbox_fd), p, n}), E(Errno::notcapable));
  EXPECT_TRUE(path_exists(host_path("r")));
  // A file is not a directory for path_* calls.
  std::uint32_t file = open_ok("r", 0, right::fd_read);
  EXPECT_EQ(open("x", 0, right::fd_read, 0, 0, file), E(Errno::notcapable));
  ASSERT_EQ(call("fd_fdstat_get", {I32(file), I32(256)}), 0);
  EXPECT_EQ(load<std::uint64_t>(264) & right::path_open, 0u);
}

TEST_F(WasiTest, RenumberMovesADescriptor) {
  std::uint32_t a = open_ok("a", oflag::creat);
  std::uint32_t b = open_ok("b", oflag::creat);
  ASSERT_EQ(write(a, "to-a"), 0);
  ASSERT_EQ(call("fd_renumber", {I32(a), I32(b)}), 0);
  EXPECT_EQ(call("fd_close", {I32(a)}), E(Errno::badf));
  ASSERT_EQ(write(b, "+more"), 0);
  EXPECT_EQ(read_file(host_path("a")).value_or(""), "to-a+more");
  EXPECT_EQ(read_file(host_path("b")).value_or("?"), "");
  EXPECT_EQ(call("fd_renumber", {I32(b), I32(99)}), E(Errno::badf));
  EXPECT_EQ(call("fd_renumber", {I32(99), I32(b)}), E(Errno::badf));
}

TEST_F(WasiTest, BadPointersAreEfaultNotCrashes) {
  const std::uint32_t far = memory_size - 2;
  const std::uint32_t huge = 0xFFFFFFF0u;
  std::uint32_t fd = open_ok("f", oflag::creat);
  EXPECT_EQ(call("fd_write", {I32(fd), I32(huge), I32(1), I32(result)}), E(Errno::fault));
  put<std::uint32_t>(64, huge);
  put<std::uint32_t>(68, 100);
  EXPECT_EQ(call("fd_write", {I32(fd), I32(64), I32(1), I32(result)}), E(Errno::fault));
  EXPECT_EQ(call("fd_read", {I32(fd), I32(64), I32(1), I32(result)}), E(Errno::fault));
  put<std::uint32_t>(64, buffer);
  put<std::uint32_t>(68, 1);
  EXPECT_EQ(call("fd_write", {I32(fd), I32(64), I32(1), I32(far)}), E(Errno::fault));
  EXPECT_EQ(call("fd_write", {I32(fd), I32(64), I32(0x20000000), I32(result)}), E(Errno::inval));
  EXPECT_EQ(call("fd_filestat_get", {I32(fd), I32(far)}), E(Errno::fault));
  EXPECT_EQ(call("fd_fdstat_get", {I32(fd), I32(huge)}), E(Errno::fault));
  EXPECT_EQ(call("fd_seek", {I32(fd), I64(0), I32(0), I32(far)}), E(Errno::fault));
  EXPECT_EQ(call("path_open", {I32(sandbox_fd), I32(0), I32(huge), I32(100), I32(0), I64(0),
                               I64(0), I32(0), I32(result)}), E(Errno::fault));
  auto [p, n] = str("f");
  EXPECT_EQ(call("path_open", {I32(sandbox_fd), I32(0), p, n, I32(0), I64(right::fd_read), I64(0),
                               I32(0), I32(far)}), E(Errno::fault));
  EXPECT_EQ(call("args_get", {I32(far), I32(buffer)}), E(Errno::fault));
  EXPECT_EQ(call("args_sizes_get", {I32(result), I32(huge)}), E(Errno::fault));
  EXPECT_EQ(call("environ_get", {I32(buffer), I32(far)}), E(Errno::fault));
  EXPECT_EQ(call("clock_time_get", {I32(0), I64(0), I32(far)}), E(Errno::fault));
  EXPECT_EQ(call("random_get", {I32(far), I32(100)}), E(Errno::fault));
  EXPECT_EQ(call("fd_readdir", {I32(sandbox_fd), I32(far), I32(100), I64(0), I32(result)}), E(Errno::fault));
  EXPECT_EQ(call("fd_prestat_dir_name", {I32(sandbox_fd), I32(far), I32(100)}), E(Errno::fault));
  EXPECT_EQ(call("poll_oneoff", {I32(far), I32(buffer), I32(1), I32(result)}), E(Errno::fault));
  EXPECT_EQ(call("path_symlink", {I32(huge), I32(20), I32(sandbox_fd), p, n}), E(Errno::fault));
  // With no memory at all, every pointer is a fault.
  host.memory = nullptr;
  EXPECT_EQ(call("fd_write", {I32(fd), I32(64), I32(1), I32(result)}), E(Errno::fault));
  EXPECT_EQ(call("fd_close", {I32(fd)}), 0);
}

}  // namespace
}  // namespace berth::wasm::wasi::testing
