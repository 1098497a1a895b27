// Reload, checkpoint/restore, match ids, the rule test runner.

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/engine_test_util.h"

namespace hark::engine::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

absl::Duration Min(int m) { return absl::Minutes(m); }

rules::Rule Errors(int at_least = 3) {
  return CountRule("repeated_errors", Filter("error"), at_least, Min(10),
                   {"code"});
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
       Step(
           "down",
           Filter(
               "plan_changed",
               R"(props.direction == "downgrade" && props.plan == up.props.plan)",
               {"up"}))},
      absl::Hours(24 * 14));
}
Props Code(const std::string& c) { return {{"code", Str(c)}}; }

TEST(Reload, KeepsResetsDropsAndAdds) {
  Driver d(Build({Errors(), Abandon(), MatchRule("old", Filter("x"))}));
  d.Send("u1", "error", Min(0), Code("A"));
  d.Send("u1", "error", Min(1), Code("A"));
  d.Send("u1", "onboarding_started", Min(1));
  EXPECT_EQ(d.engine().stats().live_states, 2u);

  // repeated_errors unchanged (kept, even at a new index), abandonment's
  // pattern changed (reset), `old` removed, `new` added.
  rules::Rule changed = SequenceRule(
      "onboarding_abandonment", {Step("start", Filter("onboarding_started"))},
      Min(45), Filter("onboarding_completed"));
  ReloadReport report = d.engine().Reload(
      Build({MatchRule("new", Filter("y")), changed, Errors()}));
  EXPECT_THAT(report.kept, ElementsAre("repeated_errors"));
  EXPECT_THAT(report.reset, ElementsAre("onboarding_abandonment"));
  EXPECT_THAT(report.dropped, ElementsAre("old"));
  EXPECT_THAT(report.added, ElementsAre("new"));
  EXPECT_EQ(d.engine().stats().live_states, 1u);
  EXPECT_EQ(d.engine().stats().pending_deadlines, 0u);
  EXPECT_EQ(d.engine().rules().rules().size(), 3u);

  auto m = d.Send("u1", "error", Min(2), Code("A"));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].rule_id, "repeated_errors");
  EXPECT_THAT(d.Advance(Min(120)), IsEmpty());  // the abandonment was reset
}

TEST(Reload, ChangedVersionStartsFresh) {
  Driver d(Build({Errors(3)}));
  d.Send("u1", "error", Min(0), Code("A"));
  d.Send("u1", "error", Min(1), Code("A"));
  ReloadReport report = d.engine().Reload(Build({Errors(2)}));
  EXPECT_THAT(report.reset, ElementsAre("repeated_errors"));
  EXPECT_EQ(d.engine().stats().live_states, 0u);
  EXPECT_EQ(d.engine().stats().users, 0u);
  EXPECT_THAT(d.Send("u1", "error", Min(2), Code("A")), IsEmpty());
  EXPECT_THAT(d.Send("u1", "error", Min(3), Code("A")), SizeIs(1));
}

TEST(Checkpoint, RestoredEngineContinuesACount) {
  auto set = Build({Errors(), Abandon()});
  Driver d(set);
  d.Send("u1", "error", Min(0), Code("A"));
  d.Send("u1", "error", Min(1), Code("A"));
  const std::string checkpoint = d.engine().Checkpoint();

  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(checkpoint).ok());
  EXPECT_EQ(restored->last_seq(), 2);
  EXPECT_EQ(restored->stats().live_states, 1u);
  EXPECT_EQ(restored->stats().watermark, d.engine().stats().watermark);
  d.Reset(std::move(restored));
  auto m = d.Send("u1", "error", Min(2), Code("A"));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].events[0].seq, 1);
  EXPECT_EQ(m[0].events[2].seq, 3);
}

TEST(Checkpoint, RestoredDeadlineFiresOnce) {
  auto set = Build({Abandon()});
  Driver d(set);
  d.Send("u1", "onboarding_started", Min(0));
  const std::string checkpoint = d.engine().Checkpoint();

  // Down for two hours: the deadline passed meanwhile.
  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(checkpoint).ok());
  EXPECT_EQ(restored->stats().pending_deadlines, 1u);
  d.Reset(std::move(restored));
  auto m = d.Advance(Min(120));
  ASSERT_THAT(m, SizeIs(1));
  EXPECT_EQ(m[0].matched_at, kT0 + Min(30));
  EXPECT_TRUE(m[0].at_deadline);
  EXPECT_THAT(d.Advance(Min(240)), IsEmpty());
  EXPECT_EQ(d.engine().stats().live_states, 0u);
}

TEST(Checkpoint, ReplayAfterRestoreYieldsTheSameMatchIds) {
  auto set = Build({Errors(), Abandon()});
  Driver a(set);
  a.Send("u1", "error", Min(0), Code("A"));
  a.Send("u1", "onboarding_started", Min(0));
  const std::string checkpoint = a.engine().Checkpoint();
  auto first = a.Send("u1", "error", Min(1), Code("A"));
  first = a.Send("u1", "error", Min(2), Code("A"));
  auto first_deadline = a.Advance(Min(60));

  Driver b(set);
  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(checkpoint).ok());
  b.Reset(std::move(restored));
  b.set_seq(2);
  b.Send("u1", "error", Min(1), Code("A"));
  auto second = b.Send("u1", "error", Min(2), Code("A"));
  auto second_deadline = b.Advance(Min(60));
  ASSERT_THAT(first, SizeIs(1));
  ASSERT_THAT(second, SizeIs(1));
  EXPECT_EQ(first[0].match_id, second[0].match_id);
  ASSERT_THAT(first_deadline, SizeIs(1));
  ASSERT_THAT(second_deadline, SizeIs(1));
  EXPECT_EQ(first_deadline[0].match_id, second_deadline[0].match_id);
  EXPECT_NE(first[0].match_id, first_deadline[0].match_id);
}

TEST(Checkpoint, CapturedPropertiesSurvive) {
  auto set = Build({Downgrade()});
  Driver d(set);
  d.Send("u1", "plan_changed", Min(0),
         {{"direction", Str("upgrade")}, {"plan", Str("pro")}});
  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(d.engine().Checkpoint()).ok());
  d.Reset(std::move(restored));
  EXPECT_THAT(d.Send("u1", "plan_changed", Min(5),
                     {{"direction", Str("downgrade")}, {"plan", Str("team")}}),
              IsEmpty());
  EXPECT_THAT(d.Send("u1", "plan_changed", Min(6),
                     {{"direction", Str("downgrade")}, {"plan", Str("pro")}}),
              SizeIs(1));
}

TEST(Checkpoint, RestoreIntoAChangedRuleSetKeepsOnlyUnchangedRules) {
  Driver d(Build({Errors(), Abandon()}));
  d.Send("u1", "error", Min(0), Code("A"));
  d.Send("u1", "error", Min(1), Code("A"));
  d.Send("u2", "onboarding_started", Min(1));
  const std::string checkpoint = d.engine().Checkpoint();

  // Abandonment changed; a new rule first in the set shifts the indexes.
  auto set = Build({MatchRule("m", Filter("z")), Errors(),
                    SequenceRule("onboarding_abandonment",
                                 {Step("start", Filter("onboarding_started"))},
                                 Min(20), Filter("onboarding_completed"))});
  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(checkpoint).ok());
  EXPECT_EQ(restored->stats().live_states, 1u);
  EXPECT_EQ(restored->stats().users, 1u);
  EXPECT_EQ(restored->stats().pending_deadlines, 0u);
  d.Reset(std::move(restored));
  EXPECT_THAT(d.Send("u1", "error", Min(2), Code("A")), SizeIs(1));
  EXPECT_THAT(d.Advance(Min(120)), IsEmpty());
}

TEST(Checkpoint, CorruptInputIsRefusedAndLeavesTheStateAlone) {
  auto set = Build({Errors()});
  Driver d(set);
  d.Send("u1", "error", Min(0), Code("A"));
  d.Send("u1", "error", Min(1), Code("A"));
  const std::string good = d.engine().Checkpoint();
  EXPECT_EQ(d.engine().Restore("garbage").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(d.engine().Restore(good.substr(0, good.size() - 3)).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(d.engine().Restore(good + "x").code(), absl::StatusCode::kDataLoss);
  // Every truncation is refused, none crashes.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(d.engine().Restore(good.substr(0, n)).ok()) << n;
  }
  EXPECT_EQ(d.engine().stats().live_states, 1u);
  EXPECT_THAT(d.Send("u1", "error", Min(2), Code("A")), SizeIs(1));
}

TEST(Checkpoint, EmptyEngineRoundTrips) {
  auto set = Build({Errors()});
  Engine a(set, EngineOptions());
  Engine b(set, EngineOptions());
  ASSERT_TRUE(b.Restore(a.Checkpoint()).ok());
  EXPECT_EQ(b.stats().live_states, 0u);
  EXPECT_EQ(b.stats().watermark, absl::InfinitePast());
}

// Incremental checkpoints: a delta holds the users changed since the
// previous checkpoint and nothing else.
TEST(CheckpointDelta, HoldsOnlyTheUsersChangedAndRestoresOnTheFullOne) {
  auto set = Build({Errors(), Abandon()});
  Driver d(set);
  for (int u = 0; u < 50; ++u) {
    d.Send(absl::StrCat("quiet-", u), "error", Min(0), Code("A"));
  }
  d.Send("busy", "error", Min(0), Code("A"));
  const std::string full = d.engine().Checkpoint();
  EXPECT_EQ(d.engine().changed_users(), 0u);

  d.Send("busy", "error", Min(1), Code("A"));
  d.Send("fresh", "onboarding_started", Min(1));
  EXPECT_EQ(d.engine().changed_users(), 2u);
  absl::StatusOr<std::string> delta = d.engine().CheckpointDelta();
  ASSERT_TRUE(delta.ok()) << delta.status();
  EXPECT_TRUE(absl::StrContains(*delta, "busy"));
  EXPECT_TRUE(absl::StrContains(*delta, "fresh"));
  EXPECT_FALSE(absl::StrContains(*delta, "quiet-"));
  EXPECT_LT(delta->size() * 10, full.size());
  EXPECT_EQ(d.engine().changed_users(), 0u);

  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(full, {*delta}).ok());
  EXPECT_EQ(restored->last_seq(), 53);
  EXPECT_EQ(restored->stats().users, 52u);
  EXPECT_EQ(restored->stats().live_states, 52u);
  EXPECT_EQ(restored->stats().pending_deadlines, 1u);
  EXPECT_EQ(restored->stats().watermark, d.engine().stats().watermark);
  EXPECT_TRUE(restored->CanCheckpointDelta());
  d.Reset(std::move(restored));
  // busy had two errors (the delta), quiet-7 one (the full checkpoint).
  EXPECT_THAT(d.Send("busy", "error", Min(2), Code("A")), SizeIs(1));
  EXPECT_THAT(d.Send("quiet-7", "error", Min(2), Code("A")), IsEmpty());
  EXPECT_THAT(d.Send("quiet-7", "error", Min(3), Code("A")), SizeIs(1));
  EXPECT_THAT(Users(d.Advance(Min(60))), ElementsAre("fresh"));
}

// Writes a checkpoint in pieces of `piece_bytes`; returns them.
absl::StatusOr<std::vector<std::string>> Pieces(Engine& engine, bool delta,
                                                size_t piece_bytes) {
  std::vector<std::string> pieces;
  auto put = [&](absl::string_view piece) {
    pieces.emplace_back(piece);
    return absl::OkStatus();
  };
  absl::Status s = delta ? engine.WriteCheckpointDelta(piece_bytes, put)
                         : engine.WriteCheckpoint(piece_bytes, put);
  if (!s.ok()) return s;
  return pieces;
}

TEST(Checkpoint, WrittenInPiecesIsTheSameCheckpoint) {
  auto set = Build({Errors(), Abandon()});
  Driver a(set), b(set);
  for (Driver* d : {&a, &b}) {
    for (int u = 0; u < 300; ++u) {
      d->Send(absl::StrCat("user-", u), "error", Min(0), Code("A"));
      if (u % 3 == 0)
        d->Send(absl::StrCat("user-", u), "onboarding_started", Min(1));
    }
  }
  const std::string whole = a.engine().Checkpoint();
  absl::StatusOr<std::vector<std::string>> pieces =
      Pieces(b.engine(), /*delta=*/false, 1000);
  ASSERT_TRUE(pieces.ok()) << pieces.status();
  EXPECT_GT(pieces->size(), 5u);
  for (size_t i = 0; i + 1 < pieces->size(); ++i) {
    // A piece ends with the user that takes it to 1,000 bytes or more.
    EXPECT_GE((*pieces)[i].size(), 1000u);
    EXPECT_LT((*pieces)[i].size(), 1200u);
  }
  EXPECT_EQ(absl::StrJoin(*pieces, ""), whole);
  EXPECT_TRUE(b.engine().CanCheckpointDelta());
  EXPECT_EQ(b.engine().changed_users(), 0u);

  // The same for a delta.
  for (Driver* d : {&a, &b}) {
    d->Send("user-7", "error", Min(2), Code("A"));
    d->Send("newcomer", "onboarding_started", Min(2));
  }
  absl::StatusOr<std::string> delta = a.engine().CheckpointDelta();
  ASSERT_TRUE(delta.ok()) << delta.status();
  pieces = Pieces(b.engine(), /*delta=*/true, 1);
  ASSERT_TRUE(pieces.ok()) << pieces.status();
  EXPECT_EQ(pieces->size(), 2u);  // one per user
  EXPECT_EQ(absl::StrJoin(*pieces, ""), *delta);
}

TEST(Checkpoint, APieceNotTakenLeavesTheChangesTracked) {
  auto set = Build({Errors()});
  Driver d(set);
  for (int u = 0; u < 100; ++u) {
    d.Send(absl::StrCat("user-", u), "error", Min(0), Code("A"));
  }
  int calls = 0;
  auto refuse_second = [&](absl::string_view) {
    return ++calls == 2 ? absl::UnavailableError("disk full")
                        : absl::OkStatus();
  };
  absl::Status s = d.engine().WriteCheckpoint(100, refuse_second);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(calls, 2);  // stopped at the refused piece
  // No full checkpoint was taken: no delta may follow, and every user is
  // still a change.
  EXPECT_FALSE(d.engine().CanCheckpointDelta());
  EXPECT_EQ(d.engine().changed_users(), 100u);

  ASSERT_TRUE(Pieces(d.engine(), /*delta=*/false, 100).ok());
  d.Send("user-1", "error", Min(1), Code("A"));
  d.Send("user-2", "error", Min(1), Code("A"));
  calls = 0;
  s = d.engine().WriteCheckpointDelta(1, refuse_second);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(d.engine().changed_users(), 2u);
  absl::StatusOr<std::string> delta = d.engine().CheckpointDelta();
  ASSERT_TRUE(delta.ok()) << delta.status();
  EXPECT_TRUE(absl::StrContains(*delta, "user-1"));
  EXPECT_TRUE(absl::StrContains(*delta, "user-2"));
}

TEST(CheckpointDelta, UsersGoneStayGoneAndUsersBackComeBack) {
  auto set = Build({Errors(), Abandon()});
  Driver d(set);
  d.Send("dropped", "error", Min(0), Code("A"));
  d.Send("completed", "onboarding_started", Min(0));
  d.Send("back", "error", Min(0), Code("A"));
  d.Send("kept", "error", Min(0), Code("A"));
  const std::string full = d.engine().Checkpoint();

  d.engine().DropUser("dropped");
  d.Send("completed", "onboarding_completed", Min(1));  // cancels: no state
  d.engine().DropUser("back");
  d.Send("back", "onboarding_started", Min(2));
  // A user that came and went between two checkpoints leaves nothing.
  d.Send("passing-7c1e", "onboarding_started", Min(2));
  d.engine().DropUser("passing-7c1e");
  absl::StatusOr<std::string> delta = d.engine().CheckpointDelta();
  ASSERT_TRUE(delta.ok()) << delta.status();
  EXPECT_FALSE(absl::StrContains(*delta, "passing-7c1e"));
  EXPECT_FALSE(absl::StrContains(*delta, "kept"));

  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(full, {*delta}).ok());
  EXPECT_EQ(restored->stats().users, 2u);  // kept, back
  EXPECT_EQ(restored->DropUser("dropped").slots, 0u);
  EXPECT_EQ(restored->DropUser("completed").slots, 0u);
  EXPECT_EQ(restored->DropUser("passing-7c1e").slots, 0u);
  const DropReport back = restored->DropUser("back");
  EXPECT_EQ(back.slots, 1u);  // the sequence, not the count dropped before
  EXPECT_EQ(back.deadlines, 1u);
  EXPECT_EQ(restored->DropUser("kept").slots, 1u);
}

TEST(CheckpointDelta, ChainsApplyInOrder) {
  auto set = Build({Errors(5)});
  Driver d(set);
  d.Send("u1", "error", Min(0), Code("A"));
  const std::string full = d.engine().Checkpoint();
  std::vector<std::string> deltas;
  for (int i = 1; i <= 3; ++i) {
    d.Send("u1", "error", Min(i), Code("A"));
    absl::StatusOr<std::string> delta = d.engine().CheckpointDelta();
    ASSERT_TRUE(delta.ok()) << delta.status();
    deltas.push_back(*delta);
  }
  auto restored = std::make_unique<Engine>(set, EngineOptions());
  ASSERT_TRUE(restored->Restore(full, deltas).ok());
  EXPECT_EQ(restored->last_seq(), 4);
  d.Reset(std::move(restored));
  // Four errors were counted: the fifth completes the count.
  EXPECT_THAT(d.Send("u1", "error", Min(4), Code("A")), SizeIs(1));

  // Out of order, the log position goes back: refused.
  Engine other(set, EngineOptions());
  EXPECT_EQ(other.Restore(full, {deltas[1], deltas[0]}).code(),
            absl::StatusCode::kDataLoss);
}

TEST(CheckpointDelta, NotAfterAReloadUntilAFullCheckpoint) {
  auto set = Build({Errors(), Abandon()});
  Engine fresh(set, EngineOptions());
  EXPECT_FALSE(fresh.CanCheckpointDelta());
  EXPECT_EQ(fresh.CheckpointDelta().status().code(),
            absl::StatusCode::kFailedPrecondition);

  Driver d(set);
  d.Send("u1", "error", Min(0), Code("A"));
  const std::string full = d.engine().Checkpoint();
  EXPECT_TRUE(d.engine().CanCheckpointDelta());
  // A reload rewrites every record (rule indices), which a delta of the
  // changed users would not carry.
  d.engine().Reload(Build({Abandon(), Errors()}));
  EXPECT_FALSE(d.engine().CanCheckpointDelta());
  EXPECT_EQ(d.engine().CheckpointDelta().status().code(),
            absl::StatusCode::kFailedPrecondition);
  d.engine().Checkpoint();
  EXPECT_TRUE(d.engine().CanCheckpointDelta());

  // Restored with another rule set: the checkpoints still hold the records
  // the restore dropped, so deltas may not follow them either.
  auto other = Build({Errors(4), Abandon()});
  Engine restored(other, EngineOptions());
  ASSERT_TRUE(restored.Restore(full).ok());
  EXPECT_FALSE(restored.CanCheckpointDelta());
  Engine same(set, EngineOptions());
  ASSERT_TRUE(same.Restore(full).ok());
  EXPECT_TRUE(same.CanCheckpointDelta());
}

TEST(CheckpointDelta, CorruptDeltasAreRefusedAndLeaveTheStateAlone) {
  auto set = Build({Errors()});
  Driver d(set);
  d.Send("u1", "error", Min(0), Code("A"));
  const std::string full = d.engine().Checkpoint();
  d.Send("u1", "error", Min(1), Code("A"));
  absl::StatusOr<std::string> made = d.engine().CheckpointDelta();
  ASSERT_TRUE(made.ok()) << made.status();
  const std::string delta = *made;

  Engine target(set, EngineOptions());
  ASSERT_TRUE(target.Restore(full).ok());
  for (size_t n = 0; n < delta.size(); ++n) {
    EXPECT_EQ(target.Restore(full, {delta.substr(0, n)}).code(),
              absl::StatusCode::kDataLoss)
        << n;
  }
  EXPECT_EQ(target.Restore(full, {delta + "x"}).code(),
            absl::StatusCode::kDataLoss);
  // A full checkpoint is not a delta, nor the other way round.
  EXPECT_EQ(target.Restore(full, {full}).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(target.Restore(delta).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(target.last_seq(), 1);
  EXPECT_EQ(target.stats().live_states, 1u);
}

TEST(MatchId, DeterministicAndDistinct) {
  auto run = [](std::shared_ptr<const rules::RuleSet> set) {
    Driver d(set);
    d.Send("u1", "error", Min(0), Code("A"));
    d.Send("u1", "error", Min(1), Code("A"));
    d.Send("u1", "error", Min(2), Code("A"));
    d.Send("u2", "error", Min(3), Code("A"));
    d.Send("u2", "error", Min(4), Code("A"));
    d.Send("u2", "error", Min(5), Code("A"));
    d.Send("u1", "onboarding_started", Min(6));
    d.Advance(Min(60));
    return d.all();
  };
  auto set = Build({Errors(), Abandon()});
  auto a = run(set);
  auto b = run(Build({Errors(), Abandon()}));
  ASSERT_THAT(a, SizeIs(3));
  ASSERT_THAT(b, SizeIs(3));
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].match_id, b[i].match_id);
    EXPECT_THAT(a[i].match_id, ::testing::MatchesRegex("[0-9a-f]{32}"));
  }
  EXPECT_NE(a[0].match_id, a[1].match_id);
  EXPECT_NE(a[1].match_id, a[2].match_id);
  EXPECT_FALSE(a[0].rule_version.empty());
}

// Ids begin with the highest seq of the match's events, so they sort as the
// log grows; matches of events at or before legacy_match_ids_through keep
// the first form (the hash alone, the id's last 16 digits).
TEST(MatchId, GrowWithTheLogPastTheLegacyOnes) {
  auto run = [](int64_t legacy_through) {
    EngineOptions options;
    options.legacy_match_ids_through = legacy_through;
    Driver d(Build({Errors(), Abandon()}), options);
    d.Send("u1", "error", Min(0), Code("A"));
    d.Send("u1", "error", Min(1), Code("A"));
    d.Send("u1", "error", Min(2), Code("A"));    // seq 3: a match
    d.Send("u1", "onboarding_started", Min(3));  // seq 4
    d.Send("u2", "error", Min(4), Code("A"));
    d.Send("u2", "error", Min(5), Code("A"));
    d.Send("u2", "error", Min(6), Code("A"));  // seq 7: a match
    d.Advance(Min(60));                        // the abandonment of seq 4 fires
    return d.all();
  };
  const std::vector<MatchOut> ordered = run(0);
  ASSERT_THAT(ordered, SizeIs(3));
  std::vector<std::string> ids;
  for (const MatchOut& m : ordered) ids.push_back(m.match_id);
  EXPECT_EQ(ids[0].substr(0, 16), "0000000000000003");
  EXPECT_EQ(ids[1].substr(0, 16), "0000000000000007");
  EXPECT_EQ(ids[2].substr(0, 16), "0000000000000004");
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_THAT(sorted, ::testing::ElementsAre(ids[0], ids[2], ids[1]));

  // Through seq 4: the first match and the abandonment keep the old form.
  const std::vector<MatchOut> mixed = run(4);
  ASSERT_THAT(mixed, SizeIs(3));
  EXPECT_EQ(mixed[0].match_id, ids[0].substr(16));
  EXPECT_EQ(mixed[1].match_id, ids[1]);
  EXPECT_EQ(mixed[2].match_id, ids[2].substr(16));
}

rules::RuleTest::Event TestEvent(absl::Duration at, std::string user,
                                 std::string event) {
  rules::RuleTest::Event e;
  e.at = at;
  e.user = std::move(user);
  e.event = std::move(event);
  return e;
}

rules::RuleTest::Expect Expect(std::string rule, std::string user,
                               absl::Duration at) {
  return rules::RuleTest::Expect{std::move(rule), std::move(user), at};
}

TEST(RunRuleTests, ReportsPassAndFailWithExpectedAndActual) {
  rules::RuleTest pass;
  pass.name = "abandons_after_30m";
  pass.pos.path = "onboarding.yaml";
  pass.events = {TestEvent(Min(0), "u1", "onboarding_started"),
                 TestEvent(Min(31), "u2", "page_view")};
  pass.expect = {Expect("onboarding_abandonment", "u1", Min(30))};

  rules::RuleTest fail;
  fail.name = "wrong_expectation";
  fail.pos.path = "onboarding.yaml";
  fail.events = {TestEvent(Min(5), "u1", "onboarding_started"),
                 TestEvent(Min(0), "u2", "onboarding_started"),
                 TestEvent(Min(10), "u2", "onboarding_completed")};
  fail.expect = {Expect("onboarding_abandonment", "u2", Min(30))};

  // Traits given at the same `at` as an event apply before it.
  rules::RuleTest traits;
  traits.name = "traits";
  rules::RuleTest::Trait t;
  t.at = Min(1);
  t.user = "u1";
  t.traits["plan"] = Str("pro");
  traits.traits.push_back(t);
  traits.events = {TestEvent(Min(1), "u1", "subscription_cancelled")};
  traits.expect = {Expect("cancellation", "u1", Min(1))};

  auto set = Build(
      {Abandon(), MatchRule("cancellation", Filter("subscription_cancelled",
                                                   R"(user.plan != "free")"))},
      {pass, fail, traits});
  std::vector<TestOutcome> outcomes = RunRuleTests(*set, EngineOptions());
  ASSERT_THAT(outcomes, SizeIs(3));
  EXPECT_EQ(outcomes[0].name, "abandons_after_30m");
  EXPECT_EQ(outcomes[0].path, "onboarding.yaml");
  EXPECT_TRUE(outcomes[0].passed);
  EXPECT_THAT(outcomes[0].expected, IsEmpty());
  EXPECT_FALSE(outcomes[1].passed);
  EXPECT_THAT(outcomes[1].expected,
              ElementsAre("onboarding_abandonment u2 at=30m"));
  EXPECT_THAT(outcomes[1].actual,
              ElementsAre("onboarding_abandonment u1 at=35m"));
  EXPECT_TRUE(outcomes[2].passed)
      << ::testing::PrintToString(outcomes[2].actual);
}

TEST(RunRuleTests, CanonicalDurationsAndRunFor) {
  rules::RuleTest test;
  test.name = "t";
  test.events = {TestEvent(Min(0), "u1", "onboarding_started")};
  // 30m written as 1800s still compares equal.
  test.expect = {Expect("onboarding_abandonment", "u1", absl::Seconds(1800))};
  rules::RuleTest short_run = test;
  short_run.run_for = Min(10);  // the deadline cannot fire in time

  auto set = Build({Abandon()}, {test, short_run});
  std::vector<TestOutcome> outcomes = RunRuleTests(*set, EngineOptions());
  ASSERT_THAT(outcomes, SizeIs(2));
  EXPECT_TRUE(outcomes[0].passed);
  EXPECT_FALSE(outcomes[1].passed);
  EXPECT_THAT(outcomes[1].actual, IsEmpty());
}

}  // namespace
}  // namespace hark::engine::testing
