// Sweeping what a crash left of workloads: a directory under workloads/ with no row in the
// store is a create that died between its mkdir and its insert (berthd or the CLI killed
// there). create holds workloads/<id>/create.lock from right after its mkdir until it returns,
// so a directory whose lock nobody holds and that has no row is an orphan; one whose lock is
// held is a create under way, and one with no lock file yet is a create in its first
// microseconds (or an orphan of them: those go once they are a minute old).
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "runtime/local_runtime.hpp"

namespace berth {

namespace {

constexpr auto unlocked_orphan_age = std::chrono::minutes(1);

bool older_than(const std::string& path, std::chrono::seconds age) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  auto modified = std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
  return std::chrono::system_clock::now() - modified > age;
}

}  // namespace

Result<std::vector<std::string>> LocalRuntime::sweep_workload_orphans() {
  std::vector<std::string> swept;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(layout_.workloads_dir().c_str()), ::closedir);
  if (!dir) return std::unexpected(errno_error("opendir", layout_.workloads_dir(), errno));
  std::vector<std::string> ids;
  while (auto* entry = ::readdir(dir.get())) {
    std::string name = entry->d_name;
    if (name != "." && name != ".." && entry->d_type == DT_DIR) ids.push_back(name);
  }
  for (const auto& id : ids) {
    if (auto record = store_->get(id); record || record.error().code != ErrorCode::not_found) continue;
    std::string path = layout_.workload_dir(id);
    UniqueFd lock(::open((path + "/" + std::string(create_lock_name)).c_str(), O_RDWR | O_CLOEXEC));
    if (!lock) {
      if (errno != ENOENT || !older_than(path, unlocked_orphan_age)) continue;
    } else if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
      continue;  // a create under way
    }
    // Its creator is gone: a row now would be a create that finished after all.
    if (auto record = store_->get(id); record || record.error().code != ErrorCode::not_found) continue;
    if (auto r = remove_tree(path); !r) return std::unexpected(r.error());
    swept.push_back("workload directory " + path + " (a create that did not finish)");
  }
  return swept;
}

}  // namespace berth
