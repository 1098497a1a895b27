// `match` and `count` patterns: windows, lateness, groups, state lifetime.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/engine_test_util.h"

namespace hark::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

absl::Duration Min(int m) { return absl::Minutes(m); }

// The DESIGN.md example: three errors of one code within 10 minutes.
std::shared_ptr<const rules::RuleSet> RepeatedErrors() {
  return Build(
      {CountRule("repeated_errors",
                 Filter("error", R"(props.severity in ["error", "fatal"])"), 3,
                 Min(10), {"code"})});
}

Props Err(const std::string& code) {
  return {{"severity", Str("error")}, {"code", Str(code)}};
}

TEST(MatchPattern, FiresOnEachMatchingEventReadingTraits) {
  Driver d(
      Build({MatchRule("cancellation", Filter("subscription_cancelled",
                                              R"(user.plan != "free")"))}));
  d.traits().Set("u1", "plan", Str("pro"));
  d.traits().Set("u2", "plan", Str("free"));
  auto m = d.Send("u1", "subscription_cancelled", Min(1));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].rule_id, "cancellation");
  EXPECT_EQ(m[0].user_id, "u1");
  EXPECT_EQ(m[0].matched_at, kT0 + Min(1));
  EXPECT_FALSE(m[0].at_deadline);
  ASSERT_THAT(m[0].events, SizeIs(1));
  EXPECT_EQ(m[0].events[0].seq, 1);
  EXPECT_EQ(m[0].events[0].step, -1);
  EXPECT_THAT(d.Send("u2", "subscription_cancelled", Min(2)), IsEmpty());
  // A user without the trait: the comparison is false and counted.
  EXPECT_THAT(d.Send("u3", "subscription_cancelled", Min(3)), IsEmpty());
  EXPECT_GE(d.engine().stats().type_mismatches, 1u);
  EXPECT_EQ(d.engine().stats().live_states, 0u);
}

TEST(MatchPattern, LateEventsStillMatch) {
  Driver d(Build({MatchRule("m", Filter("x"))}));
  d.Send("u1", "y", Min(60));
  auto m = d.Send("u1", "x", Min(10));  // far behind the watermark
  EXPECT_EQ(d.engine().stats().late_events, 1u);
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].matched_at, kT0 + Min(10));
}

TEST(CountPattern, MatchesAtExactlyWithin) {
  Driver d(RepeatedErrors());
  EXPECT_THAT(d.Send("u1", "error", Min(0), Err("A")), IsEmpty());
  EXPECT_THAT(d.Send("u1", "error", Min(5), Err("A")), IsEmpty());
  auto m = d.Send("u1", "error", Min(10), Err("A"));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].rule_id, "repeated_errors");
  EXPECT_EQ(m[0].group_key, "A");
  EXPECT_EQ(m[0].matched_at, kT0 + Min(10));
  ASSERT_THAT(m[0].events, SizeIs(3));
  EXPECT_EQ(m[0].events[0].seq, 1);
  EXPECT_EQ(m[0].events[2].seq, 3);
  EXPECT_EQ(m[0].events[2].time, kT0 + Min(10));
  // Matched: that group's state starts over.
  EXPECT_EQ(d.engine().stats().live_states, 0u);
}

TEST(CountPattern, OneMicrosecondBeyondWithinDoesNotMatch) {
  Driver d(RepeatedErrors());
  d.Send("u1", "error", Min(0), Err("A"));
  d.Send("u1", "error", Min(5), Err("A"));
  EXPECT_THAT(d.Send("u1", "error", Min(10) + absl::Microseconds(1), Err("A")),
              IsEmpty());
  // The last two are still a window: one more in time completes it.
  EXPECT_THAT(d.Send("u1", "error", Min(12), Err("A")), SizeIs(1));
}

TEST(CountPattern, SlidingWindowDropsTheOldest) {
  Driver d(RepeatedErrors());
  d.Send("u1", "error", Min(0), Err("A"));
  d.Send("u1", "error", Min(6), Err("A"));
  EXPECT_THAT(d.Send("u1", "error", Min(12), Err("A")), IsEmpty());
  auto m = d.Send("u1", "error", Min(14), Err("A"));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].events.front().time, kT0 + Min(6));
}

TEST(CountPattern, StartsOverAfterAMatch) {
  Driver d(RepeatedErrors());
  for (int i = 0; i < 3; ++i) d.Send("u1", "error", Min(i), Err("A"));
  EXPECT_THAT(d.all(), SizeIs(1));
  EXPECT_THAT(d.Send("u1", "error", Min(3), Err("A")), IsEmpty());
  EXPECT_THAT(d.Send("u1", "error", Min(4), Err("A")), IsEmpty());
  EXPECT_THAT(d.Send("u1", "error", Min(5), Err("A")), SizeIs(1));
}

TEST(CountPattern, OutOfOrderInsideLatenessStillCounts) {
  Driver d(RepeatedErrors());  // allowed lateness: 1 minute
  d.Send("u1", "error", Min(0), Err("A"));
  d.Send("u1", "error", Min(9), Err("A"));
  // Older than the newest event, but not older than the watermark (8m).
  auto m = d.Send("u1", "error", absl::Seconds(8 * 60 + 30), Err("A"));
  EXPECT_EQ(d.engine().stats().late_events, 0u);
  ASSERT_THAT(m, SizeIs(1));
  // The events are placed by event time.
  EXPECT_EQ(m[0].events[0].seq, 1);
  EXPECT_EQ(m[0].events[1].seq, 3);
  EXPECT_EQ(m[0].events[2].seq, 2);
  EXPECT_EQ(m[0].matched_at, kT0 + Min(9));
}

TEST(CountPattern, BeyondLatenessIsIgnoredAndCounted) {
  Driver d(RepeatedErrors());
  d.Send("u1", "error", Min(0), Err("A"));
  d.Send("u1", "error", Min(20), Err("A"));  // watermark 19m
  EXPECT_THAT(d.Send("u1", "error", Min(15), Err("A")), IsEmpty());
  EXPECT_EQ(d.engine().stats().late_events, 1u);
  // Had the late event counted, {15m, 20m, 21m} would match.
  EXPECT_THAT(d.Send("u1", "error", Min(21), Err("A")), IsEmpty());
  EXPECT_THAT(d.Send("u1", "error", Min(22), Err("A")), SizeIs(1));
}

TEST(CountPattern, GroupsAreSeparate) {
  Driver d(RepeatedErrors());
  d.Send("u1", "error", Min(0), Err("A"));
  d.Send("u1", "error", Min(1), Err("A"));
  EXPECT_THAT(d.Send("u1", "error", Min(2), Err("B")), IsEmpty());
  EXPECT_EQ(d.engine().stats().live_states, 2u);
  // Another user's errors are theirs.
  EXPECT_THAT(d.Send("u2", "error", Min(2), Err("A")), IsEmpty());
  auto m = d.Send("u1", "error", Min(3), Err("A"));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].group_key, "A");
  EXPECT_EQ(m[0].user_id, "u1");
}

TEST(CountPattern, GroupKeyJoinsSeveralValues) {
  Driver d(
      Build({CountRule("r", Filter("error"), 2, Min(10), {"code", "status"})}));
  d.Send("u1", "error", Min(0), {{"code", Str("A")}, {"status", Num(500)}});
  auto m =
      d.Send("u1", "error", Min(1), {{"code", Str("A")}, {"status", Num(500)}});
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].group_key, "A|500");
}

TEST(CountPattern, MissingGroupPropertyDoesNotCount) {
  Driver d(RepeatedErrors());
  for (int i = 0; i < 3; ++i) {
    d.Send("u1", "error", Min(i), {{"severity", Str("error")}});
  }
  EXPECT_THAT(d.all(), IsEmpty());
  EXPECT_EQ(d.engine().stats().type_mismatches, 3u);
  EXPECT_EQ(d.engine().stats().live_states, 0u);
}

TEST(CountPattern, PredicateFiltersEvents) {
  Driver d(RepeatedErrors());
  d.Send("u1", "error", Min(0), Err("A"));
  d.Send("u1", "error", Min(1), Err("A"));
  EXPECT_THAT(d.Send("u1", "error", Min(2),
                     {{"severity", Str("warning")}, {"code", Str("A")}}),
              IsEmpty());
  EXPECT_THAT(d.Send("u1", "error", Min(3),
                     {{"severity", Str("fatal")}, {"code", Str("A")}}),
              SizeIs(1));
}

TEST(CountPattern, AtLeastOneMatchesWithoutState) {
  Driver d(Build({CountRule("r", Filter("x"), 1, Min(10))}));
  EXPECT_THAT(d.Send("u1", "x", Min(0)), SizeIs(1));
  EXPECT_EQ(d.engine().stats().live_states, 0u);
}

TEST(CountPattern, ManyGroupsOfOneUser) {
  // 200 open groups: the user's block outgrows the pool's size classes.
  auto set = RepeatedErrors();
  Driver d(set);
  for (int round = 0; round < 2; ++round) {
    for (int code = 0; code < 200; ++code) {
      d.Send("u1", "error", absl::Seconds(round * 200 + code),
             Err(std::to_string(code)));
    }
  }
  EXPECT_EQ(d.engine().stats().live_states, 200u);
  EXPECT_THAT(d.all(), IsEmpty());
  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(d.engine().Checkpoint()).ok());
  d.Reset(std::move(restored));
  for (int code = 199; code >= 0; --code) {
    auto m =
        d.Send("u1", "error", absl::Seconds(400), Err(std::to_string(code)));
    ASSERT_THAT(m, SizeIs(1));
    EXPECT_EQ(m[0].group_key, std::to_string(code));
  }
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_EQ(d.engine().stats().users, 0u);
}

TEST(CountPattern, StateIsFreedWhenTheWindowCloses) {
  Driver d(RepeatedErrors());
  const uint64_t empty_bytes = d.engine().stats().state_bytes;
  d.Send("u1", "error", Min(0), Err("A"));
  d.Send("u1", "error", Min(2), Err("A"));
  d.Send("u2", "error", Min(2), Err("B"));
  EngineStats s = d.engine().stats();
  EXPECT_EQ(s.live_states, 2u);
  EXPECT_EQ(s.users, 2u);
  EXPECT_GT(s.state_bytes, empty_bytes);
  // Watermark = 13m - 1m = 12m: the newest kept event (2m) is exactly
  // `within` old, so it may still pair with an event at 12m.
  d.Advance(Min(13));
  EXPECT_EQ(d.engine().stats().live_states, 2u);
  d.Advance(Min(13) + absl::Microseconds(1));
  s = d.engine().stats();
  EXPECT_EQ(s.live_states, 0u);
  EXPECT_EQ(s.users, 0u);
  EXPECT_THAT(d.all(), IsEmpty());
}

TEST(CountPattern, EventsAdvanceTheWatermarkToo) {
  Driver d(RepeatedErrors());
  d.Send("u1", "error", Min(0), Err("A"));
  EXPECT_EQ(d.engine().stats().live_states, 1u);
  // Someone else's event at 12m: watermark 11m > 0m + 10m.
  d.Send("u2", "page_view", Min(12));
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_EQ(d.engine().stats().watermark, kT0 + Min(11));
}

TEST(Watermark, WallClockAndLateness) {
  EngineOptions options;
  options.allowed_lateness = absl::Seconds(30);
  Driver d(Build({MatchRule("m", Filter("x"))}), options);
  EXPECT_EQ(d.engine().stats().watermark, absl::InfinitePast());
  d.Advance(Min(10));
  EXPECT_EQ(d.engine().stats().watermark, kT0 + Min(10) - absl::Seconds(30));
  // The wall clock never moves the watermark back.
  d.Advance(Min(5));
  EXPECT_EQ(d.engine().stats().watermark, kT0 + Min(10) - absl::Seconds(30));
  // An event older than the watermark is late.
  d.Send("u1", "x", Min(9));
  EXPECT_EQ(d.engine().stats().late_events, 1u);
  d.Send("u1", "x", Min(9) + absl::Seconds(30));
  EXPECT_EQ(d.engine().stats().late_events, 1u);
  EXPECT_EQ(d.engine().stats().events, 2u);
  EXPECT_EQ(d.engine().last_seq(), 2);
}

}  // namespace
}  // namespace hark::engine::testing
