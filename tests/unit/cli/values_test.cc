#include "clients/hark/values.h"

#include <string>

#include "clients/hark/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

hark::v1::Value Trait(absl::string_view arg, std::string* key = nullptr) {
  auto parsed = ParseTraitArg(arg);
  EXPECT_TRUE(parsed.ok()) << arg << ": " << parsed.status();
  if (!parsed.ok()) return {};
  if (key != nullptr) *key = parsed->first;
  return parsed->second;
}

TEST(ParseTraitArgTest, InfersTypes) {
  std::string key;
  hark::v1::Value v = Trait("plan=pro", &key);
  EXPECT_EQ(key, "plan");
  EXPECT_EQ(v.string_value(), "pro");

  EXPECT_TRUE(Trait("trial=true").bool_value());
  EXPECT_TRUE(Trait("trial=false").has_bool_value());
  EXPECT_FALSE(Trait("trial=false").bool_value());
  EXPECT_TRUE(Trait("trial=True").has_string_value());

  EXPECT_EQ(Trait("seats=5").number_value(), 5);
  EXPECT_EQ(Trait("delta=-2.5").number_value(), -2.5);
  EXPECT_EQ(Trait("big=1e3").number_value(), 1000);
  EXPECT_EQ(Trait("zero=0").number_value(), 0);

  hark::v1::Value t = Trait("ends=2026-12-01T00:00:00Z");
  ASSERT_TRUE(t.has_timestamp_value());
  EXPECT_EQ(t.timestamp_value().seconds(), 1796083200);

  EXPECT_EQ(Trait("note=").string_value(), "");
  EXPECT_EQ(Trait("expr=a=b").string_value(), "a=b");
}

TEST(ParseTraitArgTest, KeepsDigitsThatAreNotNumbers) {
  // Leading zeros, a plus sign, inf/nan and integers beyond 2^53 would lose
  // information as doubles: they stay strings.
  EXPECT_EQ(Trait("zip=01234").string_value(), "01234");
  EXPECT_EQ(Trait("phone=+4912345").string_value(), "+4912345");
  EXPECT_EQ(Trait("x=inf").string_value(), "inf");
  EXPECT_EQ(Trait("x=nan").string_value(), "nan");
  EXPECT_EQ(Trait("id=12345678901234567890").string_value(),
            "12345678901234567890");
  EXPECT_EQ(Trait("id=9007199254740992").number_value(), 9007199254740992.0);
  EXPECT_EQ(Trait("x=1.").string_value(), "1.");
  EXPECT_EQ(Trait("date=2026-12-01").string_value(), "2026-12-01");
}

TEST(ParseTraitArgTest, ForcedTypes) {
  std::string key;
  hark::v1::Value v = Trait("zip:s=12345", &key);
  EXPECT_EQ(key, "zip");
  EXPECT_EQ(v.string_value(), "12345");
  EXPECT_EQ(Trait("flag:s=true").string_value(), "true");
  EXPECT_EQ(Trait("n:n=42").number_value(), 42);
  EXPECT_TRUE(Trait("b:b=true").bool_value());
  EXPECT_TRUE(Trait("t:t=2026-01-01T00:00:00Z").has_timestamp_value());
  // Only the four one-letter suffixes are types.
  Trait("a:x=1", &key);
  EXPECT_EQ(key, "a:x");
}

TEST(ParseTraitArgTest, Errors) {
  struct Case {
    const char* arg;
    const char* expected;
  } cases[] = {
      {"plan", "has no '='"},
      {"=pro", "empty key"},
      {":s=pro", "empty key"},
      {"n:n=abc", "\"abc\" is not a number"},
      {"b:b=yes", "is not true or false"},
      {"t:t=tomorrow", "is not an RFC 3339 time"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseTraitArg(c.arg);
    ASSERT_FALSE(parsed.ok()) << c.arg;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.expected))
        << c.arg;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.arg));
  }
}

TEST(Rfc3339Test, ParsesOffsetsAndFractions) {
  auto t = ParseRfc3339("2026-11-01T10:30:00.5+01:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->seconds(), 1793525400);
  EXPECT_EQ(t->nanos(), 500000000);
  EXPECT_EQ(FormatRfc3339(*t), "2026-11-01T09:30:00.5Z");
  auto before_epoch = ParseRfc3339("1969-12-31T23:59:59.75Z");
  ASSERT_TRUE(before_epoch.ok());
  EXPECT_EQ(before_epoch->seconds(), -1);
  EXPECT_EQ(before_epoch->nanos(), 750000000);
  EXPECT_FALSE(ParseRfc3339("2026-11-01T10:30:00").ok());
  EXPECT_FALSE(ParseRfc3339("").ok());
}

TEST(FormatValueTest, AllKinds) {
  hark::v1::Value v;
  v.set_string_value("caf\xc3\xa9 \"x\"");
  EXPECT_EQ(FormatValue(v), "\"caf\xc3\xa9 \\\"x\\\"\"");
  EXPECT_EQ(ValueKindName(v), "string");
  v.set_number_value(5);
  EXPECT_EQ(FormatValue(v), "5");
  v.set_number_value(0.1);
  EXPECT_EQ(FormatValue(v), "0.1");
  v.set_number_value(1234567.5);
  EXPECT_EQ(FormatValue(v), "1234567.5");
  EXPECT_EQ(ValueKindName(v), "number");
  v.set_bool_value(true);
  EXPECT_EQ(FormatValue(v), "true");
  v.mutable_timestamp_value()->set_seconds(1796083200);
  EXPECT_EQ(FormatValue(v), "2026-12-01T00:00:00Z");
  EXPECT_EQ(ValueKindName(v), "timestamp");
  EXPECT_EQ(ValueKindName(hark::v1::Value()), "unset");
}

TEST(FormatTest, ThousandsAndDurations) {
  EXPECT_EQ(WithThousands(0), "0");
  EXPECT_EQ(WithThousands(999), "999");
  EXPECT_EQ(WithThousands(1000), "1,000");
  EXPECT_EQ(WithThousands(4000000), "4,000,000");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(300)), "0s");
  EXPECT_EQ(HumanDuration(absl::Seconds(42)), "42s");
  EXPECT_EQ(HumanDuration(absl::Seconds(5 * 60 + 3)), "5m 3s");
  EXPECT_EQ(
      HumanDuration(absl::Hours(2) + absl::Minutes(13) + absl::Seconds(9)),
      "2h 13m");
  EXPECT_EQ(HumanDuration(absl::Hours(76)), "3d 4h");
  EXPECT_EQ(HumanDuration(absl::Hours(24) + absl::Minutes(5)), "1d");
  EXPECT_EQ(ProgressBar(0.5, 10), "[#####.....]  50%");
  EXPECT_EQ(ProgressBar(2, 4), "[####] 100%");
}

TEST(FormatTest, TruncateCutsAtCodePointsWithAnEllipsis) {
  EXPECT_EQ(Truncate("short", 5), "short");
  EXPECT_EQ(Truncate("longer", 5), "long…");
  EXPECT_EQ(Truncate("Grüße 🙂 aus", 7), "Grüße …");
  EXPECT_EQ(Truncate("🙂🙂🙂", 2), "🙂…");
  EXPECT_EQ(Truncate("abc", 1), "…");
  EXPECT_EQ(Truncate("abc", 0), "");
}

TEST(FormatTest, TextTableAlignsLeftOrRight) {
  EXPECT_EQ(TextTable({{"RULE", "N", "NOTE"},
                       {"repeated_errors", "1,204", "x"},
                       {"cancel", "3", "ünicode"}},
                      {false, true}),
            "RULE                 N  NOTE\n"
            "repeated_errors  1,204  x\n"
            "cancel               3  ünicode\n");
  // A shorter row ends early, without trailing blanks.
  EXPECT_EQ(TextTable({{"a", "b"}, {"long"}}), "a     b\nlong\n");
}

TEST(FormatTest, StatsBlock) {
  hark::v1::GetStatsResponse s;
  s.set_events_stored(12345);
  s.set_users(321);
  s.set_accepted(1000);
  s.set_duplicates(3);
  s.set_rejected(2);
  s.set_queue_depth(1);
  s.set_queue_capacity(4096);
  s.set_dedup_window_size(12345);
  s.set_dedup_window_capacity(4000000);
  s.mutable_uptime()->set_seconds(2 * 3600 + 13 * 60);
  s.mutable_started_at()->set_seconds(1796083200);
  s.set_database("data/hark.db");
  s.set_version("0.1.0");
  std::string out = FormatStats(s, "127.0.0.1:50051");
  EXPECT_THAT(out, HasSubstr("harkd 0.1.0 at 127.0.0.1:50051\n"));
  EXPECT_THAT(out, HasSubstr("database         data/hark.db\n"));
  EXPECT_THAT(out, HasSubstr("uptime           2h 13m (since "
                             "2026-12-01T00:00:00Z)\n"));
  EXPECT_THAT(out, HasSubstr("events stored    12,345\n"));
  EXPECT_THAT(out, HasSubstr("since start      accepted 1,000, duplicates 3, "
                             "rejected 2\n"));
  EXPECT_THAT(out, HasSubstr("write queue      1 / 4,096"));
  EXPECT_THAT(out, HasSubstr("dedup window     12,345 / 4,000,000"));
  EXPECT_THAT(out, Not(HasSubstr("checkpoint")));  // no engine block

  hark::v1::EngineStats* e = s.mutable_engine();
  e->set_rules(4);
  e->set_checkpoint_seq(1234567);
  e->set_checkpoint_bytes(48000000);
  e->set_checkpoints(31);
  e->set_checkpoint_deltas(29);
  out = FormatStats(s, "127.0.0.1:50051");
  EXPECT_THAT(out, HasSubstr("rules            4 serving\n"));
  EXPECT_THAT(out, HasSubstr("checkpoint       through event 1,234,567 "
                             "(48,000,000 bytes); 31 saved since start, 29 "
                             "of them deltas\n"));
  e->set_checkpoint_stored_bytes(6100000);
  out = FormatStats(s, "127.0.0.1:50051");
  EXPECT_THAT(out, HasSubstr("(48,000,000 bytes, 6,100,000 stored); 31 saved"));
}

}  // namespace
}  // namespace hark::cli
