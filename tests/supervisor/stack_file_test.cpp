// Stack files: every field mapped into the WorkloadSpec, start order, interpolation, and every
// problem of a bad file reported at once with its line and column.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>

#include "supervisor/stack_file.hpp"

namespace berth::stack {
namespace {

using Environment = std::map<std::string, std::string>;
using Strings = std::vector<std::string>;

StackFile parse_ok(std::string_view text, const Environment& env = {},
                   const std::string& path = "/srv/shop/berth.toml") {
  auto stack = parse_stack(text, path, env);
  EXPECT_TRUE(stack) << stack.error().message;
  return stack ? *stack : StackFile{};
}

std::vector<std::string> problems_of(std::string_view text, const Environment& env = {}) {
  std::vector<std::string> out;
  for (auto& p : validate_stack(text, "berth.toml", env)) out.push_back(format(p));
  return out;
}

const StackWorkload& find(const StackFile& stack, std::string_view name) {
  for (auto& w : stack.workloads)
    if (w.name == name) return w;
  static StackWorkload none;
  ADD_FAILURE() << "no workload " << name;
  return none;
}

Strings names(const StackFile& stack) {
  Strings out;
  for (auto& w : stack.workloads) out.push_back(w.name);
  return out;
}

TEST(StackFile, MapsEveryField) {
  auto stack = parse_ok(R"([stack]
name = "shop"
rollback = false
start_timeout = "90s"

[workloads.db]
image = "busybox:latest"
entrypoint = ["/bin/sh"]
command = ["-c", "exec my-db"]
env = { PASSWORD = "${env.DB_PASSWORD:-secret}", MODE = "primary", PORT = 5432 }
working_dir = "/srv"
user = "1000:1000"
labels = { tier = "data" }
annotations = { owner = "ops" }
ports = ["8080:80", "127.0.0.1:5432:5432/tcp", "9000", 53]
mounts = ["./data:/data:ro", "dbdata:/var/lib/db", "tmpfs:/tmp:size=64m", "/etc/hosts:/etc/hosts"]
network = "host"
aliases = ["database"]
restart = "on-failure:3"
stop_signal = "SIGINT"
stop_grace = "5s"
time_to_live = "1h"
hostname = "db"
read_only = true
cap_add = ["NET_ADMIN"]
cap_drop = ["MKNOD"]
seccomp = "unconfined"
no_new_privileges = false
ulimits = ["nofile=1024:2048"]
group_add = ["wheel"]

[workloads.db.resources]
memory = "256m"
memory_swap = "512m"
cpus = 0.5
cpu_shares = 512
pids = 100
cpuset_cpus = "0"

[workloads.db.health]
type = "exec"
command = "pg_isready"
interval = "1s"
timeout = "2s"
retries = 5
start_period = "3s"

[workloads.fn]
module = "./fn.wasm"
command = ["fn", "--serve"]
[workloads.fn.wasm]
engine = "aot"
memory = "64m"
timeout = "2s"
fuel = 1000000
dirs = ["./data::/data", "/tmp"]
allow = ["10.0.0.0/8:443"]
pool_size = 4
kv_max_entries = 100
kv_max_value_bytes = "1k"

[workloads.job]
command = "echo hi"
env = ["A=1", "B=x=y"]
namespaces = ["pid", "mount"]
stop_signal = 2
stop_grace = 3
[workloads.job.health]
type = "http"
target = "8080/healthz"
)");
  EXPECT_EQ(stack.name, "shop");
  EXPECT_EQ(stack.path, "/srv/shop/berth.toml");
  EXPECT_FALSE(stack.rollback);
  EXPECT_EQ(stack.start_timeout, std::chrono::seconds(90));
  ASSERT_EQ(names(stack), (Strings{"db", "fn", "job"}));

  auto& db = find(stack, "db");
  EXPECT_EQ(db.line, 6);
  EXPECT_TRUE(db.depends_on.empty());
  auto& s = db.spec;
  EXPECT_EQ(s.name, "");
  EXPECT_EQ(s.kind, WorkloadKind::container);
  EXPECT_EQ(s.image, "busybox:latest");
  EXPECT_EQ(s.container.entrypoint, (Strings{"/bin/sh"}));
  EXPECT_EQ(s.args, (Strings{"-c", "exec my-db"}));
  EXPECT_EQ(s.env, (Strings{"MODE=primary", "PASSWORD=secret", "PORT=5432"}));
  EXPECT_EQ(s.working_dir, "/srv");
  EXPECT_EQ(s.user, "1000:1000");
  EXPECT_EQ(s.labels, (std::map<std::string, std::string>{{"tier", "data"}}));
  EXPECT_EQ(s.annotations, (std::map<std::string, std::string>{{"owner", "ops"}}));
  ASSERT_EQ(s.ports.size(), 4u);
  EXPECT_EQ(s.ports[0].host_port, 8080);
  EXPECT_EQ(s.ports[0].container_port, 80);
  EXPECT_EQ(s.ports[1].host_ip, "127.0.0.1");
  EXPECT_EQ(s.ports[1].host_port, 5432);
  EXPECT_EQ(s.ports[2].host_port, std::nullopt);
  EXPECT_EQ(s.ports[2].container_port, 9000);
  EXPECT_EQ(s.ports[3].container_port, 53);
  ASSERT_EQ(s.mounts.size(), 4u);
  EXPECT_EQ(s.mounts[0].type, "bind");
  EXPECT_EQ(s.mounts[0].source, "/srv/shop/data");
  EXPECT_EQ(s.mounts[0].target, "/data");
  EXPECT_TRUE(s.mounts[0].read_only);
  EXPECT_EQ(s.mounts[1].type, "volume");
  EXPECT_EQ(s.mounts[1].source, "dbdata");
  EXPECT_EQ(s.mounts[1].target, "/var/lib/db");
  EXPECT_EQ(s.mounts[2].type, "tmpfs");
  EXPECT_EQ(s.mounts[2].target, "/tmp");
  EXPECT_EQ(s.mounts[2].options, (Strings{"size=64m"}));
  EXPECT_EQ(s.mounts[3].source, "/etc/hosts");
  EXPECT_EQ(s.network, "host");
  EXPECT_EQ(s.aliases, (Strings{"database"}));
  EXPECT_EQ(s.restart_policy, (RestartPolicy{"on-failure", 3}));
  EXPECT_EQ(s.stop_signal, 2);
  EXPECT_EQ(s.stop_grace, std::chrono::seconds(5));
  EXPECT_EQ(s.time_to_live, std::chrono::hours(1));
  EXPECT_EQ(s.container.hostname, "db");
  EXPECT_TRUE(s.container.read_only_rootfs);
  EXPECT_EQ(s.container.cap_add, (Strings{"NET_ADMIN"}));
  EXPECT_EQ(s.container.cap_drop, (Strings{"MKNOD"}));
  EXPECT_EQ(s.container.seccomp, "unconfined");
  EXPECT_FALSE(s.container.no_new_privileges);
  ASSERT_EQ(s.container.rlimits.size(), 1u);
  EXPECT_EQ(s.container.rlimits[0], (Rlimit{"nofile", 1024, 2048}));
  EXPECT_EQ(s.container.group_add, (Strings{"wheel"}));
  EXPECT_EQ(s.resources.memory_bytes, 256LL << 20);
  EXPECT_EQ(s.resources.memory_swap_bytes, 512LL << 20);
  EXPECT_EQ(s.resources.cpus, 0.5);
  EXPECT_EQ(s.resources.cpu_shares, 512);
  EXPECT_EQ(s.resources.pids_limit, 100);
  EXPECT_EQ(s.resources.cpuset_cpus, "0");
  ASSERT_TRUE(s.health_check);
  EXPECT_EQ(s.health_check->type, "exec");
  EXPECT_EQ(s.health_check->command, (Strings{"/bin/sh", "-c", "pg_isready"}));
  EXPECT_EQ(s.health_check->interval, std::chrono::seconds(1));
  EXPECT_EQ(s.health_check->timeout, std::chrono::seconds(2));
  EXPECT_EQ(s.health_check->retries, 5);
  EXPECT_EQ(s.health_check->start_period, std::chrono::seconds(3));

  auto& fn = find(stack, "fn").spec;
  EXPECT_EQ(fn.kind, WorkloadKind::wasm);
  EXPECT_EQ(fn.module, "/srv/shop/fn.wasm");
  EXPECT_EQ(fn.args, (Strings{"fn", "--serve"}));
  EXPECT_EQ(fn.wasm.engine, "aot");
  EXPECT_EQ(fn.wasm.memory_limit_bytes, 64LL << 20);
  EXPECT_EQ(fn.wasm.execution_time_limit, std::chrono::seconds(2));
  EXPECT_EQ(fn.wasm.fuel, 1000000u);
  EXPECT_EQ(fn.wasm.preopened_dirs, (Strings{"/srv/shop/data:/data", "/tmp"}));
  EXPECT_EQ(fn.wasm.allowed_peers, (Strings{"10.0.0.0/8:443"}));
  EXPECT_EQ(fn.wasm.pool_size, 4);
  EXPECT_EQ(fn.wasm.kv_max_entries, 100);
  EXPECT_EQ(fn.wasm.kv_max_value_bytes, 1024);

  auto& job = find(stack, "job").spec;
  EXPECT_EQ(job.kind, WorkloadKind::process);
  EXPECT_EQ(job.args, (Strings{"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(job.env, (Strings{"A=1", "B=x=y"}));
  EXPECT_TRUE(job.namespaces.pid);
  EXPECT_TRUE(job.namespaces.mount);
  EXPECT_FALSE(job.namespaces.net);
  EXPECT_EQ(job.stop_signal, 2);
  EXPECT_EQ(job.stop_grace, std::chrono::seconds(3));
  EXPECT_EQ(job.restart_policy, RestartPolicy{});
  ASSERT_TRUE(job.health_check);
  EXPECT_EQ(job.health_check->type, "http");
  EXPECT_EQ(job.health_check->target, "8080/healthz");
  EXPECT_EQ(job.health_check->interval, std::chrono::seconds(30));  // HealthCheck's default
}

TEST(StackFile, DefaultsWhenTheStackTableIsAbsent) {
  auto stack = parse_ok("[workloads.a]\ncommand = [\"true\"]\n", {}, "/home/me/My Shop/berth.toml");
  EXPECT_EQ(stack.name, "my-shop");
  EXPECT_TRUE(stack.rollback);
  EXPECT_EQ(stack.start_timeout, std::chrono::seconds(60));
  ASSERT_EQ(stack.workloads.size(), 1u);
  EXPECT_EQ(stack.workloads[0].spec.kind, WorkloadKind::process);
  EXPECT_EQ(stack.workloads[0].spec.stop_signal, 15);
}

TEST(StackFile, ANetworkListJoinsSeveralWithTheFirstForTheRoute) {
  auto stack = parse_ok("[workloads.a]\nimage = \"busybox\"\nnetwork = [\"front\", \"back\", \"admin\"]\n");
  ASSERT_EQ(stack.workloads.size(), 1u);
  EXPECT_EQ(stack.workloads[0].spec.network, "front");
  EXPECT_EQ(stack.workloads[0].spec.additional_networks, (std::vector<std::string>{"back", "admin"}));
}

TEST(StackFile, StartOrderIsTopologicalWithTiesByName) {
  // web needs api and cache; api needs db; cache and db need nothing; zeta and alpha are free.
  auto text = R"([workloads.web]
command = ["web"]
depends_on = ["cache", "api"]
[workloads.zeta]
command = ["z"]
[workloads.api]
command = ["api"]
depends_on = ["db"]
[workloads.db]
command = ["db"]
[workloads.cache]
command = ["cache"]
[workloads.alpha]
command = ["a"]
depends_on = ["db", "db"]
)";
  auto stack = parse_ok(text);
  EXPECT_EQ(names(stack), (Strings{"cache", "db", "alpha", "api", "web", "zeta"}));
  EXPECT_EQ(find(stack, "web").depends_on, (Strings{"api", "cache"}));
  EXPECT_EQ(find(stack, "alpha").depends_on, (Strings{"db"}));
  EXPECT_EQ(find(stack, "web").line, 1);
  EXPECT_EQ(find(stack, "alpha").line, 13);
  // The same file always gives the same order.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(names(parse_ok(text)), names(stack));
}

TEST(StackFile, InterpolatesEnvironment) {
  Environment env{{"TAG", "1.2"}, {"EMPTY", ""}, {"DOLLARS", "a$b"}};
  auto stack = parse_ok(R"([workloads.app]
image = "shop:${env.TAG}"
command = ["run", "${env.MISSING:-fallback}", "${env.EMPTY:-was empty}", "${env.EMPTY}", "costs $$5", "$HOME", "${env.DOLLARS}"]
labels = { version = "v${env.TAG}-${env.TAG}" }
)",
                        env);
  auto& s = find(stack, "app").spec;
  EXPECT_EQ(s.image, "shop:1.2");
  EXPECT_EQ(s.args, (Strings{"run", "fallback", "was empty", "", "costs $5", "$HOME", "a$b"}));
  EXPECT_EQ(s.labels.at("version"), "v1.2-1.2");
}

TEST(StackFile, UnsetVariableWithoutDefaultIsAProblemNamingIt) {
  EXPECT_EQ(problems_of(R"([workloads.app]
command = ["run"]
env = { PASSWORD = "${env.DB_PASSWORD}" }
user = "${nope}"
)"),
            (Strings{
                "berth.toml:3:20: workloads.app.env.PASSWORD: ${env.DB_PASSWORD}: DB_PASSWORD is not set (give a "
                "default with ${env.DB_PASSWORD:-DEFAULT})",
                "berth.toml:4:8: workloads.app.user: \"${nope}\" is not ${env.NAME}, ${env.NAME:-DEFAULT} or "
                "${workloads.NAME.KEY} (write $$ for a literal $)",
            }));
}

TEST(StackFile, WorkloadReferencesImplyDependenciesAndResolveLater) {
  auto stack = parse_ok(R"([workloads.web]
command = ["web", "--db=${workloads.db.address}", "--price=$$3"]
env = { CACHE = "${workloads.cache.host_port.6379}", LITERAL = "$${workloads.db.id}", PLAIN = "$$x" }
labels = { peer = "${workloads.my.cache.name}" }
[workloads.web.health]
type = "tcp"
target = "${workloads.db.address}:5432"
[workloads.db]
command = ["db"]
[workloads.cache]
command = ["cache"]
[workloads."my.cache"]
command = ["c"]
)");
  EXPECT_EQ(names(stack), (Strings{"cache", "db", "my.cache", "web"}));
  auto& web = find(stack, "web");
  EXPECT_EQ(web.depends_on, (Strings{"cache", "db", "my.cache"}));
  // Before resolution the references are still there; a string without one is final.
  EXPECT_EQ(web.spec.args[1], "--db=${workloads.db.address}");
  EXPECT_EQ(web.spec.env[2], "PLAIN=$x");

  std::vector<std::string> asked;
  auto resolved = resolve_workload_references(web, [&](std::string_view workload, std::string_view key)
                                                       -> Result<std::string> {
    asked.push_back(fmt::format("{}/{}", workload, key));
    if (key == "address") return std::string("10.0.0.") + (workload == "db" ? "2" : "3");
    if (key == "host_port.6379") return std::string("32768");
    if (key == "name") return "shop-" + std::string(workload);
    return fail(ErrorCode::not_found, "no such key");
  });
  ASSERT_TRUE(resolved) << resolved.error().message;
  EXPECT_EQ(resolved->args, (Strings{"web", "--db=10.0.0.2", "--price=$3"}));
  EXPECT_EQ(resolved->env, (Strings{"CACHE=32768", "LITERAL=${workloads.db.id}", "PLAIN=$x"}));
  EXPECT_EQ(resolved->labels.at("peer"), "shop-my.cache");
  EXPECT_EQ(resolved->health_check->target, "10.0.0.2:5432");
  EXPECT_EQ(asked, (Strings{"db/address", "cache/host_port.6379", "my.cache/name", "db/address"}));

  auto failed = resolve_workload_references(web, [](std::string_view, std::string_view) -> Result<std::string> {
    return fail(ErrorCode::unavailable, "db is not running");
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::unavailable);
  EXPECT_EQ(failed.error().message,
            "workloads.web.command[1]: ${workloads.db.address}: db is not running");
}

TEST(StackFile, LogLimits) {
  auto stack = parse_ok(R"([workloads.web]
command = "serve"
[workloads.web.log]
max_size = "10m"
max_file = 3
[workloads.job]
command = "run"
)");
  EXPECT_EQ(find(stack, "web").spec.log, (LogConfig{.max_size_bytes = 10 << 20, .max_file = 3}));
  EXPECT_EQ(find(stack, "job").spec.log, LogConfig{});
  auto problems = problems_of(R"([workloads.web]
command = "serve"
[workloads.web.log]
max_size = "abc"
max_file = 0
max_age = "1d"
)");
  ASSERT_EQ(problems.size(), 3u) << fmt::format("{}", fmt::join(problems, "\n"));
  EXPECT_NE(fmt::format("{}", fmt::join(problems, "\n")).find("workloads.web.log.max_size"), std::string::npos);
  EXPECT_NE(fmt::format("{}", fmt::join(problems, "\n")).find("workloads.web.log.max_file"), std::string::npos);
  EXPECT_NE(fmt::format("{}", fmt::join(problems, "\n")).find("max_age"), std::string::npos);
}

TEST(StackFile, ReferenceProblems) {
  EXPECT_EQ(problems_of(R"([workloads.web]
command = ["${workloads.ghost.address}", "${workloads.web.id}", "${workloads.db.ip}"]
image = "${workloads.db.name}"
)"),
            (Strings{
                "berth.toml:2:12: workloads.web: refers to \"ghost\", which is not a workload of this stack",
                "berth.toml:2:42: workloads.web: depends on itself",
                "berth.toml:2:65: workloads.web.command[2]: \"${workloads.db.ip}\" is not ${workloads.NAME.KEY} "
                "with KEY address, name, id or host_port.PORT",
                "berth.toml:3:9: workloads.web.image: ${workloads.*} is resolved only in command, entrypoint, env, "
                "labels and health",
            }));
}

TEST(StackFile, ReportsEveryProblemWithItsLine) {
  auto problems = problems_of(R"([stack]
name = "Shop"
start_timeout = "soon"

[workloads.web]
image = "nginx"
ports = ["80:80:80", "8080"]
mounts = ["/only"]
restart = "sometimes"
stop_signal = "SIGNOPE"
memory = "1g"
depends_on = ["ghost"]

[workloads.web.resources]
memory = "12XB"
cpus = "half"

[workloads.web.health]
type = "http"

[workloads.Bad]
command = ["x"]

[workloads.job]
image = "busybox"
kind = "process"
retries = 3
)");
  EXPECT_EQ(problems, (Strings{
      "berth.toml:2:8: stack.name: \"Shop\" is not a valid name ([a-z0-9][a-z0-9_.-]*)",
      "berth.toml:3:17: stack.start_timeout: invalid duration \"soon\": expected e.g. 10s, 1m30s, 250ms, 2h or "
      "plain seconds",
      "berth.toml:7:10: workloads.web.ports[0]: \"80:80:80\" is not [HOST_IP:]HOST_PORT:CONTAINER_PORT (\"80\" "
      "is not an IPv4 address)",
      "berth.toml:8:11: workloads.web.mounts[0]: \"/only\" is not SRC:DST[:OPTIONS]",
      "berth.toml:9:11: workloads.web.restart: \"sometimes\" is not one of no, always, unless-stopped, "
      "on-failure[:N]",
      "berth.toml:10:15: workloads.web.stop_signal: \"SIGNOPE\" is not a signal name or number",
      "berth.toml:11:1: workloads.web.memory: unknown key",
      "berth.toml:12:15: workloads.web: depends on \"ghost\", which is not a workload of this stack",
      "berth.toml:15:10: workloads.web.resources.memory: invalid size \"12XB\" (a number with b, k, m, g or t)",
      "berth.toml:16:8: workloads.web.resources.cpus: expected a number, not a string",
      "berth.toml:18:1: workloads.web.health: an http check needs a target (\"8080/healthz\" or "
      "\"http://HOST:PORT/PATH\")",
      "berth.toml:21:12: workloads.Bad: \"Bad\" is not a valid workload name ([a-z0-9][a-z0-9_.-]*)",
      "berth.toml:24:1: workloads.job: a process workload needs a command",
      "berth.toml:25:9: workloads.job.image: only containers take this (the kind is process)",
      "berth.toml:27:1: workloads.job.retries: unknown key",
  }));

  auto stack = parse_stack("[workloads.a]\ncommand = 1\n[workloads.b]\ncommand = [\"x\"]\nkind = \"vm\"\n",
                           "stack/berth.toml", {});
  ASSERT_FALSE(stack);
  EXPECT_EQ(stack.error().code, ErrorCode::invalid_spec);
  EXPECT_EQ(stack.error().message,
            "stack/berth.toml:2:11: workloads.a.command: expected an array or a string, not an integer\n"
            "stack/berth.toml:5:8: workloads.b.kind: \"vm\" is not process, container or wasm");
}

TEST(StackFile, NamesTheWholeCycle) {
  auto text = R"([workloads.c]
command = ["c"]
depends_on = ["a"]
[workloads.b]
command = ["b"]
depends_on = ["c"]
[workloads.a]
command = ["a"]
depends_on = ["b"]
[workloads.d]
command = ["d"]
depends_on = ["a", "d"]
[workloads.e]
command = ["e"]
depends_on = ["f"]
[workloads.f]
command = ["f"]
depends_on = ["e"]
)";
  EXPECT_EQ(problems_of(text), (Strings{
      "berth.toml:7:1: workloads.a: dependency cycle: a -> b -> c -> a",
      "berth.toml:12:20: workloads.d: depends on itself",
      "berth.toml:13:1: workloads.e: dependency cycle: e -> f -> e",
  }));
  auto stack = parse_stack(text, "berth.toml", {});
  ASSERT_FALSE(stack);
  EXPECT_NE(stack.error().message.find("cycle: a -> b -> c -> a"), std::string::npos) << stack.error().message;
}

TEST(StackFile, UnknownKeysAtEveryLevelSuggestTheIntendedOne) {
  EXPECT_EQ(problems_of(R"(version = 3
[stack]
nmae = "x"
[workloads.a]
comand = ["a"]
command = ["a"]
[workloads.a.resources]
memroy = "1g"
[workloads.a.health]
type = "exec"
command = ["true"]
intervall = "1s"
colour = "blue"
)"),
            (Strings{
                "berth.toml:1:1: version: unknown key",
                "berth.toml:3:1: stack.nmae: unknown key (did you mean \"name\"?)",
                "berth.toml:5:1: workloads.a.comand: unknown key (did you mean \"command\"?)",
                "berth.toml:8:1: workloads.a.resources.memroy: unknown key (did you mean \"memory\"?)",
                "berth.toml:12:1: workloads.a.health.intervall: unknown key (did you mean \"interval\"?)",
                "berth.toml:13:1: workloads.a.health.colour: unknown key",
            }));
}

TEST(StackFile, SyntaxErrorIsOneProblemAtTomlsPosition) {
  auto problems = validate_stack("[workloads.a]\ncommand = \"x\nimage = 2\n", "berth.toml", {});
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].file, "berth.toml");
  EXPECT_EQ(problems[0].line, 2);
  EXPECT_EQ(problems[0].column, 13);
  EXPECT_EQ(problems[0].message,
            "Error while parsing string: unescaped control characters other than TAB (U+0009) are explicitly "
            "prohibited");

  auto duplicate = validate_stack("[workloads.a]\ncommand = [\"a\"]\ncommand = [\"b\"]\n", "berth.toml", {});
  ASSERT_EQ(duplicate.size(), 1u);
  EXPECT_EQ(duplicate[0].line, 3);
  EXPECT_EQ(duplicate[0].column, 11);
  EXPECT_NE(duplicate[0].message.find("command"), std::string::npos) << duplicate[0].message;
}

TEST(StackFile, NoWorkloadsIsAProblem) {
  EXPECT_EQ(problems_of("[stack]\nname = \"x\"\n"),
            (Strings{"berth.toml:1:1: workloads: the stack has no workloads ([workloads.NAME])"}));
}

// up names each workload "<stack>-<name>"; one longer than a workload name may be (128) is
// refused by validate as up would refuse it, at the workload's line.
TEST(StackFile, AComposedNameLongerThanTheRuntimeAllowsIsAProblem) {
  std::string stack(60, 's'), fits(67, 'w'), too_long(68, 'w');
  auto text = fmt::format("[stack]\nname = \"{}\"\n[workloads.{}]\ncommand = [\"true\"]\n[workloads.{}]\ncommand = [\"true\"]\n",
                          stack, fits, too_long);
  EXPECT_EQ(problems_of(text),
            (Strings{fmt::format("berth.toml:5:1: workloads.{0}: its name in the runtime, \"{1}-{0}\", is 129 characters "
                                 "long, more than the 128 a workload name may have: shorten the stack's or the "
                                 "workload's name",
                                 too_long, stack)}));
}

TEST(StackFile, KindDecidesWhichFieldsAreAllowed) {
  EXPECT_EQ(problems_of(R"([workloads.p]
command = ["p"]
hostname = "p"
[workloads.p.wasm]
fuel = 10
[workloads.c]
image = "busybox"
rootfs = "./rootfs"
namespaces = ["pid"]
[workloads.w]
kind = "wasm"
[workloads.x]
kind = "container"
)"),
            (Strings{
                "berth.toml:3:12: workloads.p.hostname: only containers take this (the kind is process)",
                "berth.toml:4:1: workloads.p.wasm: only wasm workloads take this (the kind is process)",
                "berth.toml:8:10: workloads.c.rootfs: a container takes image or rootfs, not both",
                "berth.toml:9:14: workloads.c.namespaces: only process workloads take this (the kind is container)",
                "berth.toml:10:1: workloads.w: a wasm workload needs a module",
                "berth.toml:12:1: workloads.x: a container needs image or rootfs",
            }));
}

TEST(StackFile, RelativePathsAreRelativeToTheFilesDirectory) {
  auto dir = std::filesystem::temp_directory_path() / fmt::format("berth-stack-test-{}", getpid());
  std::filesystem::create_directories(dir / "Web App");
  auto file = dir / "Web App" / "berth.toml";
  {
    std::ofstream out(file);
    out << R"([workloads.site]
rootfs = "rootfs"
mounts = ["./html:/usr/share/html:ro", "../shared:/shared", "logs:/var/log"]
seccomp = "profiles/seccomp.json"
command = ["./serve"]
[workloads.fn]
module = "../fn.wasm"
[workloads.fn.wasm]
dirs = ["data:/data"]
)";
  }
  // A relative path to the file itself works from anywhere.
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir);
  auto stack = load_stack_file("Web App/berth.toml", {});
  std::filesystem::current_path(cwd);
  ASSERT_TRUE(stack) << stack.error().message;
  auto base = (dir / "Web App").string();
  EXPECT_EQ(stack->path, base + "/berth.toml");
  EXPECT_EQ(stack->name, "web-app");
  auto& site = find(*stack, "site").spec;
  EXPECT_EQ(site.kind, WorkloadKind::container);
  EXPECT_EQ(site.rootfs, base + "/rootfs");
  EXPECT_EQ(site.mounts[0].source, base + "/html");
  EXPECT_EQ(site.mounts[1].source, dir.string() + "/shared");
  EXPECT_EQ(site.mounts[2].type, "volume");
  EXPECT_EQ(site.mounts[2].source, "logs");
  EXPECT_EQ(site.container.seccomp, base + "/profiles/seccomp.json");
  EXPECT_EQ(site.args, (Strings{"./serve"}));  // argv is the workload's, not a host path
  auto& fn = find(*stack, "fn").spec;
  EXPECT_EQ(fn.module, dir.string() + "/fn.wasm");
  EXPECT_EQ(fn.wasm.preopened_dirs, (Strings{base + "/data:/data"}));

  auto missing = load_stack_file((dir / "nope.toml").string(), {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  std::filesystem::remove_all(dir);
}

TEST(StackFile, TheDocumentedExampleIsValid) {
  std::ifstream in(std::string(BERTH_SOURCE_DIR) + "/docs/stack-file.md");
  std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto start = doc.find("```toml\n[stack]");
  ASSERT_NE(start, std::string::npos);
  start += 8;
  auto stack = parse_ok(std::string_view(doc).substr(start, doc.find("```", start) - start));
  EXPECT_EQ(names(stack), (Strings{"cache", "db", "api", "thumbnails"}));
  EXPECT_EQ(find(stack, "api").depends_on, (Strings{"cache", "db"}));
}

}  // namespace
}  // namespace berth::stack
