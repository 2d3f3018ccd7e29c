// Device rules: runc's default container allow-list, their validation and the cgroup v1 text
// form ("c 1:3 rwm"). The v2 form, an eBPF program, is in device_filter.cpp.
#include <algorithm>
#include <fmt/format.h>

#include "linux/cgroup.hpp"
#include "linux/cgroup_common.hpp"

namespace berth::linux {

namespace {

// The kernel's device numbers: 12 bits of major, 20 of minor.
constexpr std::int64_t max_major = (1 << 12) - 1;
constexpr std::int64_t max_minor = (1 << 20) - 1;

DeviceRule allow_rwm(char type, std::int64_t major, std::int64_t minor) {
  return DeviceRule{.allow = true, .type = type, .major = major, .minor = minor, .access = "rwm"};
}

}  // namespace

std::vector<DeviceRule> default_container_device_rules() {
  return {
      DeviceRule{.allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm"},
      DeviceRule{.allow = true, .type = 'c', .major = -1, .minor = -1, .access = "m"},
      DeviceRule{.allow = true, .type = 'b', .major = -1, .minor = -1, .access = "m"},
      allow_rwm('c', 1, 3),     // /dev/null
      allow_rwm('c', 1, 5),     // /dev/zero
      allow_rwm('c', 1, 7),     // /dev/full
      allow_rwm('c', 1, 8),     // /dev/random
      allow_rwm('c', 1, 9),     // /dev/urandom
      allow_rwm('c', 5, 0),     // /dev/tty
      allow_rwm('c', 5, 2),     // /dev/ptmx
      allow_rwm('c', 136, -1),  // /dev/pts/*
      allow_rwm('c', 10, 200),  // /dev/net/tun
  };
}

Result<void> validate_device_rules(const std::vector<DeviceRule>& rules) {
  for (std::size_t i = 0; i < rules.size(); ++i) {
    auto& rule = rules[i];
    auto invalid = [&](std::string_view field, std::string message) {
      return fail(ErrorCode::invalid_spec, fmt::format("devices[{}].{}: {}", i, field, message));
    };
    if (rule.type != 'a' && rule.type != 'c' && rule.type != 'b')
      return invalid("type", fmt::format("'{}' is not 'a' (all), 'c' (char) or 'b' (block)", rule.type));
    if (rule.major < -1 || rule.major > max_major)
      return invalid("major", fmt::format("{} is not a device major number (0-{}, or -1 for any)", rule.major,
                                          max_major));
    if (rule.minor < -1 || rule.minor > max_minor)
      return invalid("minor", fmt::format("{} is not a device minor number (0-{}, or -1 for any)", rule.minor,
                                          max_minor));
    if (rule.access.empty() || rule.access.size() > 3 ||
        rule.access.find_first_not_of("rwm") != std::string::npos ||
        std::count(rule.access.begin(), rule.access.end(), 'r') > 1 ||
        std::count(rule.access.begin(), rule.access.end(), 'w') > 1 ||
        std::count(rule.access.begin(), rule.access.end(), 'm') > 1)
      return invalid("access", fmt::format("\"{}\" is not a combination of r, w and m", rule.access));
    if (rule.type == 'a' && (rule.major != -1 || rule.minor != -1 || rule.access.size() != 3))
      return invalid("type", "an 'a' rule covers every device: it takes major and minor -1 and access \"rwm\"");
  }
  return {};
}

namespace cgroup_detail {

std::string v1_device_rule(const DeviceRule& rule) {
  if (rule.type == 'a') return "a";
  auto number = [](std::int64_t n) { return n == -1 ? std::string("*") : std::to_string(n); };
  return fmt::format("{} {}:{} {}", rule.type, number(rule.major), number(rule.minor), rule.access);
}

}  // namespace cgroup_detail

}  // namespace berth::linux
