// Engine::DropUser: deleting a user frees its slots and cancels its
// deadlines, leaves other users alone, keeps the stats exact and leaves no
// trace in checkpoints.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
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

rules::Rule Errors() {
  return CountRule("repeated_errors", Filter("error"), 3, Min(10), {"code"});
}
rules::Rule Abandon() {
  return SequenceRule("onboarding_abandonment",
                      {Step("start", Filter("onboarding_started"))}, Min(30),
                      Filter("onboarding_completed"));
}
rules::Rule Downgrade() {
  return SequenceRule(
      "downgrade",
      {Step("up", Filter("plan_changed", R"(props.direction == "upgrade")")),
       Step("down",
            Filter("plan_changed", R"(props.direction == "downgrade")"))},
      absl::Hours(24 * 14));
}
Props Code(const std::string& c) { return {{"code", Str(c)}}; }

TEST(DropUser, CountStartsOverAfterTheDrop) {
  Driver d(Build({Errors()}));
  d.Send("u1", "error", Min(0), Code("A"));
  d.Send("u1", "error", Min(1), Code("A"));
  const DropReport report = d.engine().DropUser("u1");
  EXPECT_EQ(report.slots, 1u);
  EXPECT_EQ(report.deadlines, 0u);
  // The third event would have completed the count.
  EXPECT_THAT(d.Send("u1", "error", Min(2), Code("A")), IsEmpty());
  EXPECT_THAT(d.Send("u1", "error", Min(3), Code("A")), IsEmpty());
  // Three events after the drop are a match of their own.
  auto m = d.Send("u1", "error", Min(4), Code("A"));
  ASSERT_THAT(m, SizeIs(1));
  ASSERT_THAT(m[0].events, SizeIs(3));
  EXPECT_EQ(m[0].events[0].seq, 3);
}

TEST(DropUser, CancelsAPendingAbsenceDeadline) {
  Driver d(Build({Abandon()}));
  d.Send("u1", "onboarding_started", Min(0));
  EXPECT_EQ(d.engine().stats().pending_deadlines, 1u);
  const DropReport report = d.engine().DropUser("u1");
  EXPECT_EQ(report.slots, 1u);
  EXPECT_EQ(report.deadlines, 1u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 0u);
  EXPECT_THAT(d.Advance(Min(31)), IsEmpty());
  EXPECT_THAT(d.Advance(Min(600)), IsEmpty());
  EXPECT_THAT(d.all(), IsEmpty());
}

TEST(DropUser, CancelsADeadlineAlreadyInTheWheelsHeap) {
  // The watermark (wall - 1m of lateness) is exactly at the deadline: the
  // deadline's bucket has moved from the ring to the heap, but the deadline
  // fires only once the watermark is past it.
  Driver d(Build({Abandon()}));
  d.Send("u1", "onboarding_started", Min(0));
  d.Advance(Min(31));
  EXPECT_THAT(d.all(), IsEmpty());
  EXPECT_EQ(d.engine().DropUser("u1").deadlines, 1u);
  EXPECT_THAT(d.Advance(Min(32)), IsEmpty());
}

TEST(DropUser, OpenSequenceIsForgotten) {
  Driver d(Build({Downgrade()}));
  d.Send("u1", "plan_changed", Min(0), {{"direction", Str("upgrade")}});
  EXPECT_EQ(d.engine().DropUser("u1").slots, 1u);
  EXPECT_THAT(
      d.Send("u1", "plan_changed", Min(5), {{"direction", Str("downgrade")}}),
      IsEmpty());
}

TEST(DropUser, OtherUsersAreUnaffected) {
  Driver d(Build({Errors(), Abandon()}));
  const std::vector<std::string> users = {"u1", "u2", "u3"};
  for (const std::string& user : users)
    d.Send(user, "error", Min(0), Code("A"));
  for (const std::string& user : users)
    d.Send(user, "error", Min(1), Code("A"));
  for (const std::string& user : users)
    d.Send(user, "error", Min(1), Code("B"));
  for (const std::string& user : users)
    d.Send(user, "onboarding_started", Min(2));
  EXPECT_EQ(d.engine().stats().live_states, 9u);
  const DropReport report = d.engine().DropUser("u2");
  EXPECT_EQ(report.slots, 3u);
  EXPECT_EQ(report.deadlines, 1u);

  std::vector<std::string> counted;
  for (const std::string& user : users) {
    for (const MatchOut& m : d.Send(user, "error", Min(3), Code("A"))) {
      counted.push_back(m.user_id);
    }
  }
  EXPECT_THAT(counted, ElementsAre("u1", "u3"));
  EXPECT_THAT(Users(d.Advance(Min(40))), ElementsAre("u1", "u3"));
}

TEST(DropUser, StatsStayExact) {
  Driver d(Build({Errors(), Abandon()}));
  d.Send("u1", "error", Min(0), Code("A"));
  d.Send("u1", "error", Min(0), Code("B"));
  d.Send("u1", "onboarding_started", Min(0));
  d.Send("u2", "onboarding_started", Min(0));
  const EngineStats before = d.engine().stats();
  EXPECT_EQ(before.live_states, 4u);
  EXPECT_EQ(before.users, 2u);
  EXPECT_EQ(before.pending_deadlines, 2u);

  const DropReport report = d.engine().DropUser("u1");
  EXPECT_EQ(report.slots, 3u);
  EXPECT_EQ(report.deadlines, 1u);
  const EngineStats after = d.engine().stats();
  EXPECT_EQ(after.live_states, 1u);
  EXPECT_EQ(after.users, 1u);
  EXPECT_EQ(after.pending_deadlines, 1u);
  // Pool memory is kept for later users, not handed back; only the list of
  // free handles may grow.
  EXPECT_GE(after.state_bytes, before.state_bytes);
  EXPECT_LE(after.state_bytes, before.state_bytes + 32);
  EXPECT_EQ(after.events, before.events);
  EXPECT_EQ(after.watermark, before.watermark);
  EXPECT_EQ(d.engine().last_seq(), 4);

  // The same user coming back reuses the freed block (no new slab; the
  // wheel's new entries cost a few bytes).
  d.Send("u1", "error", Min(1), Code("A"));
  d.Send("u1", "error", Min(1), Code("B"));
  d.Send("u1", "onboarding_started", Min(1));
  EXPECT_EQ(d.engine().stats().live_states, 4u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 2u);
  EXPECT_LT(d.engine().stats().state_bytes, before.state_bytes + 1024);

  // Everything expires: the counters come back to zero, not below.
  d.Advance(Min(120));
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_EQ(d.engine().stats().users, 0u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 0u);
  EXPECT_THAT(Users(d.all()), ElementsAre("u2", "u1"));
}

TEST(DropUser, UnknownUserAndSecondDropDropNothing) {
  Driver d(Build({Errors()}));
  d.Send("u1", "error", Min(0), Code("A"));
  const EngineStats before = d.engine().stats();
  DropReport report = d.engine().DropUser("nobody");
  EXPECT_EQ(report.slots, 0u);
  EXPECT_EQ(report.deadlines, 0u);
  EXPECT_EQ(d.engine().DropUser("").slots, 0u);
  EXPECT_EQ(d.engine().stats().live_states, before.live_states);
  EXPECT_EQ(d.engine().DropUser("u1").slots, 1u);
  report = d.engine().DropUser("u1");
  EXPECT_EQ(report.slots, 0u);
  EXPECT_EQ(d.engine().stats().live_states, 0u);
}

TEST(DropUser, UserReusingTheHandleFiresOnlyItsOwnDeadline) {
  // u2 takes the handle u1 left, with a wake-up in the same bucket as u1's
  // stale wheel entry and one exactly at its time: neither fires twice nor
  // for u1.
  Driver d(Build({Abandon()}));
  d.Send("u1", "onboarding_started", Min(0));
  d.engine().DropUser("u1");
  d.Send("u2", "onboarding_started", Min(0));
  d.Send("u3", "onboarding_started", Min(0) + absl::Milliseconds(1));
  d.engine().DropUser("u3");
  d.Send("u4", "onboarding_started", Min(0) + absl::Milliseconds(1));
  auto m = d.Advance(Min(40));
  EXPECT_THAT(Users(m), ElementsAre("u2", "u4"));
  EXPECT_THAT(d.Advance(Min(120)), IsEmpty());
  EXPECT_EQ(d.engine().stats().pending_deadlines, 0u);
  EXPECT_EQ(d.engine().stats().live_states, 0u);
}

TEST(DropUser, CheckpointAfterTheDropHoldsNoTraceOfTheUser) {
  auto set = Build({Errors(), Abandon()});
  Driver d(set);
  d.Send("dropped-user-7f3a", "error", Min(0), Code("A"));
  d.Send("dropped-user-7f3a", "error", Min(1), Code("A"));
  d.Send("dropped-user-7f3a", "onboarding_started", Min(1));
  d.Send("kept", "error", Min(1), Code("A"));
  d.Send("kept", "onboarding_started", Min(2));
  ASSERT_TRUE(absl::StrContains(d.engine().Checkpoint(), "dropped-user-7f3a"));
  d.engine().DropUser("dropped-user-7f3a");
  const std::string checkpoint = d.engine().Checkpoint();
  EXPECT_FALSE(absl::StrContains(checkpoint, "dropped-user-7f3a"));
  EXPECT_TRUE(absl::StrContains(checkpoint, "kept"));

  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(checkpoint).ok());
  EXPECT_EQ(restored->stats().live_states, 2u);
  EXPECT_EQ(restored->stats().users, 1u);
  EXPECT_EQ(restored->stats().pending_deadlines, 1u);
  EXPECT_EQ(restored->last_seq(), 5);
  d.Reset(std::move(restored));
  EXPECT_THAT(d.Send("dropped-user-7f3a", "error", Min(2), Code("A")),
              IsEmpty());
  EXPECT_THAT(Users(d.Advance(Min(60))), ElementsAre("kept"));
}

TEST(DropUser, ManyUsersDroppedAndRecreated) {
  // Handles and pool blocks are reused over and over; the wheel keeps
  // stale entries of dropped users. Every kept user fires exactly once.
  Driver d(Build({Abandon(), Errors()}));
  std::vector<std::string> want;
  for (int round = 0; round < 20; ++round) {
    for (int u = 0; u < 50; ++u) {
      const std::string user =
          "r" + std::to_string(round) + "u" + std::to_string(u);
      const absl::Duration at = Min(round) + absl::Seconds(u);
      d.Send(user, "onboarding_started", at);
      d.Send(user, "error", at, Code("A"));
      if (u % 3 == 0) {
        const DropReport report = d.engine().DropUser(user);
        EXPECT_EQ(report.slots, 2u);
        EXPECT_EQ(report.deadlines, 1u);
      } else {
        want.push_back(user);
      }
    }
  }
  EXPECT_EQ(d.engine().stats().pending_deadlines, want.size());
  EXPECT_EQ(d.engine().stats().users, want.size());
  std::vector<std::string> got = Users(d.Advance(Min(200)));
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 0u);
}

}  // namespace
}  // namespace hark::engine::testing
