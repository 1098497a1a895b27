#include "clients/hark/key_file.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::cli {
namespace {

using ::testing::HasSubstr;

constexpr char kFile[] =
    "# Hark API keys\n"
    "\n"
    "research research hark_research_r\n"
    "ingest\tingest\thark_ingest_i\r\n"
    "  admin admin hark_admin_a  \n"
    "ingest2 ingest hark_ingest_j\n";

TEST(KeyFileTest, Parses) {
  auto keys = ParseClientKeyFile(kFile, "f");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 4u);
  EXPECT_EQ((*keys)[1].name, "ingest");
  EXPECT_EQ((*keys)[1].role, "ingest");
  EXPECT_EQ((*keys)[1].key, "hark_ingest_i");
  EXPECT_EQ((*keys)[2].key, "hark_admin_a");
}

TEST(KeyFileTest, SelectsByRolePreference) {
  auto keys = ParseClientKeyFile(kFile, "f");
  ASSERT_TRUE(keys.ok());
  // events send / users identify: ingest first, else admin.
  auto ingest = SelectKey(*keys, {"ingest", "admin"}, "f");
  ASSERT_TRUE(ingest.ok());
  EXPECT_EQ(ingest->key, "hark_ingest_i");  // the first ingest key
  auto admin = SelectKey(*keys, {"admin"}, "f");
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->key, "hark_admin_a");

  auto no_ingest = ParseClientKeyFile(
      "research research r\nadmin admin hark_admin_a\n", "f");
  ASSERT_TRUE(no_ingest.ok());
  auto fallback = SelectKey(*no_ingest, {"ingest", "admin"}, "f");
  ASSERT_TRUE(fallback.ok());
  EXPECT_EQ(fallback->name, "admin");
}

TEST(KeyFileTest, NoSuitableKey) {
  auto keys = ParseClientKeyFile("i ingest k\nr research k2\n", "cli.keys");
  ASSERT_TRUE(keys.ok());
  auto key = SelectKey(*keys, {"admin"}, "cli.keys");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(key.status().message()),
              HasSubstr("cli.keys has no key with role admin (it has: "
                        "ingest, research)"));
  auto empty = SelectKey({}, {"ingest", "admin"}, "x");
  EXPECT_THAT(std::string(empty.status().message()),
              HasSubstr("no key with role ingest or admin (it has no keys)"));
}

TEST(KeyFileTest, ErrorsNameTheLine) {
  auto short_line = ParseClientKeyFile("# c\nadmin admin\n", "cli.keys");
  EXPECT_EQ(short_line.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_line.status().message()),
              HasSubstr("cli.keys:2: expected 'name role key', got 2 fields"));
  auto bad_role = ParseClientKeyFile("a root k\n", "cli.keys");
  EXPECT_THAT(std::string(bad_role.status().message()),
              HasSubstr("cli.keys:1: unknown role 'root'"));
}

TEST(KeyFileTest, MissingFileIsNotFound) {
  auto keys = ReadClientKeyFile("/nonexistent/hark-cli.keys");
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(keys.status().message()),
              HasSubstr("/nonexistent/hark-cli.keys"));
}

}  // namespace
}  // namespace hark::cli
