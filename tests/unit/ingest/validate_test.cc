#include "server/ingest/validate.h"

#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::ingest {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1767225600);
const absl::Duration kMaxFuture = absl::Minutes(5);

hark::v1::Event ValidEvent() {
  hark::v1::Event event;
  event.set_event_id("evt-1");
  event.set_user_id("user-1");
  event.set_name("onboarding_started");
  event.mutable_timestamp()->set_seconds(absl::ToUnixSeconds(kNow) - 60);
  (*event.mutable_properties())["plan"].set_string_value("pro");
  (*event.mutable_properties())["seats"].set_number_value(3);
  (*event.mutable_properties())["trial"].set_bool_value(true);
  (*event.mutable_properties())["ends"].mutable_timestamp_value()->set_seconds(
      absl::ToUnixSeconds(kNow) + 86400);
  event.mutable_context()->set_session_id("s-1");
  event.mutable_context()->set_platform("web");
  event.mutable_context()->set_app_version("1.2.3");
  return event;
}

hark::v1::IdentifyUserRequest ValidTraits() {
  hark::v1::IdentifyUserRequest request;
  request.set_user_id("user-1");
  (*request.mutable_traits())["plan"].set_string_value("pro");
  (*request.mutable_traits())["tz"].set_string_value("Europe/Berlin");
  return request;
}

const std::string kBadUtf8 = "ab\xff";

struct EventCase {
  std::string name;
  std::function<void(hark::v1::Event&)> mutate;
  std::string field;
  std::string reason;  // a substring of the expected reason
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const EventCase& c, std::ostream* os) { *os << c.name; }

class ValidateEventTest : public ::testing::TestWithParam<EventCase> {};

TEST(ValidateEvent, AcceptsValidEvent) {
  EXPECT_EQ(ValidateEvent(ValidEvent(), kNow, kMaxFuture), std::nullopt);
}

TEST(ValidateEvent, AcceptsLimitsExactly) {
  hark::v1::Event event = ValidEvent();
  event.set_event_id(std::string(128, 'e'));
  event.set_user_id(std::string(256, 'u'));
  event.set_name(std::string(64, 'n'));
  *event.mutable_timestamp() = {};
  event.mutable_timestamp()->set_seconds(
      absl::ToUnixSeconds(kNow + kMaxFuture));
  event.mutable_properties()->clear();
  for (int i = 0; i < 64; ++i) {
    (*event.mutable_properties())[absl::StrCat("k", i)].set_string_value(
        std::string(4096, 'v'));
  }
  (*event.mutable_properties())["k0"].set_string_value("");
  event.mutable_properties()->erase("k1");
  (*event.mutable_properties())[std::string(64, 'k')].set_bool_value(false);
  event.mutable_context()->set_platform(std::string(256, 'p'));
  // Multi-byte UTF-8 everywhere.
  event.set_user_id("Jürgen ☃ 😀");
  (*event.mutable_properties())["größe"].set_string_value("日本語");
  event.mutable_properties()->erase("k2");
  EXPECT_EQ(ValidateEvent(event, kNow, kMaxFuture), std::nullopt);
}

TEST_P(ValidateEventTest, RejectsWithFieldPath) {
  const EventCase& c = GetParam();
  hark::v1::Event event = ValidEvent();
  c.mutate(event);
  std::optional<hark::v1::FieldError> error =
      ValidateEvent(event, kNow, kMaxFuture);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->field(), c.field);
  EXPECT_THAT(error->reason(), HasSubstr(c.reason));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ValidateEventTest,
    ::testing::Values(
        EventCase{"EmptyEventId", [](auto& e) { e.set_event_id(""); },
                  "event_id", "is empty"},
        EventCase{"LongEventId",
                  [](auto& e) { e.set_event_id(std::string(129, 'x')); },
                  "event_id", "is 129 bytes long; the limit is 128 bytes"},
        EventCase{"EventIdBadUtf8", [](auto& e) { e.set_event_id(kBadUtf8); },
                  "event_id", "not valid UTF-8 (byte 0xff at byte offset 2)"},
        EventCase{"EmptyUserId", [](auto& e) { e.set_user_id(""); }, "user_id",
                  "is empty"},
        EventCase{"LongUserId",
                  [](auto& e) { e.set_user_id(std::string(257, 'u')); },
                  "user_id", "the limit is 256 bytes"},
        EventCase{"UserIdBadUtf8", [](auto& e) { e.set_user_id(kBadUtf8); },
                  "user_id", "not valid UTF-8"},
        EventCase{"EmptyName", [](auto& e) { e.set_name(""); }, "name",
                  "is empty"},
        EventCase{"LongName", [](auto& e) { e.set_name(std::string(65, 'a')); },
                  "name", "the limit is 64 bytes"},
        EventCase{"NameUppercase", [](auto& e) { e.set_name("signUp"); },
                  "name", "'U' at byte 4 is not allowed (use lowercase)"},
        EventCase{"NameSpace", [](auto& e) { e.set_name("sign up"); }, "name",
                  "' ' (space) at byte 4 is not allowed"},
        EventCase{"NameSlash", [](auto& e) { e.set_name("a/b"); }, "name",
                  "'/' at byte 1 is not allowed; event names match "
                  "[a-z0-9_.:-]{1,64}"},
        EventCase{"NameNonAscii", [](auto& e) { e.set_name("caf\xc3\xa9"); },
                  "name", "'\xc3\xa9' at byte 3 is not allowed"},
        EventCase{"NameControl", [](auto& e) { e.set_name("a\tb"); }, "name",
                  "control character 0x09 at byte 1"},
        EventCase{"NameBadUtf8", [](auto& e) { e.set_name("a\xc3"); }, "name",
                  "not valid UTF-8"},
        EventCase{"MissingTimestamp", [](auto& e) { e.clear_timestamp(); },
                  "timestamp", "is missing"},
        EventCase{
            "TimestampSecondsOutOfRange",
            [](auto& e) { e.mutable_timestamp()->set_seconds(253402300800); },
            "timestamp", "outside the valid range"},
        EventCase{"TimestampNegativeNanos",
                  [](auto& e) { e.mutable_timestamp()->set_nanos(-1); },
                  "timestamp", "nanos is -1"},
        EventCase{"TimestampNanosTooLarge",
                  [](auto& e) { e.mutable_timestamp()->set_nanos(1000000000); },
                  "timestamp", "nanos is 1000000000"},
        EventCase{"TimestampTooFarAhead",
                  [](auto& e) {
                    e.mutable_timestamp()->set_seconds(
                        absl::ToUnixSeconds(kNow) + 7200);
                  },
                  "timestamp",
                  "is 2h ahead of the server clock; the limit is 5m (server "
                  "flag --max-future)"},
        EventCase{"TimestampJustOverLimit",
                  [](auto& e) {
                    e.mutable_timestamp()->set_seconds(
                        absl::ToUnixSeconds(kNow) + 300);
                    e.mutable_timestamp()->set_nanos(1);
                  },
                  "timestamp", "is 5m0.000000001s ahead"},
        EventCase{
            "TooManyProperties",
            [](auto& e) {
              for (int i = 0; i < 61; ++i) {
                (*e.mutable_properties())[absl::StrCat("p", i)].set_bool_value(
                    true);
              }
            },
            "properties", "has 65 entries; the limit is 64"},
        EventCase{
            "EmptyKey",
            [](auto& e) { (*e.mutable_properties())[""].set_bool_value(true); },
            "properties[\"\"]", "key is empty"},
        EventCase{
            "LongKey",
            [](auto& e) {
              (*e.mutable_properties())[std::string(65, 'k')].set_bool_value(
                  true);
            },
            absl::StrCat("properties[\"", std::string(64, 'k'), "...\"]"),
            "key is 65 bytes long; the limit is 64 bytes"},
        EventCase{"KeyBadUtf8",
                  [](auto& e) {
                    (*e.mutable_properties())[kBadUtf8].set_bool_value(true);
                  },
                  "properties[\"ab\\xff\"]", "key is not valid UTF-8"},
        EventCase{
            "KeyWithQuote",
            [](auto& e) { (*e.mutable_properties())["a\"b"].clear_kind(); },
            "properties[\"a\\\"b\"]", "has no value"},
        EventCase{
            "ValueWithoutKind",
            [](auto& e) { (*e.mutable_properties())["plan"].clear_kind(); },
            "properties[\"plan\"]",
            "has no value; set exactly one of string_value"},
        EventCase{"LongStringValue",
                  [](auto& e) {
                    (*e.mutable_properties())["plan"].set_string_value(
                        std::string(4097, 'v'));
                  },
                  "properties[\"plan\"].string_value",
                  "is 4097 bytes long; the limit is 4096 bytes"},
        EventCase{"StringValueBadUtf8",
                  [](auto& e) {
                    (*e.mutable_properties())["plan"].set_string_value(
                        "\xed\xa0\x80");  // a UTF-16 surrogate
                  },
                  "properties[\"plan\"].string_value",
                  "not valid UTF-8 (byte 0xed at byte offset 0)"},
        EventCase{"NanNumber",
                  [](auto& e) {
                    (*e.mutable_properties())["seats"].set_number_value(
                        std::nan(""));
                  },
                  "properties[\"seats\"].number_value", "NaN or infinite"},
        EventCase{"BadTimestampValue",
                  [](auto& e) {
                    (*e.mutable_properties())["ends"]
                        .mutable_timestamp_value()
                        ->set_nanos(-5);
                  },
                  "properties[\"ends\"].timestamp_value", "nanos is -5"},
        EventCase{"LongContextField",
                  [](auto& e) {
                    e.mutable_context()->set_platform(std::string(257, 'p'));
                  },
                  "context.platform", "is 257 bytes long; the limit is 256"},
        EventCase{
            "ContextBadUtf8",
            [](auto& e) { e.mutable_context()->set_session_id(kBadUtf8); },
            "context.session_id", "not valid UTF-8"},
        EventCase{
            "AppVersionBadUtf8",
            [](auto& e) { e.mutable_context()->set_app_version("\xc0\xaf"); },
            "context.app_version", "not valid UTF-8"}),
    [](const ::testing::TestParamInfo<EventCase>& info) {
      return info.param.name;
    });

TEST(ValidateEvent, ReportsSmallestBadKeyDeterministically) {
  hark::v1::Event event = ValidEvent();
  for (const char* key : {"zz", "mm", "bb", "yy"}) {
    (*event.mutable_properties())[key].clear_kind();
  }
  std::optional<hark::v1::FieldError> error =
      ValidateEvent(event, kNow, kMaxFuture);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->field(), "properties[\"bb\"]");
}

TEST(ValidateEvent, LongBadKeyInPathIsShortenedAndEscaped) {
  hark::v1::Event event = ValidEvent();
  const std::string key = std::string(70, '\xff');
  (*event.mutable_properties())[key].set_bool_value(true);
  std::optional<hark::v1::FieldError> error =
      ValidateEvent(event, kNow, kMaxFuture);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(IsValidUtf8(error->field()));
  EXPECT_TRUE(IsValidUtf8(error->reason()));
  EXPECT_THAT(error->field(), HasSubstr("\\xff\\xff"));
  EXPECT_THAT(error->field(), HasSubstr("...\"]"));
}

TEST(ValidateEvent, PastTimestampsAreAccepted) {
  hark::v1::Event event = ValidEvent();
  event.mutable_timestamp()->set_seconds(0);
  EXPECT_EQ(ValidateEvent(event, kNow, kMaxFuture), std::nullopt);
}

TEST(ValidateTraits, AcceptsValidRequest) {
  EXPECT_EQ(ValidateTraits(ValidTraits()), std::nullopt);
}

TEST(ValidateTraits, RejectsEachRule) {
  struct Case {
    std::function<void(hark::v1::IdentifyUserRequest&)> mutate;
    std::string field;
    std::string reason;
  };
  const Case cases[] = {
      {[](auto& r) { r.set_user_id(""); }, "user_id", "is empty"},
      {[](auto& r) { r.set_user_id(std::string(257, 'u')); }, "user_id",
       "the limit is 256 bytes"},
      {[](auto& r) { r.set_user_id(kBadUtf8); }, "user_id", "not valid UTF-8"},
      {[](auto& r) { r.mutable_traits()->clear(); }, "traits",
       "is empty; set 1 to 64 traits"},
      {[](auto& r) {
         for (int i = 0; i < 63; ++i) {
           (*r.mutable_traits())[absl::StrCat("t", i)].set_bool_value(true);
         }
       },
       "traits", "has 65 entries; the limit is 64"},
      {[](auto& r) { (*r.mutable_traits())[""].set_bool_value(true); },
       "traits[\"\"]", "key is empty"},
      {[](auto& r) {
         (*r.mutable_traits())[std::string(65, 'k')].set_bool_value(true);
       },
       absl::StrCat("traits[\"", std::string(64, 'k'), "...\"]"),
       "key is 65 bytes long"},
      {[](auto& r) { (*r.mutable_traits())[kBadUtf8].set_bool_value(true); },
       "traits[\"ab\\xff\"]", "key is not valid UTF-8"},
      {[](auto& r) { (*r.mutable_traits())["tz"].clear_kind(); },
       "traits[\"tz\"]", "has no value"},
      {[](auto& r) {
         (*r.mutable_traits())["tz"].set_string_value(std::string(4097, 'x'));
       },
       "traits[\"tz\"].string_value", "the limit is 4096 bytes"},
      {[](auto& r) { (*r.mutable_traits())["tz"].set_string_value(kBadUtf8); },
       "traits[\"tz\"].string_value", "not valid UTF-8"},
  };
  for (const Case& c : cases) {
    hark::v1::IdentifyUserRequest request = ValidTraits();
    c.mutate(request);
    std::optional<hark::v1::FieldError> error = ValidateTraits(request);
    ASSERT_TRUE(error.has_value()) << c.field;
    EXPECT_EQ(error->field(), c.field);
    EXPECT_THAT(error->reason(), HasSubstr(c.reason)) << c.field;
  }
}

TEST(ValidUtf8Prefix, AcceptsWellFormedText) {
  for (const std::string& text :
       {std::string(""), std::string("plain"), std::string("\xc2\x80"),
        std::string("\xdf\xbf"), std::string("\xe0\xa0\x80"),
        std::string("\xef\xbf\xbf"), std::string("\xf0\x90\x80\x80"),
        std::string("\xf4\x8f\xbf\xbf"), std::string("a\0b", 3)}) {
    EXPECT_TRUE(IsValidUtf8(text)) << absl::CHexEscape(text);
  }
}

TEST(ValidUtf8Prefix, RejectsMalformedText) {
  struct Case {
    std::string text;
    size_t prefix;
  };
  const Case cases[] = {
      {"\x80", 0},              // lone continuation byte
      {"ab\xc0\xaf", 2},        // overlong '/'
      {"\xc1\xbf", 0},          // overlong
      {"\xe0\x80\xaf", 0},      // overlong three-byte form
      {"\xed\xa0\x80", 0},      // surrogate U+D800
      {"\xf0\x80\x80\xaf", 0},  // overlong four-byte form
      {"\xf4\x90\x80\x80", 0},  // above U+10FFFF
      {"\xf5\x80\x80\x80", 0},  // invalid lead byte
      {"ok\xe2\x82", 2},        // truncated sequence
      {"\xe2\x28\xa1", 0},      // bad continuation byte
      {"\xc3\xa9\xff", 2},      // 0xff never appears
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ValidUtf8Prefix(c.text), c.prefix) << absl::CHexEscape(c.text);
  }
}

}  // namespace
}  // namespace hark::ingest
