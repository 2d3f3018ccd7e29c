// A layer tar (any filter libarchive detects) unpacked into a fresh directory. The unpacker must
// never write outside its target: each run unpacks into WORK/target, where WORK is a fresh
// directory under /tmp that holds nothing else but the archive, and checks afterwards that WORK
// still holds exactly those two. WORK is removed after every run (remove_tree does not follow
// symlinks).
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "image/layer_unpack.hpp"

namespace {

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) std::abort();
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace(name);
  }
  ::closedir(d);
  return names;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  char work_template[] = "/tmp/berth-fuzz-unpack-XXXXXX";
  if (!::mkdtemp(work_template)) std::abort();
  const std::string work = work_template;
  const std::string archive = work + "/layer.tar";
  const std::string target = work + "/target";
  if (!berth::write_file(archive, std::string_view(reinterpret_cast<const char*>(data), size))) std::abort();
  if (::mkdir(target.c_str(), 0755) != 0) std::abort();

  berth::image::UnpackOptions options;
  options.whiteouts = true;  // as for an image layer: .wh. entries become overlay whiteouts
  {
    berth::UniqueFd layer(::open(archive.c_str(), O_RDONLY | O_CLOEXEC));
    if (!layer) std::abort();
    (void)berth::image::unpack_tar(layer.get(), "the fuzzed layer", target, options);
  }

  const std::set<std::string> expected{"layer.tar", "target"};
  if (entries(work) != expected) {
    std::fprintf(stderr, "layer_unpack: something was written beside the target in %s\n", work.c_str());
    std::abort();
  }
  struct stat st;
  if (::lstat(target.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "layer_unpack: the target %s is no longer a directory\n", target.c_str());
    std::abort();
  }
  if (!berth::remove_tree(work)) std::abort();
  return 0;
}
