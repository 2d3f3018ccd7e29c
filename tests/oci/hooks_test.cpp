// OCI hooks through the real berth-oci binary: every kind runs at its point of the lifecycle, in
// order, with the state on stdin and its configured args and env; a failing or hanging create
// hook fails create and leaves nothing behind; a failing startContainer hook stops the
// container; failing poststart and poststop hooks are warnings.
#include <signal.h>

#include <chrono>
#include <thread>

#include "oci/oci_fixture.hpp"

namespace berth::testing {
namespace {

class OciHooks : public OciTest {
 protected:
  // A sh script at DIR/NAME (made executable) with `body` after the shebang.
  std::string script(const std::string& name, const std::string& body) {
    std::string path = dir_ + "/" + name;
    EXPECT_TRUE(write_file(path, "#!/bin/sh\n" + body + "\n"));
    ::chmod(path.c_str(), 0755);
    return path;
  }
  // A hook that appends "KIND ARG1 STATUS PID" to DIR/log and keeps its stdin in DIR/KIND.json.
  nlohmann::json logging_hook(const std::string& kind) {
    std::string path = script("log-" + kind,
                              "cat > " + dir_ + "/" + kind + ".json; "
                              "echo \"$1 $HOOK_VAR $(sed -n 's/.*\"status\": *\"\\([a-z]*\\)\".*/\\1/p' " + dir_ + "/" + kind +
                                  ".json) $(sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p' " + dir_ + "/" + kind + ".json)\" >> " +
                                  dir_ + "/log");
    return {{"path", path}, {"args", {path, kind}}, {"env", {"HOOK_VAR=v-" + kind}}, {"timeout", 10}};
  }
  std::string log() { return read_file(dir_ + "/log").value_or(""); }

  bool cgroup_left(const std::string& id) {
    for (auto base : {"/sys/fs/cgroup/memory/berth-oci/", "/sys/fs/cgroup/pids/berth-oci/", "/sys/fs/cgroup/berth-oci/"})
      if (path_exists(base + id)) return true;
    return false;
  }
};

TEST_F(OciHooks, EveryKindRunsInOrderWithStateArgsAndEnv) {
  set_args({"sleep", "1000"});
  for (auto kind : {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"})
    config_["hooks"][kind] = {logging_hook(kind)};
  // startContainer runs in the container: its script (and its log) must be reachable there.
  // The rootfs is read-only; the test dir is bound into the container at the same path.
  config_["mounts"].push_back({{"destination", dir_}, {"type", "bind"}, {"source", dir_}, {"options", {"rbind", "rw"}}});
  auto created = create("hooked");
  ASSERT_EQ(created.code, 0) << created.err;
  int pid = state("hooked")["pid"];
  EXPECT_EQ(log(), "prestart v-prestart creating " + std::to_string(pid) + "\n" +
                       "createRuntime v-createRuntime creating " + std::to_string(pid) + "\n" +
                       "createContainer v-createContainer creating " + std::to_string(pid) + "\n");
  auto stdin_state = nlohmann::json::parse(read_file(dir_ + "/createRuntime.json").value_or("{}"), nullptr, false);
  ASSERT_TRUE(stdin_state.is_object());
  EXPECT_EQ(stdin_state["id"], "hooked");
  EXPECT_EQ(stdin_state["bundle"], bundle_);
  EXPECT_EQ(stdin_state["ociVersion"], config_["ociVersion"]);

  auto started = oci({"start", "hooked"});
  ASSERT_EQ(started.code, 0) << started.err;
  EXPECT_EQ(started.err, "");
  auto after_start = log();
  EXPECT_NE(after_start.find("startContainer v-startContainer created " + std::to_string(pid) + "\npoststart v-poststart running " +
                             std::to_string(pid) + "\n"),
            std::string::npos)
      << after_start;

  auto deleted = oci({"delete", "--force", "hooked"});
  ASSERT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_NE(log().find("poststop v-poststop stopped 0\n"), std::string::npos) << log();
  auto all = log();
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 6) << all;
}

TEST_F(OciHooks, CreateContainerAndStartContainerRunInTheContainersMountNamespace) {
  set_args({"sleep", "1000"});
  std::string hook = script("mnt", "readlink /proc/self/ns/mnt > " + dir_ + "/create-mnt");
  config_["hooks"]["createContainer"] = {{{"path", hook}}};
  // startContainer's path resolves in the container: /hookbin exists there only.
  ASSERT_TRUE(make_dirs(dir_ + "/inside"));
  ASSERT_TRUE(make_dirs(dir_ + "/shared"));
  ASSERT_TRUE(write_file(dir_ + "/inside/start.sh", "#!/bin/sh\nreadlink /proc/self/ns/mnt > /shared/start-mnt\n"));
  ::chmod((dir_ + "/inside/start.sh").c_str(), 0755);
  config_["mounts"].push_back({{"destination", "/hookbin"}, {"type", "bind"}, {"source", dir_ + "/inside"}, {"options", {"rbind", "ro"}}});
  config_["mounts"].push_back({{"destination", "/shared"}, {"type", "bind"}, {"source", dir_ + "/shared"}, {"options", {"rbind", "rw"}}});
  config_["hooks"]["startContainer"] = {{{"path", "/hookbin/start.sh"}}};
  ASSERT_FALSE(path_exists("/hookbin/start.sh"));
  ASSERT_EQ(create("mntns").code, 0);
  int pid = state("mntns")["pid"];
  char link[256] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), link, sizeof link - 1), 0);
  char ours[256] = {};
  ASSERT_GT(::readlink("/proc/self/ns/mnt", ours, sizeof ours - 1), 0);
  ASSERT_STRNE(link, ours);
  EXPECT_EQ(read_file(dir_ + "/create-mnt").value_or(""), std::string(link) + "\n");
  auto started = oci({"start", "mntns"});
  ASSERT_EQ(started.code, 0) << started.err;
  EXPECT_EQ(read_file(dir_ + "/shared/start-mnt").value_or(""), std::string(link) + "\n");
}

TEST_F(OciHooks, AFailingCreateRuntimeHookFailsCreateAndLeavesNothing) {
  set_args({"sleep", "1000"});
  std::string hook = script("fail", "echo broken >&2; sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p' > " + dir_ + "/ran; exit 3");
  config_["hooks"]["createRuntime"] = {{{"path", hook}}};
  auto r = create("failing");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("createRuntime[0]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(hook), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("status 3"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("broken"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(root_ + "/failing"));
  EXPECT_FALSE(cgroup_left("failing"));
  // The init the hook saw (its pid in the state on stdin) is gone.
  auto pid = read_file(dir_ + "/ran").value_or("");
  ASSERT_GT(pid.size(), 1u);
  pid.pop_back();
  EXPECT_FALSE(path_exists("/proc/" + pid)) << "the container's init " << pid << " is left";
}

TEST_F(OciHooks, AHangingHookIsKilledAtItsTimeoutAndCreateFails) {
  set_args({"sleep", "1000"});
  std::string hook = script("hang", "echo $$ > " + dir_ + "/hang.pid; exec sleep 600");
  config_["hooks"]["prestart"] = {{{"path", hook}, {"timeout", 1}}};
  auto begin = std::chrono::steady_clock::now();
  auto r = create("hanging");
  auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_NE(r.code, 0);
  EXPECT_LT(took, std::chrono::seconds(8));
  EXPECT_NE(r.err.find("prestart[0]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("timed out after 1 s"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(root_ + "/hanging"));
  EXPECT_FALSE(cgroup_left("hanging"));
  auto pid = read_file(dir_ + "/hang.pid").value_or("");
  ASSERT_FALSE(pid.empty());
  pid.pop_back();
  // Killed and reaped: no such process (or, at worst, a different one).
  auto comm = read_file("/proc/" + pid + "/comm").value_or("");
  EXPECT_NE(comm, "sleep\n");
}

TEST_F(OciHooks, BadHookEntriesAreRefusedAtCreateByName) {
  set_args({"true"});
  struct Case {
    nlohmann::json hooks;
    std::string expected;
  };
  std::vector<Case> cases = {
      {{{"prestart", {{{"path", "relative/hook"}}}}}, "hooks.prestart[0].path"},
      {{{"createRuntime", {{{"args", {"x"}}}}}}, "hooks.createRuntime[0].path: is required"},
      {{{"poststart", {{{"path", "/no/such/hook"}}}}}, "hooks.poststart[0].path: /no/such/hook"},
      {{{"poststop", {{{"path", "/bin/true"}, {"timeout", 0}}}}}, "hooks.poststop[0].timeout: must be greater than zero"},
      {{{"createContainer", {{{"path", "/bin/true"}}, {{"path", "/bin/true"}, {"timeout", -2}}}}},
       "hooks.createContainer[1].timeout"},
  };
  int n = 0;
  for (auto& c : cases) {
    config_["hooks"] = c.hooks;
    std::string id = "bad" + std::to_string(n++);
    auto r = create(id);
    EXPECT_NE(r.code, 0) << c.expected;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.expected << ": " << r.err;
    EXPECT_FALSE(path_exists(root_ + "/" + id));
  }
}

TEST_F(OciHooks, AFailingStartContainerHookFailsStartAndStopsTheContainer) {
  set_args({"sleep", "1000"});
  config_["hooks"]["startContainer"] = {{{"path", "/bin/false"}}};
  ASSERT_EQ(create("nostart").code, 0);
  int pid = state("nostart")["pid"];
  auto r = oci({"start", "nostart"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("startContainer[0] /bin/false"), std::string::npos) << r.err;
  EXPECT_EQ(status("nostart"), "stopped");
  EXPECT_NE(read_file("/proc/" + std::to_string(pid) + "/comm").value_or(""), "sleep\n");
  EXPECT_EQ(oci({"delete", "nostart"}).code, 0);
}

TEST_F(OciHooks, FailingPoststartAndPoststopHooksAreWarnings) {
  set_args({"sleep", "1000"});
  std::string ran = script("ran", "echo ran >> " + dir_ + "/log");
  config_["hooks"]["poststart"] = {{{"path", "/bin/false"}}};
  config_["hooks"]["poststop"] = {{{"path", "/bin/false"}}, {{"path", ran}}};
  ASSERT_EQ(create("warned").code, 0);
  auto started = oci({"start", "warned"});
  EXPECT_EQ(started.code, 0) << started.err;
  EXPECT_NE(started.err.find("warning"), std::string::npos) << started.err;
  EXPECT_EQ(status("warned"), "running");
  auto deleted = oci({"delete", "--force", "warned"});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_NE(deleted.err.find("poststop[0] /bin/false"), std::string::npos) << deleted.err;
  EXPECT_EQ(read_file(dir_ + "/log").value_or(""), "ran\n");  // the hooks after a failing one still run
  EXPECT_FALSE(path_exists(root_ + "/warned"));
  EXPECT_FALSE(cgroup_left("warned"));
}

}  // namespace
}  // namespace berth::testing
