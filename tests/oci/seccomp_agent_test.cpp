// A seccomp agent (runtime-spec linux.seccomp.listenerPath): a profile using SCMP_ACT_NOTIFY
// has its listener sent, with the container process state, to the agent's socket during
// create; the agent then decides those syscalls. Here the test is the agent.
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <thread>

#include "oci/oci_fixture.hpp"

namespace berth::testing {
namespace {

using OciSeccompAgent = OciTest;

constexpr int agent_errno = EDOM;  // an answer only the agent gives: "Numerical argument out of domain"

struct AgentSaw {
  nlohmann::json state;
  int notifications = 0;
  std::string error;
};

// Accepts one connection, takes the message and its fd, and answers every notification with
// agent_errno until the filter's last process is gone.
void run_agent(int listener, AgentSaw& saw) {
  pollfd ready{listener, POLLIN, 0};
  if (::poll(&ready, 1, 10000) != 1) {
    saw.error = "no connection";
    return;
  }
  UniqueFd client(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  std::string text(65536, '\0');
  iovec iov{text.data(), text.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(client.get(), &msg, MSG_CMSG_CLOEXEC);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (n <= 0 || !c || c->cmsg_type != SCM_RIGHTS) {
    saw.error = "no message with an fd";
    return;
  }
  int raw;
  std::memcpy(&raw, CMSG_DATA(c), sizeof raw);
  UniqueFd notify(raw);
  text.resize(static_cast<std::size_t>(n));
  // The rest of a long message, until the runtime closes the connection.
  for (char buf[4096]; (n = ::read(client.get(), buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
  saw.state = nlohmann::json::parse(text, nullptr, false);
  for (;;) {
    pollfd p{notify.get(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1 || (p.revents & POLLHUP)) return;
    seccomp_notif request{};
    if (::ioctl(notify.get(), SECCOMP_IOCTL_NOTIF_RECV, &request) != 0) continue;
    seccomp_notif_resp response{};
    response.id = request.id;
    response.error = -agent_errno;
    (void)::ioctl(notify.get(), SECCOMP_IOCTL_NOTIF_SEND, &response);
    ++saw.notifications;
  }
}

nlohmann::json notify_profile(const std::string& listener_path) {
  nlohmann::json profile = {{"defaultAction", "SCMP_ACT_ALLOW"},
                            {"architectures", {"SCMP_ARCH_X86_64"}},
                            {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_NOTIFY"}}}}};
  if (!listener_path.empty()) {
    profile["listenerPath"] = listener_path;
    profile["listenerMetadata"] = "from-the-config";
  }
  return profile;
}

TEST_F(OciSeccompAgent, TheAgentGetsTheListenerAndDecidesTheNotifiedCalls) {
  for (bool no_new_privileges : {true, false}) {
    SCOPED_TRACE(no_new_privileges ? "with noNewPrivileges" : "without noNewPrivileges");
    std::string path = dir_ + (no_new_privileges ? "/agent-nnp.sock" : "/agent.sock");
    UniqueFd listener = listen_console_socket(path);
    ASSERT_TRUE(listener);
    AgentSaw saw;
    std::thread agent(run_agent, listener.get(), std::ref(saw));
    config_["process"]["noNewPrivileges"] = no_new_privileges;
    config_["linux"]["seccomp"] = notify_profile(path);
    config_["mounts"].push_back({{"destination", "/scratch"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
    // The workload must not hold its own filter's listener: no seccomp fd among its fds.
    set_args({"sh", "-c", "mkdir /scratch/d 2>&1; echo rc=$?; ls -l /proc/self/fd"});
    auto r = run(no_new_privileges ? "agented-nnp" : "agented");
    agent.join();
    config_["mounts"].erase(config_["mounts"].size() - 1);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(saw.error, "");
    EXPECT_NE(r.out.find("Numerical argument out of domain"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("rc=1"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("seccomp"), std::string::npos) << "the workload holds a listener: " << r.out;
    EXPECT_GE(saw.notifications, 1);
    EXPECT_EQ(saw.state.value("metadata", ""), "from-the-config") << saw.state.dump();
    EXPECT_EQ(saw.state.value("fds", nlohmann::json()), nlohmann::json({"seccompFd"})) << saw.state.dump();
    EXPECT_GT(saw.state.value("pid", 0), 0) << saw.state.dump();
    EXPECT_EQ(saw.state["state"].value("status", ""), "creating") << saw.state.dump();
    EXPECT_EQ(saw.state["state"].value("id", ""), no_new_privileges ? "agented-nnp" : "agented");
  }
}

// As runc: each exec'd process loads the filter with its own listener, sent to the agent with
// the process's pid and the container's state (running).
TEST_F(OciSeccompAgent, AnExecdProcessesListenerGoesToTheAgentToo) {
  std::string path = dir_ + "/agent.sock";
  UniqueFd listener = listen_console_socket(path);
  ASSERT_TRUE(listener);
  AgentSaw for_init, for_exec;
  std::thread init_agent(run_agent, listener.get(), std::ref(for_init));
  config_["linux"]["seccomp"] = notify_profile(path);
  config_["mounts"].push_back({{"destination", "/scratch"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
  set_args({"sleep", "1000"});
  auto created = create("execagent");
  if (created.code != 0) {
    ::shutdown(listener.get(), SHUT_RDWR);
    init_agent.join();
    FAIL() << created.err;
  }
  ASSERT_EQ(oci({"start", "execagent"}).code, 0);
  std::thread exec_agent(run_agent, listener.get(), std::ref(for_exec));
  auto r = oci({"exec", "execagent", "sh", "-c", "mkdir /scratch/e 2>&1; echo rc=$?"});
  EXPECT_EQ(oci({"delete", "--force", "execagent"}).code, 0);
  exec_agent.join();
  init_agent.join();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Numerical argument out of domain"), std::string::npos) << r.out;
  EXPECT_EQ(for_exec.state["state"].value("status", ""), "running") << for_exec.state.dump();
  EXPECT_NE(for_exec.state.value("pid", 0), for_init.state.value("pid", 0)) << "the exec'd process's own pid";
  EXPECT_GE(for_exec.notifications, 1);
  EXPECT_EQ(for_init.notifications, 0);
}

TEST_F(OciSeccompAgent, NotifyWithoutAReachableAgentIsOneClearErrorAndLeavesNothing) {
  config_["linux"]["seccomp"] = notify_profile("");
  auto missing = create("noagent");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("linux.seccomp.listenerPath"), std::string::npos) << missing.err;
  EXPECT_FALSE(path_exists(root_ + "/noagent"));

  config_["linux"]["seccomp"] = notify_profile(dir_ + "/nobody-listens.sock");
  auto unreachable = create("unreachable");
  EXPECT_NE(unreachable.code, 0);
  EXPECT_NE(unreachable.err.find("linux.seccomp.listenerPath"), std::string::npos) << unreachable.err;
  EXPECT_FALSE(path_exists(root_ + "/unreachable"));
  EXPECT_FALSE(path_exists("/sys/fs/cgroup/pids/berth-oci/unreachable"));

  config_["linux"]["seccomp"] = notify_profile("relative.sock");
  auto relative = create("relative");
  EXPECT_NE(relative.code, 0);
  EXPECT_NE(relative.err.find("linux.seccomp.listenerPath: must be an absolute path"), std::string::npos)
      << relative.err;
}

}  // namespace
}  // namespace berth::testing
