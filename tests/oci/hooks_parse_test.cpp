// config.json's hooks read without running anything: what is accepted, what is refused by name,
// and the form kept in the state directory reads back the same.
#include <gtest/gtest.h>

#include "oci/hooks.hpp"

namespace berth::oci {
namespace {

TEST(OciHooksParse, EveryKindAndFieldIsReadAndKeptTheSame) {
  auto hooks = parse_hooks(R"({
    "prestart": [{"path": "/bin/true"}],
    "createRuntime": [{"path": "/bin/true", "args": ["true", "a"], "env": ["A=1"], "timeout": 3}],
    "createContainer": [{"path": "/bin/true"}, {"path": "/bin/false"}],
    "startContainer": [{"path": "/only/in/the/container"}],
    "poststart": [], "poststop": null})");
  ASSERT_TRUE(hooks) << hooks.error().message;
  EXPECT_EQ(hooks->prestart.size(), 1u);
  ASSERT_EQ(hooks->create_runtime.size(), 1u);
  EXPECT_EQ(hooks->create_runtime[0].args, (std::vector<std::string>{"true", "a"}));
  EXPECT_EQ(hooks->create_runtime[0].env, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(hooks->create_runtime[0].timeout, 3);
  EXPECT_FALSE(hooks->prestart[0].env.has_value());
  EXPECT_EQ(hooks->create_container.size(), 2u);
  EXPECT_EQ(hooks->start_container[0].path, "/only/in/the/container");
  EXPECT_TRUE(hooks->poststart.empty());
  auto again = parse_hooks(hooks_json(*hooks));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(hooks_json(*again), hooks_json(*hooks));
}

TEST(OciHooksParse, EmptyHooksAskForNothing) {
  for (auto text : {"null", "[]", "{}", R"({"prestart": []})"}) {
    auto hooks = parse_hooks(text);
    ASSERT_TRUE(hooks) << text;
    EXPECT_TRUE(hooks->empty()) << text;
  }
}

TEST(OciHooksParse, BadEntriesAreRefusedByName) {
  std::pair<const char*, const char*> cases[] = {
      {R"({"prestart": [{"path": "true"}]})", "hooks.prestart[0].path"},
      {R"({"prestart": [{"args": ["x"]}]})", "hooks.prestart[0].path: is required"},
      {R"({"poststop": [{"path": "/no/such/hook"}]})", "hooks.poststop[0].path"},
      {R"({"poststart": [{"path": "/bin/true", "timeout": 0}]})", "hooks.poststart[0].timeout"},
      {R"({"poststart": [{"path": "/bin/true", "timeout": 1.5}]})", "hooks.poststart[0].timeout"},
      {R"({"createRuntime": [{"path": "/bin/true", "env": ["NOEQUALS"]}]})", "hooks.createRuntime[0].env"},
      {R"({"createRuntime": [{"path": "/bin/true", "wait": true}]})", "hooks.createRuntime[0].wait"},
      {R"({"preStart": []})", "hooks.preStart"},
      {R"({"prestart": {"path": "/bin/true"}})", "hooks.prestart: must be an array"},
      {R"({"prestart": [{"path": 3}]})", "hooks.prestart[0]"},
  };
  for (auto [text, expected] : cases) {
    auto hooks = parse_hooks(text);
    ASSERT_FALSE(hooks) << text;
    EXPECT_NE(hooks.error().message.find(expected), std::string::npos) << text << ": " << hooks.error().message;
  }
}

}  // namespace
}  // namespace berth::oci
