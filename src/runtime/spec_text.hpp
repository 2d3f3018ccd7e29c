// Docker's text forms of spec fields ("-v ./data:/data:ro", "-p 127.0.0.1:8080:80/tcp",
// "--restart on-failure:3"), read the same way by the CLI's flags and by stack files.
// `field` names the setting in the error, so a stack file can say "workloads.web.ports[0]".
#pragma once

#include <string_view>

#include "berth/error.hpp"
#include "berth/spec.hpp"

namespace berth {

// "SRC:DST[:OPTS]": a SRC starting with '/' or '.' ("./data", "../x") is a bind mount (a relative
// one is left for the caller to resolve), anything else names a volume. OPTS: ro, rw, others kept.
Result<Mount> parse_volume(std::string_view text, std::string_view field = "volume");
// "DST[:OPTS]" (--tmpfs): OPTS such as size=64m, mode=1777, ro.
Result<Mount> parse_tmpfs(std::string_view text, std::string_view field = "tmpfs");
// "TYPE=SOFT[:HARD]" (--ulimit nofile=1024:2048); -1 or "unlimited" for no limit.
Result<Rlimit> parse_ulimit(std::string_view text, std::string_view field = "ulimit");
// As `docker run -p`: "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp]", "CONTAINER_PORT[/PROTO]"
// and "HOST_IP::CONTAINER_PORT" (an ephemeral host port); an IPv6 HOST_IP goes in brackets
// ("[::1]:8080:80"). Ports are 1-65535.
Result<PortMapping> parse_port_mapping(std::string_view text, std::string_view field = "publish");
// "no", "always", "unless-stopped" or "on-failure[:N]" (N >= 0, into max_retries; only with on-failure).
Result<RestartPolicy> parse_restart_policy(std::string_view text, std::string_view field = "restart");
// One Docker --log-opt "KEY=VALUE" into `log`: max-size=SIZE (10m, 1g; > 0) or max-file=N
// (>= 1), as Docker's json-file driver takes them.
Result<void> apply_log_option(LogConfig& log, std::string_view text,
                              std::string_view field = "log-opt");

}  // namespace berth
