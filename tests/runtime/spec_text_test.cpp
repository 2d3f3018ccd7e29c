// Docker's text forms of spec fields, as `docker run` reads them.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include "runtime/spec_text.hpp"

namespace berth {
namespace {

std::string error_of(const auto& result) {
  EXPECT_FALSE(result);
  return result ? std::string() : result.error().message;
}

TEST(SpecTextPorts, ReadsEveryDockerForm) {
  auto p = parse_port_mapping("8080:80");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host_ip, "");
  EXPECT_EQ(p->host_port, 8080);
  EXPECT_EQ(p->container_port, 80);
  EXPECT_EQ(p->protocol, "tcp");

  p = parse_port_mapping("127.0.0.1:5432:5432/tcp");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host_ip, "127.0.0.1");
  EXPECT_EQ(p->host_port, 5432);
  EXPECT_EQ(p->container_port, 5432);

  p = parse_port_mapping("9000");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host_port, std::nullopt);
  EXPECT_EQ(p->container_port, 9000);

  p = parse_port_mapping("53/udp");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->container_port, 53);
  EXPECT_EQ(p->protocol, "udp");

  p = parse_port_mapping("127.0.0.1::80");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host_ip, "127.0.0.1");
  EXPECT_EQ(p->host_port, std::nullopt);
  EXPECT_EQ(p->container_port, 80);

  p = parse_port_mapping("[::1]:8080:80/udp");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host_ip, "::1");
  EXPECT_EQ(p->host_port, 8080);
  EXPECT_EQ(p->container_port, 80);
  EXPECT_EQ(p->protocol, "udp");

  p = parse_port_mapping("[2001:db8::1]::443");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host_ip, "2001:db8::1");
  EXPECT_EQ(p->host_port, std::nullopt);
  EXPECT_EQ(p->container_port, 443);

  p = parse_port_mapping("65535:1");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->host_port, 65535);
}

TEST(SpecTextPorts, RefusesWhatDockerRefusesNamingFieldAndText) {
  EXPECT_EQ(error_of(parse_port_mapping("80:80:80", "ports[0]")),
            "ports[0]: \"80:80:80\" is not [HOST_IP:]HOST_PORT:CONTAINER_PORT (\"80\" is not an IPv4 address)");
  EXPECT_EQ(error_of(parse_port_mapping("0")),
            "publish: \"0\" is not [HOST_IP:]HOST_PORT:CONTAINER_PORT (container port \"0\" is not a port in 1-65535)");
  EXPECT_EQ(error_of(parse_port_mapping("65536:80")),
            "publish: \"65536:80\" is not [HOST_IP:]HOST_PORT:CONTAINER_PORT (host port \"65536\" is not a port in 1-65535)");
  EXPECT_EQ(error_of(parse_port_mapping("80/sctp")),
            "publish: \"80/sctp\" is not [HOST_IP:]HOST_PORT:CONTAINER_PORT (\"sctp\" is not tcp or udp)");
  for (auto text : {"", "http", "80:", ":80", "8o", "+80", "1:2:3:4", "::1:80:80", "[::1]:80", "[]:1:2",
                    "[127.0.0.1]:1:2", "localhost:80:80", "80/"})
    EXPECT_FALSE(parse_port_mapping(text)) << text;
}

TEST(SpecTextRestart, ReadsEveryPolicy) {
  EXPECT_EQ(parse_restart_policy("no"), (RestartPolicy{"no", 0}));
  EXPECT_EQ(parse_restart_policy("always"), (RestartPolicy{"always", 0}));
  EXPECT_EQ(parse_restart_policy("unless-stopped"), (RestartPolicy{"unless-stopped", 0}));
  EXPECT_EQ(parse_restart_policy("on-failure"), (RestartPolicy{"on-failure", 0}));
  EXPECT_EQ(parse_restart_policy("on-failure:3"), (RestartPolicy{"on-failure", 3}));
  EXPECT_EQ(parse_restart_policy("on-failure:0"), (RestartPolicy{"on-failure", 0}));
}

TEST(SpecTextRestart, RefusesOthersNamingFieldAndText) {
  EXPECT_EQ(error_of(parse_restart_policy("sometimes")),
            "restart: \"sometimes\" is not one of no, always, unless-stopped, on-failure[:N]");
  EXPECT_EQ(error_of(parse_restart_policy("always:3", "workloads.a.restart")),
            "workloads.a.restart: \"always:3\": only on-failure takes a retry count");
  EXPECT_EQ(error_of(parse_restart_policy("on-failure:-1")),
            "restart: retry count of \"on-failure:-1\": -1 is not at least 0");
  EXPECT_EQ(error_of(parse_restart_policy("on-failure:x")),
            "restart: retry count of \"on-failure:x\": \"x\" is not a whole number");
  EXPECT_FALSE(parse_restart_policy("on-failure:"));
  EXPECT_FALSE(parse_restart_policy(""));
}

TEST(SpecTextVolumes, BindsPathsAndNamesVolumes) {
  auto m = parse_volume("/srv/data:/data:ro");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->type, "bind");
  EXPECT_EQ(m->source, "/srv/data");
  EXPECT_EQ(m->target, "/data");
  EXPECT_TRUE(m->read_only);

  m = parse_volume("./data:/data");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->type, "bind");
  EXPECT_EQ(m->source, "./data");

  m = parse_volume("../up:/up:rw,rprivate");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->type, "bind");
  EXPECT_FALSE(m->read_only);
  EXPECT_EQ(m->options, std::vector<std::string>{"rprivate"});

  m = parse_volume("dbdata:/var/lib/db");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->type, "volume");
  EXPECT_EQ(m->source, "dbdata");

  EXPECT_EQ(error_of(parse_volume("/only")), "volume: \"/only\" is not SRC:DST[:OPTIONS]");
  EXPECT_EQ(error_of(parse_volume("a:/b:ro,", "mounts[1]")), "mounts[1]: \"a:/b:ro,\" has an empty option");
}

TEST(SpecTextVolumes, TmpfsTakesOptions) {
  auto m = parse_tmpfs("/tmp:size=64m,ro");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->type, "tmpfs");
  EXPECT_EQ(m->target, "/tmp");
  EXPECT_TRUE(m->read_only);
  EXPECT_EQ(m->options, std::vector<std::string>{"size=64m"});
  EXPECT_EQ(error_of(parse_tmpfs(":size=1m")), "tmpfs: \":size=1m\" is not DST[:OPTIONS]");
}

TEST(SpecTextUlimits, SoftHardAndUnlimited) {
  EXPECT_EQ(parse_ulimit("nofile=1024:2048"), (Rlimit{"nofile", 1024, 2048}));
  EXPECT_EQ(parse_ulimit("nproc=100"), (Rlimit{"nproc", 100, 100}));
  EXPECT_EQ(parse_ulimit("core=-1"), (Rlimit{"core", RLIM_INFINITY, RLIM_INFINITY}));
  EXPECT_EQ(error_of(parse_ulimit("nofile")), "ulimit: \"nofile\" is not TYPE=SOFT[:HARD]");
  EXPECT_EQ(error_of(parse_ulimit("nofile=x", "ulimits[0]")), "ulimits[0]: \"x\" is not a whole number");
}

}  // namespace
}  // namespace berth
