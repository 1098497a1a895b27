#include "clients/hark/event_json.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::cli {
namespace {

using ::testing::HasSubstr;

// Parses `line`, expecting success.
hark::v1::Event Parse(absl::string_view line) {
  hark::v1::Event event;
  absl::Status status = EventFromJsonLine(line, &event);
  EXPECT_TRUE(status.ok()) << line << ": " << status;
  return event;
}

// Parses `line`, expecting INVALID_ARGUMENT; returns the message.
std::string Error(absl::string_view line, hark::v1::Event* event = nullptr) {
  hark::v1::Event local;
  if (event == nullptr) event = &local;
  absl::Status status = EventFromJsonLine(line, event);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << line;
  return std::string(status.message());
}

TEST(EventJsonTest, FullEvent) {
  hark::v1::Event e = Parse(
      R"({"event_id": "e-1", "user_id": "u-1", "name": "plan_changed",
          "timestamp": "2026-11-01T09:30:00.250Z",
          "properties": {"plan": "pro", "seats": 5, "price": 12.5,
                         "annual": true, "trial": false,
                         "renews_at": {"$timestamp": "2026-12-01T01:00:00+01:00"}},
          "context": {"session_id": "s-1", "platform": "web",
                      "app_version": "4.2.0"}})");
  EXPECT_EQ(e.event_id(), "e-1");
  EXPECT_EQ(e.user_id(), "u-1");
  EXPECT_EQ(e.name(), "plan_changed");
  EXPECT_EQ(e.timestamp().seconds(), 1793525400);  // 2026-11-01T09:30:00Z
  EXPECT_EQ(e.timestamp().nanos(), 250000000);
  const auto& p = e.properties();
  ASSERT_EQ(p.size(), 6u);
  EXPECT_EQ(p.at("plan").string_value(), "pro");
  EXPECT_EQ(p.at("seats").number_value(), 5);
  EXPECT_EQ(p.at("price").number_value(), 12.5);
  EXPECT_TRUE(p.at("annual").has_bool_value() && p.at("annual").bool_value());
  EXPECT_TRUE(p.at("trial").has_bool_value() && !p.at("trial").bool_value());
  ASSERT_TRUE(p.at("renews_at").has_timestamp_value());
  // 2026-12-01T00:00:00Z
  EXPECT_EQ(p.at("renews_at").timestamp_value().seconds(), 1796083200);
  EXPECT_EQ(e.context().session_id(), "s-1");
  EXPECT_EQ(e.context().platform(), "web");
  EXPECT_EQ(e.context().app_version(), "4.2.0");
}

TEST(EventJsonTest, MissingFieldsAreLeftToTheServer) {
  // No timestamp, no properties, an invalid name: harkd judges these.
  hark::v1::Event e = Parse(R"({"event_id": "e-2", "name": "Bad Name"})");
  EXPECT_EQ(e.event_id(), "e-2");
  EXPECT_EQ(e.name(), "Bad Name");
  EXPECT_FALSE(e.has_timestamp());
  EXPECT_TRUE(e.properties().empty());
  EXPECT_TRUE(Parse("{}").event_id().empty());
}

TEST(EventJsonTest, UnsupportedPropertyValues) {
  const std::string prefix = R"({"event_id": "e-3", "properties": {"x": )";
  struct Case {
    const char* value;
    const char* expected;
    bool lists_supported_kinds = true;
  } cases[] = {
      {"null", "properties[\"x\"]: null is not a supported value"},
      {"[1, 2]", "properties[\"x\"]: an array is not a supported value"},
      {R"({"a": 1})", "properties[\"x\"]: an object is not a supported value"},
      {R"({"$timestamp": "2026-11-01T00:00:00Z", "b": 1})",
       "an object is not a supported value"},
      {R"({"$timestamp": 5})",
       "properties[\"x\"].$timestamp: must be a string, got a number", false},
      {R"({"$timestamp": "yesterday"})",
       "properties[\"x\"].$timestamp: \"yesterday\" is not an RFC 3339 time",
       false},
  };
  for (const Case& c : cases) {
    hark::v1::Event event;
    std::string message = Error(absl::StrCat(prefix, c.value, "}}"), &event);
    EXPECT_THAT(message, HasSubstr(c.expected)) << c.value;
    if (c.lists_supported_kinds) {
      EXPECT_THAT(message, HasSubstr("{\"$timestamp\"")) << c.value;
    }
    // The id is known even though the line failed.
    EXPECT_EQ(event.event_id(), "e-3");
  }
}

TEST(EventJsonTest, BadLinesAndReasons) {
  struct Case {
    const char* line;
    const char* expected;
  } cases[] = {
      {"not json", "invalid JSON"},
      {R"({"event_id": "e-1")", "invalid JSON"},
      {"[1, 2, 3]", "invalid JSON"},
      {R"("just a string")", "invalid JSON"},
      {R"({"event_id": 17})", "event_id: must be a string, got a number"},
      {R"({"user_id": null})", "user_id: must be a string, got null"},
      {R"({"name": ["a"]})", "name: must be a string, got an array"},
      {R"({"timestamp": 1767225600})",
       "timestamp: must be a string, got a number"},
      {R"({"timestamp": "2026-11-01 09:30:00"})",
       "timestamp: \"2026-11-01 09:30:00\" is not an RFC 3339 time"},
      {R"({"timestamp": "2026-11-01T09:30:00"})",
       "is not an RFC 3339 time with an offset"},
      {R"({"properties": [1]})", "properties: must be an object, got an array"},
      {R"({"context": "web"})", "context: must be an object, got a string"},
      {R"({"context": {"platform": 1}})",
       "context.platform: must be a string, got a number"},
      {R"({"context": {"device": "pixel"}})", "context.device: unknown key"},
      {R"({"event_id": "e", "timestmp": "2026-11-01T09:30:00Z"})",
       "timestmp: unknown key"},
  };
  for (const Case& c : cases) {
    std::string message = Error(c.line);
    EXPECT_THAT(message, HasSubstr(c.expected)) << c.line;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(EventJsonTest, SkippedLines) {
  EXPECT_TRUE(IsSkippedLine(""));
  EXPECT_TRUE(IsSkippedLine("   \t\r"));
  EXPECT_TRUE(IsSkippedLine("# a comment"));
  EXPECT_TRUE(IsSkippedLine("  # indented comment"));
  EXPECT_FALSE(IsSkippedLine("{}"));
}

TEST(EventJsonTest, ToleratesCarriageReturn) {
  EXPECT_EQ(Parse("{\"event_id\": \"e-9\"}\r").event_id(), "e-9");
}

}  // namespace
}  // namespace hark::cli
