#include "linux/users.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <fmt/format.h>
#include <sstream>

namespace berth::linux {

namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = line.find(sep, start);
    out.push_back(line.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

std::optional<std::uint32_t> number(std::string_view text) {
  std::uint32_t v = 0;
  if (text.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

// Lines of a colon-separated database with at least `fields` fields; comments skipped.
std::vector<std::vector<std::string>> entries(const std::string& text, std::size_t fields) {
  std::vector<std::vector<std::string>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto f = split(line, ':');
    if (f.size() >= fields) out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

Result<ResolvedUser> resolve_user(const std::string& spec, const std::vector<std::string>& extra_groups,
                                  const std::string& passwd, const std::string& group) {
  auto users = entries(passwd, 7);
  auto groups = entries(group, 4);
  ResolvedUser out;
  std::string user_part = spec.substr(0, spec.find(':'));
  std::string group_part = spec.find(':') == std::string::npos ? "" : spec.substr(spec.find(':') + 1);
  std::string user_name;
  if (user_part.empty()) user_part = "0";
  if (auto uid = number(user_part)) {
    out.uid = *uid;
    out.gid = 0;
    for (auto& u : users)
      if (number(u[2]) == *uid) {
        user_name = u[0];
        out.gid = number(u[3]).value_or(0);
        out.home = u[5];
        break;
      }
  } else {
    auto it = std::find_if(users.begin(), users.end(), [&](auto& u) { return u[0] == user_part; });
    if (it == users.end())
      return fail(ErrorCode::invalid_spec,
                  fmt::format("user: no user \"{}\" in the container's /etc/passwd", user_part));
    auto entry_uid = number((*it)[2]);
    auto entry_gid = number((*it)[3]);
    if (!entry_uid || !entry_gid)
      return fail(ErrorCode::invalid_spec,
                  fmt::format("user: the /etc/passwd entry of \"{}\" is malformed", user_part));
    user_name = user_part;
    out.uid = *entry_uid;
    out.gid = *entry_gid;
    out.home = (*it)[5];
  }
  auto group_id = [&](const std::string& name) -> Result<gid_t> {
    if (auto gid = number(name)) return *gid;
    for (auto& g : groups)
      if (g[0] == name)
        if (auto gid = number(g[2])) return *gid;
    return fail(ErrorCode::invalid_spec,
                fmt::format("user: no group \"{}\" in the container's /etc/group", name));
  };
  if (!group_part.empty()) {
    auto gid = group_id(group_part);
    if (!gid) return std::unexpected(gid.error());
    out.gid = *gid;
  } else if (!user_name.empty()) {
    // Only when no group is given do the user's memberships count, as in Docker.
    for (auto& g : groups)
      for (auto& member : split(g[3], ','))
        if (member == user_name)
          if (auto gid = number(g[2]); gid && *gid != out.gid) out.supplementary.push_back(*gid);
  }
  for (auto& extra : extra_groups) {
    auto gid = group_id(extra);
    if (!gid) return std::unexpected(gid.error().with_context("group_add"));
    out.supplementary.push_back(*gid);
  }
  if (out.home.empty()) out.home = "/";
  return out;
}

}  // namespace berth::linux
