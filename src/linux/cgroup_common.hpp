// Internals shared by the cgroup v1 and v2 implementations (cgroup_v1.cpp, cgroup_v2.cpp).
// Not part of the linux/ interface: include linux/cgroup.hpp instead.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "linux/cgroup.hpp"

namespace berth::linux::cgroup_detail {

// How long kill_all keeps at it before it reports a cgroup that will not empty.
inline constexpr std::chrono::seconds kill_deadline{5};

// Without surrounding blanks and newlines.
std::string_view trim(std::string_view s);
// A whole decimal number; nullopt otherwise (e.g. "max").
std::optional<std::uint64_t> parse_u64(std::string_view text);

// One directory of a cgroup, `root`/relative. The control-file paths are built here, once, so
// that add_process can run between fork and exec without allocating.
struct CgroupDir {
  std::string root;
  std::string path;
  std::string procs_file;  // cgroup.procs
  std::string tasks_file;  // v1 "tasks" (per thread)
};
CgroupDir make_cgroup_dir(const std::string& root, const std::string& relative);

// "a/b": no leading or trailing slash, no empty, "." or ".." component.
bool valid_relative_path(std::string_view relative);
// Strips trailing slashes so that root + "/" + relative is canonical.
std::string normalize_root(std::string root);


// mkdir -p of `relative` under `root`. `prepare_parent(dir)` runs on each directory, from `root`
// down, before its child is made (v2 enables controllers there). `init_dir(dir)` runs on each
// directory below `root` right after its mkdir, whether this call made it or found it (v1
// cpuset fills in empty cpus/mems; a directory another process just made may not be filled in
// yet). When another process removes an empty parent between two of our steps (its teardown),
// the walk starts over from the root.
Result<void> make_path(const std::string& root, const std::string& relative,
                       const std::function<void(const std::string&)>& prepare_parent = {},
                       const std::function<Result<void>(const std::string&)>& init_dir = {});

// Writes one control file (no O_CREAT: cgroupfs files exist or the feature is absent). Errors
// are prefixed with `field`; a missing file means the host cannot apply the limit
// (invalid_spec).
Result<void> write_control(const std::string& path, std::string_view value,
                           std::string_view field);
// The file's text, or nullopt when it cannot be read (missing controller, gone cgroup).
std::optional<std::string> read_control(const std::string& path);
// A single number; nullopt when missing or not a number (e.g. "max").
std::optional<std::uint64_t> read_u64(const std::string& path);
// The value of `key` in "key value" lines (memory.stat, cpu.stat, memory.events, ...).
std::optional<std::uint64_t> read_keyed(const std::string& path, std::string_view key);
// Whole words of a whitespace-separated list (cgroup.controllers).
bool has_word(const std::string& text, std::string_view word);

// The pids in `dir`/cgroup.procs; a cgroup that is gone lists none.
Result<std::vector<pid_t>> read_procs(const std::string& dir);
// Writes `pid` to `file`. Allocation-free on every path when `detailed_errors` is false (the
// error message then fits std::string's inline buffer and errno keeps the cause).
Result<void> write_pid(const std::string& file, pid_t pid, bool detailed_errors);

// Kills what `procs_dir`/cgroup.procs lists until it lists nothing alive, bounded by
// kill_deadline. `freeze(true)` runs before each read-and-kill round, `freeze(false)` after it
// (v1 freezer, v2 cgroup.freeze), so nothing forks between the read and the kills. Returns
// every pid signalled. Zombies count as gone: their parent, maybe not our caller, reaps them.
Result<std::vector<pid_t>> kill_until_empty(const std::string& procs_dir,
                                            const std::function<void(bool)>& freeze);
// Waits (no signals) until `procs_dir` lists nothing alive, bounded by kill_deadline.
Result<void> wait_until_empty(const std::string& procs_dir);

// rmdir of each directory (retrying EBUSY while killed tasks finish leaving), then of its
// empty parents up to, not including, its root. Returns the cgroup directories removed.
Result<std::vector<std::string>> remove_dirs(std::span<const CgroupDir> dirs);

// A cpu or memory-node list as cpuset takes it: comma-separated numbers and ascending ranges
// ("0-1,3"). nullopt when the syntax is wrong (empty parts, "1-0", blanks, signs).
struct IdRange {
  std::uint32_t first = 0;
  std::uint32_t last = 0;
};
std::optional<std::vector<IdRange>> parse_id_list(std::string_view text);
// The first id of `wanted` that `available` does not cover.
std::optional<std::uint32_t> first_missing_id(std::span<const IdRange> wanted,
                                              std::span<const IdRange> available);

// A validated device rule as cgroup v1's devices.allow / devices.deny take it: "c 1:3 rwm",
// "b *:* m", "a".
std::string v1_device_rule(const DeviceRule& rule);

std::unexpected<Error> controller_unavailable(std::string_view field,
                                              std::string_view controller);

Result<std::unique_ptr<Cgroup>> create_v1(const std::string& mount_root,
                                         const std::string& relative, const CgroupNeeds& needs);
std::unique_ptr<Cgroup> open_v1(const std::string& mount_root, const std::string& relative);
Result<std::unique_ptr<Cgroup>> create_v2(const std::string& mount_root,
                                          const std::string& relative);
std::unique_ptr<Cgroup> open_v2(const std::string& mount_root, const std::string& relative);

}  // namespace berth::linux::cgroup_detail
