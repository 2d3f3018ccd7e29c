// Health checks of containers: HTTP and TCP probes reach the container's own loopback (its
// private network namespace), and an exec probe runs inside it.
#include "container/container_fixture.hpp"
#include "supervised.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class ContainerHealthTest : public Supervised<ContainerTest> {
 protected:
  static HealthCheck check(std::string type, std::string target, std::vector<std::string> command = {}) {
    HealthCheck h;
    h.type = std::move(type);
    h.target = std::move(target);
    h.command = std::move(command);
    h.interval = 100ms;
    h.timeout = 2s;
    h.retries = 2;
    h.start_period = 3s;
    return h;
  }
};

TEST_F(ContainerHealthTest, ProbesReachTheContainersOwnLoopback) {
  auto web = container_spec({"sh", "-c", "mkdir -p /tmp/w && echo ok > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w"}, "web");
  web.health_check = check("http", "8080/index.html");
  run(web);
  auto ready = supervisor_->wait_ready("web", 15s);
  ASSERT_TRUE(ready) << ready.error().message;
  EXPECT_NE(runtime_->status("web")->health.back().output.find("200"), std::string::npos);

  auto tcp = container_spec({"httpd", "-f", "-p", "9000"}, "tcp");
  tcp.health_check = check("tcp", "9000");
  run(tcp);
  ready = supervisor_->wait_ready("tcp", 15s);
  ASSERT_TRUE(ready) << ready.error().message;

  auto inside = container_spec({"sleep", "100"}, "inside");
  inside.health_check = check("exec", "", {"sh", "-c", "test \"$(hostname)\" = inside"});
  run(inside);
  ready = supervisor_->wait_ready("inside", 15s);
  ASSERT_TRUE(ready) << ready.error().message;
}

}  // namespace
}  // namespace berth::testing
