// Who a container's process runs as: "user[:group]" by name or number, looked up in the
// container's own /etc/passwd and /etc/group, as Docker does.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "berth/error.hpp"

namespace berth::linux {

struct ResolvedUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> supplementary;  // groups listing the user by name, then the extra ones
  std::string home = "/";
};

// `passwd` and `group` are the file contents (empty when the image has none). `spec` is "",
// "name", "uid", "name:group", "uid:gid" (mixed too); a number not in /etc/passwd is still valid
// (its group is then 0, as in Docker).
// `extra_groups` are names or numbers. Unknown names are an error naming them.
Result<ResolvedUser> resolve_user(const std::string& spec, const std::vector<std::string>& extra_groups,
                                  const std::string& passwd, const std::string& group);

}  // namespace berth::linux
