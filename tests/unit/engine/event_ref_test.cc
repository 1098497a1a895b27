// PayloadProperties (server/engine/event_ref.h) must answer every lookup as
// the parsed hark.v1.Event message would: the same values, the last entry
// of a key, nothing for a payload that does not parse.

#include "server/engine/event_ref.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace hark::engine {
namespace {

using google::protobuf::util::MessageDifferencer;

hark::v1::Event MakeEvent() {
  hark::v1::Event event;
  event.set_event_id("e-1");
  event.set_user_id("u-1");
  event.set_name("page_view");
  event.mutable_timestamp()->set_seconds(1700000000);
  (*event.mutable_properties())["path"].set_string_value("/billing");
  (*event.mutable_properties())["duration_ms"].set_number_value(29501);
  (*event.mutable_properties())["first"].set_bool_value(true);
  event.mutable_context()->set_platform("web");
  return event;
}

// Every key of `keys` reads the same from the payload as from `message`
// (nullptr for a key the message lacks).
void ExpectSameAsMessage(const PayloadProperties& props,
                         const hark::v1::Event& message,
                         const std::vector<std::string>& keys) {
  const MessageProperties expected(message);
  for (const std::string& key : keys) {
    SCOPED_TRACE(key);
    const hark::v1::Value* want = expected.Prop(key);
    const hark::v1::Value* got = props.Prop(key);
    ASSERT_EQ(got == nullptr, want == nullptr);
    if (want != nullptr) {
      // Unknown fields (from damaged bytes) are no value: the engine reads
      // the kind and what it holds.
      hark::v1::Value known = *want;
      known.DiscardUnknownFields();
      hark::v1::Value read = *got;
      read.DiscardUnknownFields();
      EXPECT_TRUE(MessageDifferencer::Equals(read, known))
          << got->ShortDebugString() << " vs " << want->ShortDebugString();
    }
  }
}

TEST(PayloadProperties, ReadsEachKindOfValue) {
  const hark::v1::Event event = MakeEvent();
  const std::string payload = event.SerializeAsString();
  PayloadProperties props;
  props.Reset(payload);
  ASSERT_NE(props.Prop("path"), nullptr);
  EXPECT_EQ(props.Prop("path")->string_value(), "/billing");
  ASSERT_NE(props.Prop("duration_ms"), nullptr);
  EXPECT_EQ(props.Prop("duration_ms")->number_value(), 29501);
  ASSERT_NE(props.Prop("first"), nullptr);
  EXPECT_TRUE(props.Prop("first")->bool_value());
  EXPECT_EQ(props.Prop("platform"), nullptr);  // a context field
  EXPECT_EQ(props.Prop("missing"), nullptr);
  EXPECT_EQ(props.Prop(""), nullptr);
}

TEST(PayloadProperties, AnEventWithoutPropertiesHasNone) {
  hark::v1::Event event = MakeEvent();
  event.clear_properties();
  const std::string payload = event.SerializeAsString();
  PayloadProperties props;
  props.Reset(payload);
  EXPECT_EQ(props.Prop("path"), nullptr);
  props.Reset("");
  EXPECT_EQ(props.Prop("path"), nullptr);
}

TEST(PayloadProperties, TheLastEntryOfAKeyWins) {
  // Two serialized events back to back parse as one with both maps merged,
  // entry by entry: the later value of a key replaces the earlier.
  hark::v1::Event first = MakeEvent();
  hark::v1::Event second;
  (*second.mutable_properties())["path"].set_string_value("/help");
  (*second.mutable_properties())["count"].set_number_value(3);
  const std::string payload =
      first.SerializeAsString() + second.SerializeAsString();
  hark::v1::Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(payload));
  ASSERT_EQ(parsed.properties().at("path").string_value(), "/help");

  PayloadProperties props;
  props.Reset(payload);
  ExpectSameAsMessage(props, parsed, {"path", "count", "duration_ms", "x"});
}

TEST(PayloadProperties, ADamagedPayloadHasNoProperties) {
  const std::string payload = MakeEvent().SerializeAsString();
  PayloadProperties props;
  // Cut anywhere inside the properties: the map entry's length runs past
  // the end, as protobuf's parser also refuses.
  for (size_t cut = 1; cut < payload.size(); ++cut) {
    const std::string truncated = payload.substr(0, cut);
    hark::v1::Event parsed;
    if (parsed.ParseFromString(truncated)) continue;
    SCOPED_TRACE(cut);
    props.Reset(truncated);
    EXPECT_EQ(props.Prop("path"), nullptr);
    EXPECT_EQ(props.Prop("duration_ms"), nullptr);
  }
  // A bad tag (field number 0). (The payload must outlive the lookups.)
  const std::string bad_tag = std::string("\0\0", 2) + payload;
  props.Reset(bad_tag);
  EXPECT_EQ(props.Prop("path"), nullptr);
}

TEST(PayloadProperties, AValueThatDoesNotParseIsAbsent) {
  // Entry {key: "bad", value: {string_value: "\xff"}}: invalid UTF-8 in a
  // proto3 string, which the Value parser refuses.
  const std::string value = std::string("\x0a\x01\xff", 3);  // field 1
  const std::string entry =
      absl::StrCat(std::string("\x0a\x03", 2), "bad", std::string("\x12", 1),
                   std::string(1, char(value.size())), value);
  const std::string payload =
      absl::StrCat(MakeEvent().SerializeAsString(), std::string("\x2a", 1),
                   std::string(1, char(entry.size())), entry);
  PayloadProperties props;
  props.Reset(payload);
  EXPECT_EQ(props.Prop("bad"), nullptr);
  ASSERT_NE(props.Prop("path"), nullptr);
  EXPECT_EQ(props.Prop("path")->string_value(), "/billing");
  // Asked again: still absent, not parsed into a stale value.
  EXPECT_EQ(props.Prop("bad"), nullptr);
}

TEST(PayloadProperties, ValuesStayPutWhileOthersAreRead) {
  hark::v1::Event event;
  for (int i = 0; i < 200; ++i) {
    (*event.mutable_properties())[absl::StrCat("k", i)].set_number_value(i);
  }
  const std::string payload = event.SerializeAsString();
  PayloadProperties props;
  props.Reset(payload);
  const hark::v1::Value* first = props.Prop("k0");
  ASSERT_NE(first, nullptr);
  for (int i = 1; i < 200; ++i) {
    ASSERT_NE(props.Prop(absl::StrCat("k", i)), nullptr);
  }
  EXPECT_EQ(props.Prop("k0"), first);
  EXPECT_EQ(first->number_value(), 0);
}

TEST(PayloadProperties, ResetForgetsThePreviousEvent) {
  const std::string a = MakeEvent().SerializeAsString();
  hark::v1::Event other;
  (*other.mutable_properties())["path"].set_string_value("/other");
  const std::string b = other.SerializeAsString();
  PayloadProperties props;
  props.Reset(a);
  ASSERT_NE(props.Prop("duration_ms"), nullptr);
  props.Reset(b);
  EXPECT_EQ(props.Prop("duration_ms"), nullptr);
  ASSERT_NE(props.Prop("path"), nullptr);
  EXPECT_EQ(props.Prop("path")->string_value(), "/other");
}

// Random events, some damaged by a flipped byte: wherever protobuf parses
// the bytes, every lookup agrees with the parsed map.
TEST(PayloadProperties, AgreesWithTheParserOnRandomPayloads) {
  std::mt19937_64 rng(7);
  const std::vector<std::string> keys = {"a",    "b", "path", "n",
                                         "flag", "",  "zz"};
  PayloadProperties props;
  int compared = 0;
  for (int round = 0; round < 3000; ++round) {
    hark::v1::Event event;
    event.set_user_id(absl::StrCat("u", rng() % 100));
    event.set_name("e");
    const int n = static_cast<int>(rng() % 5);
    for (int i = 0; i < n; ++i) {
      hark::v1::Value& v = (*event.mutable_properties())[keys[rng() % 7]];
      switch (rng() % 5) {
        case 0:
          v.set_string_value(absl::StrCat("s", rng() % 1000));
          break;
        case 1:
          v.set_number_value(static_cast<double>(rng() % 1000) / 7);
          break;
        case 2:
          v.set_bool_value(rng() % 2 == 0);
          break;
        case 3:
          v.mutable_timestamp_value()->set_seconds(
              static_cast<int64_t>(rng() % 2000000000));
          v.mutable_timestamp_value()->set_nanos(
              static_cast<int32_t>(rng() % 1000000000));
          break;
        default:
          break;  // no kind
      }
    }
    std::string payload = event.SerializeAsString();
    if (round % 2 == 1 && !payload.empty()) {
      payload[rng() % payload.size()] ^= static_cast<char>(1 + rng() % 255);
    }
    hark::v1::Event parsed;
    if (!parsed.ParseFromString(payload)) continue;
    props.Reset(payload);
    ExpectSameAsMessage(props, parsed, keys);
    if (::testing::Test::HasFailure()) break;
    ++compared;
  }
  EXPECT_GT(compared, 1500);  // the undamaged half, and more
}

}  // namespace
}  // namespace hark::engine
