// `sequence` patterns, with and without `absent`.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/engine_test_util.h"

namespace hark::engine::testing {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;

absl::Duration Min(int m) { return absl::Minutes(m); }
absl::Duration Day(int d) { return absl::Hours(24 * d); }

// The DESIGN.md example, with a cross-step condition: a downgrade of the
// plan that was upgraded to.
std::shared_ptr<const rules::RuleSet> Downgrade() {
  return Build({SequenceRule(
      "downgrade_after_upgrade",
      {Step("up", Filter("plan_changed", R"(props.direction == "upgrade")")),
       Step("down", Filter("plan_changed",
                           R"(props.direction == "downgrade" && )"
                           R"(props.plan == up.props.plan)",
                           {"up"}))},
      Day(14))});
}

Props Up(const std::string& plan) {
  return {{"direction", Str("upgrade")}, {"plan", Str(plan)}};
}
Props Down(const std::string& plan) {
  return {{"direction", Str("downgrade")}, {"plan", Str(plan)}};
}

std::shared_ptr<const rules::RuleSet> Abandonment() {
  return Build({SequenceRule("onboarding_abandonment",
                             {Step("start", Filter("onboarding_started"))},
                             Min(30), Filter("onboarding_completed"))});
}

TEST(SequencePattern, MatchesWhenTheLastStepMatches) {
  Driver d(Downgrade());
  EXPECT_THAT(d.Send("u1", "plan_changed", Day(0), Up("pro")), IsEmpty());
  EXPECT_EQ(d.engine().stats().live_states, 1u);
  auto m = d.Send("u1", "plan_changed", Day(3), Down("pro"));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].rule_id, "downgrade_after_upgrade");
  EXPECT_EQ(m[0].matched_at, kT0 + Day(3));
  EXPECT_FALSE(m[0].at_deadline);
  ASSERT_THAT(m[0].events, SizeIs(2));
  EXPECT_EQ(m[0].events[0].step, 0);
  EXPECT_EQ(m[0].events[0].seq, 1);
  EXPECT_EQ(m[0].events[1].step, 1);
  EXPECT_EQ(m[0].events[1].seq, 2);
  EXPECT_EQ(d.engine().stats().live_states, 0u);
}

TEST(SequencePattern, CrossStepPredicateReadsTheEarlierStep) {
  Driver d(Downgrade());
  d.Send("u1", "plan_changed", Day(0), Up("pro"));
  // A downgrade of another plan is not this step.
  EXPECT_THAT(d.Send("u1", "plan_changed", Day(1), Down("team")), IsEmpty());
  EXPECT_THAT(d.Send("u1", "plan_changed", Day(2), Down("pro")), SizeIs(1));
}

TEST(SequencePattern, ExactlyAtWithinMatches) {
  Driver d(Downgrade());
  d.Send("u1", "plan_changed", Day(0), Up("pro"));
  EXPECT_THAT(d.Send("u1", "plan_changed", Day(14), Down("pro")), SizeIs(1));
}

TEST(SequencePattern, OneMicrosecondBeyondWithinDoesNotMatch) {
  Driver d(Downgrade());
  d.Send("u1", "plan_changed", Day(0), Up("pro"));
  EXPECT_THAT(d.Send("u1", "plan_changed", Day(14) + absl::Microseconds(1),
                     Down("pro")),
              IsEmpty());
}

TEST(SequencePattern, StepOlderThanThePreviousStepDoesNotAdvance) {
  Driver d(Downgrade());
  d.Send("u1", "plan_changed", Min(10), Up("pro"));
  // Inside the lateness, but before the upgrade.
  EXPECT_THAT(
      d.Send("u1", "plan_changed", Min(9) + absl::Seconds(30), Down("pro")),
      IsEmpty());
  EXPECT_EQ(d.engine().stats().late_events, 0u);
  EXPECT_THAT(d.Send("u1", "plan_changed", Min(10), Down("pro")), SizeIs(1));
}

TEST(SequencePattern, LateEventsAreIgnored) {
  Driver d(Downgrade());
  d.Send("u1", "plan_changed", Min(0), Up("pro"));
  d.Send("u2", "page_view", Min(30));  // watermark 29m
  EXPECT_THAT(d.Send("u1", "plan_changed", Min(20), Down("pro")), IsEmpty());
  EXPECT_EQ(d.engine().stats().late_events, 1u);
  EXPECT_EQ(d.engine().stats().live_states, 1u);
}

TEST(SequencePattern, RepeatedFirstStepRestarts) {
  Driver d(Downgrade());
  d.Send("u1", "plan_changed", Day(0), Up("pro"));
  d.Send("u1", "plan_changed", Day(10), Up("team"));  // restarts at day 10
  EXPECT_EQ(d.engine().stats().live_states, 1u);
  // The first upgrade is gone: its plan no longer matches...
  EXPECT_THAT(d.Send("u1", "plan_changed", Day(11), Down("pro")), IsEmpty());
  // ...and the window counts from day 10.
  auto m = d.Send("u1", "plan_changed", Day(24), Down("team"));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].events[0].seq, 2);
}

TEST(SequencePattern, TraitsAreReadWhenEachEventIsProcessed) {
  Driver d(Build({SequenceRule(
      "r",
      {Step("a", Filter("trial_started", R"(user.plan == "free")")),
       Step("b", Filter("checkout", R"(user.plan == "pro")"))},
      Day(7))}));
  d.traits().Set("u1", "plan", Str("free"));
  d.Send("u1", "trial_started", Day(0));
  EXPECT_THAT(d.Send("u1", "checkout", Day(1)), IsEmpty());
  d.traits().Set("u1", "plan", Str("pro"));
  EXPECT_THAT(d.Send("u1", "checkout", Day(2)), SizeIs(1));
}

TEST(SequencePattern, ThreeStepsAndAnEventServingTwoRules) {
  Driver d(
      Build({SequenceRule("funnel",
                          {Step("a", Filter("view")), Step("b", Filter("cart")),
                           Step("c", Filter("pay"))},
                          Min(60)),
             SequenceRule("cart_then_leave", {Step("", Filter("cart"))},
                          Min(30), Filter("pay"))}));
  d.Send("u1", "view", Min(0));
  d.Send("u1", "cart", Min(5));  // step b of one, start of the other
  EXPECT_EQ(d.engine().stats().live_states, 2u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 1u);
  auto m = d.Send("u1", "pay", Min(10));  // completes one, cancels the other
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].rule_id, "funnel");
  EXPECT_THAT(m[0].events, SizeIs(3));
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 0u);
}

TEST(SequencePattern, StateIsFreedWhenTheWindowCloses) {
  Driver d(Downgrade());
  d.Send("u1", "plan_changed", Day(0), Up("pro"));
  d.Advance(Day(14) + Min(1));  // watermark == first + within
  EXPECT_EQ(d.engine().stats().live_states, 1u);
  d.Advance(Day(14) + Min(1) + absl::Microseconds(1));
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_EQ(d.engine().stats().users, 0u);
  EXPECT_THAT(d.all(), IsEmpty());
}

TEST(AbsencePattern, FiresAtTheDeadlineOnceTheWatermarkPassesIt) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(0));
  EXPECT_EQ(d.engine().stats().pending_deadlines, 1u);
  // Watermark = wall - 1m = 30m: not past the deadline (30m) yet.
  EXPECT_THAT(d.Advance(Min(31)), IsEmpty());
  auto m = d.Advance(Min(31) + absl::Microseconds(1));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].rule_id, "onboarding_abandonment");
  EXPECT_EQ(m[0].user_id, "u1");
  EXPECT_EQ(m[0].matched_at, kT0 + Min(30));
  EXPECT_TRUE(m[0].at_deadline);
  ASSERT_THAT(m[0].events, SizeIs(1));
  EXPECT_EQ(m[0].events[0].step, 0);
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 0u);
  EXPECT_THAT(d.Advance(Min(120)), IsEmpty());
}

TEST(AbsencePattern, OtherUsersEventsMoveTheWatermarkToo) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(0));
  auto m = d.Send("u2", "page_view", Min(32));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].user_id, "u1");
}

TEST(AbsencePattern, CancelledByTheAbsentEvent) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(0));
  d.Send("u1", "onboarding_completed", Min(12));
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_THAT(d.Advance(Min(120)), IsEmpty());
}

TEST(AbsencePattern, AbsentEventExactlyAtTheDeadlineCancels) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(0));
  d.Send("u1", "onboarding_completed", Min(30));
  EXPECT_THAT(d.Advance(Min(120)), IsEmpty());
}

TEST(AbsencePattern, AbsentEventAfterTheDeadlineDoesNotCancel) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(0));
  // After the deadline in event time, though the deadline has not fired yet
  // (watermark 29m).
  d.Send("u1", "onboarding_completed", Min(30) + absl::Microseconds(1));
  EXPECT_EQ(d.engine().stats().live_states, 1u);
  EXPECT_THAT(d.Advance(Min(120)), SizeIs(1));
}

TEST(AbsencePattern, AbsentEventBeforeTheStartDoesNotCancel) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(5));
  d.Send("u1", "onboarding_completed", Min(4) + absl::Seconds(30));
  EXPECT_THAT(d.Advance(Min(120)), SizeIs(1));
}

TEST(AbsencePattern, LateAbsentEventDoesNotCancel) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(0));
  d.Send("u2", "page_view", Min(20));  // watermark 19m
  d.Send("u1", "onboarding_completed", Min(10));
  EXPECT_EQ(d.engine().stats().late_events, 1u);
  EXPECT_THAT(d.Advance(Min(120)), SizeIs(1));
}

TEST(AbsencePattern, RepeatedStartMovesTheDeadline) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(0));
  d.Send("u1", "onboarding_started", Min(10));
  EXPECT_EQ(d.engine().stats().live_states, 1u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 1u);
  EXPECT_THAT(d.Advance(Min(35)), IsEmpty());  // the old deadline passed
  auto m = d.Advance(Min(42));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].matched_at, kT0 + Min(40));
  EXPECT_EQ(m[0].events[0].seq, 2);
}

TEST(AbsencePattern, RestartAfterTheDeadlineFiresTheOldAttemptFirst) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(0));
  // After the first deadline (30m) in event time; the watermark (29m30s)
  // has not passed it yet.
  auto m = d.Send("u1", "onboarding_started", Min(30) + absl::Seconds(30));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].matched_at, kT0 + Min(30));
  EXPECT_TRUE(m[0].at_deadline);
  EXPECT_EQ(m[0].events[0].seq, 1);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 1u);
  m = d.Advance(Min(120));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].matched_at, kT0 + Min(60) + absl::Seconds(30));
  EXPECT_EQ(m[0].events[0].seq, 2);
}

TEST(AbsencePattern, OlderRepeatedStartIsIgnored) {
  Driver d(Abandonment());
  d.Send("u1", "onboarding_started", Min(10));
  d.Send("u1", "onboarding_started", Min(9) + absl::Seconds(30));
  auto m = d.Advance(Min(60));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].matched_at, kT0 + Min(40));
}

TEST(AbsencePattern, AfterSeveralStepsWithCrossStepAbsentFilter) {
  // Checkout started, then a payment error, then no successful payment of
  // the same cart within 15 minutes.
  Driver d(Build({SequenceRule(
      "r",
      {Step("start", Filter("checkout_started")),
       Step("fail", Filter("payment_failed", "props.cart == start.props.cart",
                           {"start"}))},
      Min(15),
      Filter("payment_succeeded", "props.cart == start.props.cart",
             {"start", "fail"}))}));
  d.Send("u1", "checkout_started", Min(0), {{"cart", Str("c1")}});
  d.Send("u1", "payment_failed", Min(5), {{"cart", Str("c1")}});
  EXPECT_EQ(d.engine().stats().pending_deadlines, 1u);
  // Another cart's success does not cancel.
  d.Send("u1", "payment_succeeded", Min(6), {{"cart", Str("c2")}});
  EXPECT_EQ(d.engine().stats().pending_deadlines, 1u);
  auto m = d.Advance(Min(22));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].matched_at, kT0 + Min(20));  // last step + within
  EXPECT_THAT(m[0].events, SizeIs(2));

  d.Send("u2", "checkout_started", Min(30), {{"cart", Str("c9")}});
  d.Send("u2", "payment_failed", Min(31), {{"cart", Str("c9")}});
  d.Send("u2", "payment_succeeded", Min(32), {{"cart", Str("c9")}});
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_THAT(d.Advance(Min(120)), IsEmpty());
}

TEST(AbsencePattern, DeadlinesFireInDeadlineOrder) {
  Driver d(Abandonment());
  for (int i = 0; i < 50; ++i) {
    d.Send("u" + std::to_string(i), "onboarding_started",
           absl::Seconds(49 - i));
  }
  auto m = d.Advance(Min(60));
  ASSERT_THAT(m, SizeIs(50));
  for (size_t i = 1; i < m.size(); ++i) {
    EXPECT_LE(m[i - 1].matched_at, m[i].matched_at);
  }
}

}  // namespace
}  // namespace hark::engine::testing
