// docs/api/openapi.json is the API reference: it must list exactly the routes berthd serves.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <set>

#include "common/fs.hpp"
#include "daemon/api.hpp"

namespace berth::daemon {
namespace {

TEST(OpenApi, DocumentsExactlyTheServedRoutes) {
  auto text = read_file(std::string(BERTH_SOURCE_DIR) + "/docs/api/openapi.json");
  ASSERT_TRUE(text) << text.error().message;
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "docs/api/openapi.json is not JSON";
  std::set<std::string> documented, served;
  for (auto& [path, methods] : doc["paths"].items())
    for (auto& [method, op] : methods.items()) {
      std::string upper;
      for (char c : method) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.insert(upper + " " + path);
      EXPECT_TRUE(op.contains("responses")) << upper << " " << path << " documents no responses";
    }
  for (const auto& r : api_routes()) served.insert(r.method + " " + r.pattern);
  for (const auto& r : served) EXPECT_TRUE(documented.contains(r)) << r << " is served but not documented";
  for (const auto& d : documented) EXPECT_TRUE(served.contains(d)) << d << " is documented but not served";
  // Summaries agree too, so the doc says what the code does.
  for (const auto& r : api_routes()) {
    std::string method;
    for (char c : r.method) method += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(doc["paths"][r.pattern][method].value("summary", ""), r.summary) << r.method << " " << r.pattern;
  }
}

TEST(OpenApi, ErrorCodesMapToHttpStatuses) {
  EXPECT_EQ(http_status(ErrorCode::not_found), 404);
  EXPECT_EQ(http_status(ErrorCode::invalid_spec), 400);
  EXPECT_EQ(http_status(ErrorCode::conflict), 409);
  EXPECT_EQ(http_status(ErrorCode::timeout), 504);
  EXPECT_EQ(http_status(ErrorCode::permission_denied), 403);
}

}  // namespace
}  // namespace berth::daemon
