// MatchContextWriter: the bytes it writes parse to the hark.v1.Match that
// building the message field by field gives (the way contexts were made
// before), whatever the events' payloads hold.

#include "server/runtime/match_context.h"

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "hark/proto_time.h"
#include "hark/v1/rules.pb.h"

namespace hark::runtime {
namespace {

using google::protobuf::util::MessageDifferencer;

engine::MatchOut Match(absl::Time at) {
  engine::MatchOut m;
  m.match_id = "0000000000000007-3f2a";
  m.rule_id = "repeated_errors";
  m.rule_version = "v1-abc";
  m.user_id = "u-1";
  m.group_key = "E42";
  m.matched_at = at;
  return m;
}

store::EventRecord Record(const hark::v1::Event& event) {
  store::EventRecord r;
  r.event_id = event.event_id();
  r.user_id = event.user_id();
  r.name = event.name();
  r.payload = event.SerializeAsString();
  return r;
}

// What the runner built before: the message, field by field.
hark::v1::Match Expected(const engine::MatchOut& m) {
  hark::v1::Match c;
  c.set_match_id(m.match_id);
  c.set_rule_id(m.rule_id);
  c.set_rule_version(m.rule_version);
  c.set_user_id(m.user_id);
  c.set_group_key(m.group_key);
  SetTimestamp(m.matched_at, c.mutable_matched_at());
  return c;
}

hark::v1::MatchedEvent* AddExpected(hark::v1::Match* c,
                                    const std::string& alias, absl::Time t) {
  hark::v1::MatchedEvent* e = c->add_events();
  e->set_alias(alias);
  SetTimestamp(t, e->mutable_timestamp());
  return e;
}

// The context of Match(t) with one matched event, no alias, at t.
std::string OneEventContext(absl::Time t, const store::EventRecord* record) {
  MatchContextWriter writer;
  writer.Start(Match(t));
  writer.AddEvent("", t, record);
  return writer.Take();
}

void ExpectParsesTo(const std::string& bytes, const hark::v1::Match& want) {
  hark::v1::Match got;
  ASSERT_TRUE(got.ParseFromString(bytes));
  std::string diff;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&diff);
  EXPECT_TRUE(differencer.Compare(want, got)) << diff;
}

TEST(MatchContextTest, EventsPropertiesAndTraitsAreThoseOfTheMessage) {
  const absl::Time t0 = absl::FromUnixMicros(1'760'000'000'123'456);
  hark::v1::Event error;
  error.set_event_id("e-1");
  error.set_user_id("u-1");
  error.set_name("error");
  SetTimestamp(t0, error.mutable_timestamp());
  auto& props = *error.mutable_properties();
  props["code"].set_string_value("E42");
  props["n"].set_number_value(-3.5);
  props["retry"].set_bool_value(true);
  SetTimestamp(t0, props["at"].mutable_timestamp_value());
  props["empty"];  // a value with no kind
  props["é"].set_string_value("ünïcode");
  error.mutable_context()->set_platform("web");
  const store::EventRecord record = Record(error);

  engine::MatchOut m = Match(t0 + absl::Minutes(1));
  hark::v1::Value plan;
  plan.set_string_value("pro");
  hark::v1::Value seats;
  seats.set_number_value(12);

  MatchContextWriter writer;
  writer.Start(m);
  writer.AddEvent("", t0, &record);
  writer.AddEvent("second", t0 + absl::Seconds(5), &record);
  writer.AddTrait("plan", plan);
  writer.AddTrait("seats", seats);
  writer.AddTrait("none", hark::v1::Value());

  hark::v1::Match want = Expected(m);
  for (const auto& [alias, t] :
       {std::pair<std::string, absl::Time>{"", t0},
        std::pair<std::string, absl::Time>{"second", t0 + absl::Seconds(5)}}) {
    hark::v1::MatchedEvent* e = AddExpected(&want, alias, t);
    e->set_event_id(error.event_id());
    e->set_name(error.name());
    *e->mutable_properties() = error.properties();
  }
  (*want.mutable_traits())["plan"] = plan;
  (*want.mutable_traits())["seats"] = seats;
  (*want.mutable_traits())["none"];
  ExpectParsesTo(writer.Take(), want);
}

TEST(MatchContextTest, TheLastEntryOfARepeatedPropertyWins) {
  // Two entries of one key, as a parse of the payload would take them.
  hark::v1::Event first;
  first.set_event_id("e-2");
  first.set_name("error");
  (*first.mutable_properties())["code"].set_string_value("E1");
  hark::v1::Event second;
  (*second.mutable_properties())["code"].set_string_value("E2");
  store::EventRecord record = Record(first);
  record.payload += second.SerializeAsString();
  hark::v1::Event parsed;
  ASSERT_TRUE(parsed.ParseFromString(record.payload));
  ASSERT_EQ(parsed.properties().at("code").string_value(), "E2");

  const absl::Time t = absl::FromUnixSeconds(1'760'000'000);
  hark::v1::Match want = Expected(Match(t));
  hark::v1::MatchedEvent* e = AddExpected(&want, "", t);
  e->set_event_id("e-2");
  e->set_name("error");
  *e->mutable_properties() = parsed.properties();
  ExpectParsesTo(OneEventContext(t, &record), want);
}

TEST(MatchContextTest, AnEventNotFoundHasItsTimeOnly) {
  const absl::Time t = absl::FromUnixSeconds(1'760'000'000);
  hark::v1::Match want = Expected(Match(t));
  AddExpected(&want, "", t);
  ExpectParsesTo(OneEventContext(t, nullptr), want);
}

TEST(MatchContextTest, APayloadThatDoesNotParseGivesNoProperties) {
  hark::v1::Event event;
  event.set_event_id("e-3");
  event.set_name("error");
  (*event.mutable_properties())["code"].set_string_value("E1");
  const std::string good = event.SerializeAsString();

  // Cut short; and a string value that is not UTF-8 (a parse refuses it).
  std::vector<std::string> bad = {good.substr(0, good.size() - 2)};
  {
    hark::v1::Event utf8;
    (*utf8.mutable_properties())["code"].set_string_value("E1");
    std::string bytes = utf8.SerializeAsString();
    const size_t at = bytes.find("E1");
    ASSERT_NE(at, std::string::npos);
    bytes[at] = '\xff';
    hark::v1::Event check;
    ASSERT_FALSE(check.ParseFromString(bytes));
    bad.push_back(bytes);
  }
  const absl::Time t = absl::FromUnixSeconds(1'760'000'000);
  for (const std::string& payload : bad) {
    store::EventRecord record = Record(event);
    record.payload = payload;
    hark::v1::Match want = Expected(Match(t));
    hark::v1::MatchedEvent* e = AddExpected(&want, "", t);
    e->set_event_id("e-3");
    e->set_name("error");
    ExpectParsesTo(OneEventContext(t, &record), want);
  }
}

TEST(MatchContextTest, TimesAtAndBeforeTheEpochAndEmptyFields) {
  for (const absl::Time t :
       {absl::UnixEpoch(), absl::FromUnixMicros(-1),
        absl::FromUnixMicros(-86'400'000'001), absl::FromUnixMicros(999'999),
        absl::FromUnixSeconds(4'102'444'800)}) {
    engine::MatchOut m = Match(t);
    m.group_key.clear();
    m.rule_version.clear();
    MatchContextWriter writer;
    writer.Start(m);
    writer.AddEvent("", t, nullptr);
    hark::v1::Match want = Expected(m);
    AddExpected(&want, "", t);
    ASSERT_TRUE(want.has_matched_at());
    ExpectParsesTo(writer.Take(), want);
  }
}

// The runner writes the traits when a match is found and its events when it
// is stored.
TEST(MatchContextTest, EventsAddedAfterTheTraitsAndATakeAreInTheContext) {
  const absl::Time t = absl::FromUnixSeconds(1'760'000'000);
  hark::v1::Event event;
  event.set_event_id("e-4");
  event.set_name("cancel");
  (*event.mutable_properties())["reason"].set_string_value("price");
  const store::EventRecord record = Record(event);
  hark::v1::Value plan;
  plan.set_string_value("pro");

  MatchContextWriter writer;
  writer.Start(Match(t));
  writer.AddTrait("plan", plan);
  std::string partial = writer.Take();
  writer.Start(Match(t + absl::Seconds(9)));  // another match meanwhile
  writer.Continue(std::move(partial));
  writer.AddEvent("first", t - absl::Seconds(1), nullptr);
  writer.AddEvent("", t, &record);

  hark::v1::Match want = Expected(Match(t));
  (*want.mutable_traits())["plan"] = plan;
  AddExpected(&want, "first", t - absl::Seconds(1));
  hark::v1::MatchedEvent* e = AddExpected(&want, "", t);
  e->set_event_id("e-4");
  e->set_name("cancel");
  *e->mutable_properties() = event.properties();
  ExpectParsesTo(writer.Take(), want);
}

TEST(MatchContextTest, EachStartBeginsANewContext) {
  const absl::Time t = absl::FromUnixSeconds(1'760'000'000);
  hark::v1::Value v;
  v.set_bool_value(true);
  MatchContextWriter writer;
  writer.Start(Match(t));
  writer.AddEvent("a", t, nullptr);
  writer.AddTrait("k", v);
  const std::string first = writer.Take();
  engine::MatchOut other = Match(t + absl::Seconds(1));
  other.user_id = "u-2";
  writer.Start(other);
  hark::v1::Match want = Expected(other);
  ExpectParsesTo(writer.Take(), want);
  hark::v1::Match parsed;
  ASSERT_TRUE(parsed.ParseFromString(first));
  EXPECT_EQ(parsed.events_size(), 1);
  EXPECT_EQ(parsed.traits().size(), 1u);
}

}  // namespace
}  // namespace hark::runtime
