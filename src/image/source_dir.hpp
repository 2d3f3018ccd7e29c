// The files of an image source — an OCI layout directory, or an archive unpacked into the
// import's work directory — opened only beneath it: openat2(RESOLVE_BENEATH) refuses an
// absolute path, a ".." above the top and a symlink (absolute or relative) that leads out, so a
// member that is a symlink to a host file is an error naming the member, never the host file.
#pragma once

#include <string>
#include <string_view>

#include "berth/error.hpp"
#include "common/fd.hpp"

namespace berth::image {

class SourceDir {
 public:
  // `kind` names the source in errors: "archive", "layout".
  static Result<SourceDir> open(const std::string& path, std::string kind);

  // A regular file beneath the directory, open for reading.
  Result<UniqueFd> open_member(const std::string& member) const;
  Result<std::string> read_member(const std::string& member) const;
  // Whether `member` exists (as anything, not followed).
  bool has_member(const std::string& member) const;
  const std::string& path() const { return path_; }

 private:
  SourceDir(UniqueFd root, std::string path, std::string kind)
      : root_(std::move(root)), path_(std::move(path)), kind_(std::move(kind)) {}
  UniqueFd root_;
  std::string path_;
  std::string kind_;
};

}  // namespace berth::image
