// berth-oci events: runc's stats events from the container's cgroup (v1 or v2, as the host has),
// one JSON object a line, once (--stats) or every --interval until the container stops.
#include <chrono>
#include <sstream>

#include "oci/oci_fixture.hpp"
#include "support/host_features.hpp"

namespace berth::testing {
namespace {

using OciEvents = OciTest;

TEST_F(OciEvents, StatsPrintsOneRuncShapedStatsEvent) {
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("stats").code, 0);
  ASSERT_EQ(oci({"start", "stats"}).code, 0);
  auto r = oci({"events", "--stats", "stats"});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  auto event = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(event.is_object()) << r.out;
  EXPECT_EQ(event["type"], "stats");
  EXPECT_EQ(event["id"], "stats");
  auto& data = event["data"];
  EXPECT_GT(data["memory"]["usage"].value("usage", std::uint64_t{0}), 0u) << r.out;
  EXPECT_TRUE(data["memory"]["usage"].contains("limit")) << r.out;
  EXPECT_TRUE(data["memory"]["raw"].is_object()) << r.out;
  EXPECT_GE(data["pids"].value("current", 0), 1) << r.out;
  EXPECT_TRUE(data["cpu"]["usage"].contains("total")) << r.out;
  EXPECT_TRUE(data["cpu"]["usage"].contains("user")) << r.out;
  EXPECT_TRUE(data["cpu"]["usage"].contains("kernel")) << r.out;
}

TEST_F(OciEvents, AStoppedOrMissingContainerHasNoEvents) {
  auto missing = oci({"events", "--stats", "nothere"});
  EXPECT_NE(missing.code, 0);
  set_args({"true"});
  ASSERT_EQ(create("done").code, 0);
  ASSERT_EQ(oci({"start", "done"}).code, 0);
  for (int i = 0; i < 200 && status("done") != "stopped"; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto r = oci({"events", "--stats", "done"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("stopped"), std::string::npos) << r.err;
  auto bad = oci({"events", "--interval", "soon", "done"});
  EXPECT_EQ(bad.code, 2) << bad.err;
}

TEST_F(OciEvents, StreamingPrintsStatsEveryIntervalUntilTheContainerExits) {
  set_args({"sleep", "1"});
  ASSERT_EQ(create("stream").code, 0);
  ASSERT_EQ(oci({"start", "stream"}).code, 0);
  auto begin = std::chrono::steady_clock::now();
  auto r = run_program({"/usr/bin/timeout", "20", BERTH_OCI_PATH, "--root", root_, "events", "--interval", "100ms", "stream"});
  auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_EQ(r.code, 0) << r.err;  // not 124: it ended by itself
  EXPECT_LT(took, std::chrono::seconds(5));
  std::istringstream lines(r.out);
  int stats = 0;
  for (std::string line; std::getline(lines, line);) {
    auto event = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(event.is_object()) << line;
    EXPECT_EQ(event["id"], "stream");
    if (event["type"] == "stats") ++stats;
  }
  EXPECT_GE(stats, 2) << r.out;
}

TEST_F(OciEvents, AnOomKillIsAnOomEvent) {
  // 8 MiB, no swap: a shell that keeps doubling a string is killed by the OOM killer.
  config_["linux"]["resources"]["memory"] = {{"limit", 8 << 20}};
  if (!missing_swap_accounting()) config_["linux"]["resources"]["memory"]["swap"] = 8 << 20;
  set_args({"sh", "-c", "sleep 0.5; a=xxxxxxxxxxxxxxxx; while true; do a=$a$a; done"});
  ASSERT_EQ(create("oom").code, 0);
  ASSERT_EQ(oci({"start", "oom"}).code, 0);
  auto r = run_program({"/usr/bin/timeout", "20", BERTH_OCI_PATH, "--root", root_, "events", "--interval", "100ms", "oom"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("{\"id\":\"oom\",\"type\":\"oom\"}"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace berth::testing
