// EngineRunner over an in-memory SQLite store and a fake clock, with the
// engine thread running: DeleteUser's order (drop, checkpoint, the store's
// deletion, done), what can fire afterwards, and rows without a user.

#include "server/runtime/engine_runner.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hark/clock.h"
#include "hark/proto_time.h"
#include "server/rules/rule_set.h"

namespace hark::runtime {
namespace {

using ::testing::ElementsAre;

constexpr absl::Duration kTimeout = absl::Seconds(30);

constexpr char kRules[] = R"(
rules:
  - id: errors
    pattern:
      count: { event: error, at_least: 3, within: "10m" }
  - id: abandon
    pattern:
      sequence:
        steps: [ { as: start, event: onboarding_started } ]
        absent: { event: onboarding_completed }
        within: "30m"
  - id: cancel
    pattern: { match: { event: cancelled, where: 'user.plan == "pro"' } }
)";

std::shared_ptr<const rules::RuleSet> LoadRules() {
  std::vector<rules::LoadError> errors;
  const rules::SourceFile file{"t.yaml", kRules};
  auto set = rules::LoadRuleSet({&file, 1}, &errors);
  for (const auto& e : errors) ADD_FAILURE() << e.ToString();
  return set.ok() ? *set : nullptr;
}

// Forwards to a real store; records the checkpoints written and can fail
// them or stop persisting them (a crash right after a given checkpoint).
class RecordingStore final : public store::Store {
 public:
  explicit RecordingStore(std::unique_ptr<store::Store> inner)
      : inner_(std::move(inner)) {}

  absl::StatusOr<store::WriteResult> Write(
      const store::WriteBatch& batch) override {
    return inner_->Write(batch);
  }
  absl::Status ScanRecentEventIds(
      size_t max_events,
      absl::FunctionRef<void(absl::string_view)> fn) override {
    return inner_->ScanRecentEventIds(max_events, fn);
  }
  absl::Status ScanUsers(
      absl::FunctionRef<void(absl::string_view)> fn) override {
    return inner_->ScanUsers(fn);
  }
  absl::Status ScanEvents(
      int64_t after_seq,
      absl::FunctionRef<void(int64_t, const store::EventRecord&)> fn) override {
    return inner_->ScanEvents(after_seq, fn);
  }
  absl::StatusOr<std::vector<store::TraitRecord>> GetTraits(
      absl::string_view user_id) override {
    return inner_->GetTraits(user_id);
  }
  absl::StatusOr<store::StoreStats> GetStats() override {
    return inner_->GetStats();
  }
  absl::StatusOr<std::vector<store::EventRecord>> GetEventsBySeq(
      absl::Span<const int64_t> seqs) override {
    return inner_->GetEventsBySeq(seqs);
  }
  absl::Status AppendMatches(
      absl::Span<const store::MatchRecord> matches) override {
    return inner_->AppendMatches(matches);
  }
  absl::Status ScanTraits(
      absl::FunctionRef<void(const store::TraitRecord&)> fn) override {
    return inner_->ScanTraits(fn);
  }
  absl::StatusOr<std::optional<store::Checkpoint>> LoadCheckpoint(
      int shard) override {
    {
      absl::MutexLock lock(&mu_);
      if (!fail_loads_.ok()) return fail_loads_;
    }
    return inner_->LoadCheckpoint(shard);
  }
  absl::StatusOr<uint64_t> CheckpointStoredBytes(int shard) override {
    return inner_->CheckpointStoredBytes(shard);
  }
  absl::Status WriteCheckpoint(int shard, store::CheckpointKind kind,
                               int64_t last_seq, absl::Time now,
                               CheckpointPieces write) override {
    bool frozen;
    {
      absl::MutexLock lock(&mu_);
      if (!fail_.ok()) return fail_;
      frozen = frozen_;
    }
    // The pieces are kept whole, as the checkpoint they make up.
    std::string state;
    auto keep = [&](absl::FunctionRef<absl::Status(absl::string_view)> put) {
      return write([&](absl::string_view piece) {
        state.append(piece.data(), piece.size());
        return put(piece);
      });
    };
    absl::Status saved =
        frozen ? keep([](absl::string_view) { return absl::OkStatus(); })
               : inner_->WriteCheckpoint(shard, kind, last_seq, now, keep);
    if (saved.ok()) {
      absl::MutexLock lock(&mu_);
      saved_.push_back(std::move(state));
      kinds_.push_back(kind);
    }
    return saved;
  }
  absl::StatusOr<int64_t> LegacyMatchIdsThrough() override {
    {
      absl::MutexLock lock(&mu_);
      if (legacy_through_.has_value()) return *legacy_through_;
    }
    return inner_->LegacyMatchIdsThrough();
  }
  const std::string& path() const override { return inner_->path(); }

  // What LegacyMatchIdsThrough() says from now on (as an upgraded store).
  void SetLegacyMatchIdsThrough(int64_t seq) {
    absl::MutexLock lock(&mu_);
    legacy_through_ = seq;
  }
  // Checkpoints written so far (their states), failed ones not included.
  std::vector<std::string> saved() const {
    absl::MutexLock lock(&mu_);
    return saved_;
  }
  // Their kinds, in the same order.
  std::vector<store::CheckpointKind> kinds() const {
    absl::MutexLock lock(&mu_);
    return kinds_;
  }
  void FailCheckpoints(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(status);
  }
  void FailLoads(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_loads_ = std::move(status);
  }
  // Later checkpoints are accepted but not stored.
  void Freeze() {
    absl::MutexLock lock(&mu_);
    frozen_ = true;
  }

 private:
  std::unique_ptr<store::Store> inner_;
  mutable absl::Mutex mu_;
  std::vector<std::string> saved_ ABSL_GUARDED_BY(mu_);
  std::vector<store::CheckpointKind> kinds_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_loads_ ABSL_GUARDED_BY(mu_);
  bool frozen_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<int64_t> legacy_through_ ABSL_GUARDED_BY(mu_);
};

class EngineRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions options;
    options.path = ":memory:";
    auto opened = store::OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::make_unique<RecordingStore>(std::move(*opened));
    rules_ = LoadRules();
    ASSERT_NE(rules_, nullptr);
    t0_ = clock_.Now();
  }

  void TearDown() override {
    if (runner_ != nullptr) runner_->Shutdown();
  }

  void Start(RunnerOptions options = {}) {
    options.tick = absl::Milliseconds(2);
    options.on_matches = [this](std::vector<store::MatchRecord> records) {
      absl::MutexLock lock(&mu_);
      for (const store::MatchRecord& m : records) {
        matches_.push_back(absl::StrCat(m.rule_id, " ", m.user_id));
        match_ids_.push_back(m.match_id);
      }
    };
    auto runner =
        EngineRunner::Start(store_.get(), &clock_,
                            RulesInfo{rules_, clock_.Now(), "test"}, options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = std::move(*runner);
  }

  store::EventRecord Event(const std::string& user, const std::string& name,
                           absl::Duration at) {
    hark::v1::Event event;
    event.set_event_id(absl::StrCat("e", ++events_));
    event.set_user_id(user);
    event.set_name(name);
    SetTimestamp(t0_ + at, event.mutable_timestamp());
    store::EventRecord record;
    record.event_id = event.event_id();
    record.user_id = user;
    record.name = name;
    record.event_time = t0_ + at;
    record.received_at = clock_.Now();
    record.payload = event.SerializeAsString();
    return record;
  }

  // Commits `batch` to the store and hands it to the runner, as the ingest
  // writer does.
  void Commit(store::WriteBatch batch) {
    batch.now = clock_.Now();
    absl::StatusOr<store::WriteResult> result = store_->Write(batch);
    ASSERT_TRUE(result.ok()) << result.status();
    runner_->OnCommitted(std::move(batch), *result);
  }
  void Send(const std::string& user, const std::string& name,
            absl::Duration at) {
    store::WriteBatch batch;
    batch.events.push_back(Event(user, name, at));
    Commit(std::move(batch));
  }
  void SetPlan(const std::string& user, const std::string& plan) {
    store::WriteBatch batch;
    hark::v1::Value value;
    value.set_string_value(plan);
    batch.traits.push_back(store::TraitRecord{
        user, "plan", value.SerializeAsString(), clock_.Now()});
    Commit(std::move(batch));
  }

  // Returns once everything handed over is processed and the clock's
  // deadlines have fired: the second wait starts a round after the first
  // one ended, which advances the watermark to the clock.
  void Settle() {
    for (int i = 0; i < 2; ++i) {
      absl::Notification done;
      runner_->AfterCaughtUp([&done] { done.Notify(); });
      ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTimeout));
    }
  }

  absl::StatusOr<engine::DropReport> Delete(
      const std::string& user,
      absl::AnyInvocable<absl::Status(const engine::DropReport&)>
          store_delete) {
    absl::Notification done;
    absl::StatusOr<engine::DropReport> result =
        absl::UnknownError("done never ran");
    runner_->DeleteUser(user, std::move(store_delete),
                        [&](absl::StatusOr<engine::DropReport> r) {
                          result = std::move(r);
                          done.Notify();
                        });
    if (!done.WaitForNotificationWithTimeout(kTimeout)) {
      return absl::DeadlineExceededError("DeleteUser never finished");
    }
    return result;
  }

  // Waits (bounded) until the runner's stats satisfy `done`.
  template <typename Done>
  RunnerStats WaitForStats(Done done) {
    const absl::Time deadline = absl::Now() + kTimeout;
    RunnerStats stats = runner_->stats();
    while (!done(stats) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
      stats = runner_->stats();
    }
    EXPECT_TRUE(done(stats)) << "runner stats never got there";
    return stats;
  }

  // Matches handed on since the last call, as "rule user".
  std::vector<std::string> TakeMatches() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    out.swap(matches_);
    return out;
  }

  // The engine state of the checkpoint in force in the store (the full one
  // and its deltas), restored with the test's rules.
  std::unique_ptr<engine::Engine> Restored() {
    auto engine =
        std::make_unique<engine::Engine>(rules_, engine::EngineOptions());
    absl::StatusOr<std::optional<store::Checkpoint>> loaded =
        store_->LoadCheckpoint(0);
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    if (!loaded.ok() || !loaded->has_value()) return engine;
    EXPECT_TRUE(engine->Restore((*loaded)->state, (*loaded)->deltas).ok());
    return engine;
  }

  // Two users with a count at 2 of 3, an armed absence deadline and the
  // "pro" plan.
  void TwoUsersHalfWay() {
    for (const char* user : {"alice", "bob"}) SetPlan(user, "pro");
    for (const char* user : {"alice", "bob"}) {
      Send(user, "error", absl::Minutes(1));
    }
    for (const char* user : {"alice", "bob"}) {
      Send(user, "error", absl::Minutes(2));
    }
    for (const char* user : {"alice", "bob"}) {
      Send(user, "onboarding_started", absl::Minutes(3));
    }
  }

  FakeClock clock_;
  absl::Time t0_;
  std::unique_ptr<RecordingStore> store_;
  std::shared_ptr<const rules::RuleSet> rules_;
  std::unique_ptr<EngineRunner> runner_;
  int events_ = 0;
  absl::Mutex mu_;
  std::vector<std::string> matches_ ABSL_GUARDED_BY(mu_);
  // The ids of all matches handed on.
  std::vector<std::string> match_ids_ ABSL_GUARDED_BY(mu_);
};

TEST_F(EngineRunnerTest, DeleteUserDropsCheckpointsThenCallsTheStore) {
  Start();
  TwoUsersHalfWay();
  Settle();
  EXPECT_EQ(runner_->stats().engine.live_states, 4u);
  const size_t checkpoints_before = store_->saved().size();

  int calls = 0;
  absl::StatusOr<engine::DropReport> report =
      Delete("alice", [&](const engine::DropReport& dropped) {
        ++calls;
        EXPECT_EQ(dropped.slots, 2u);
        EXPECT_EQ(dropped.deadlines, 1u);
        // The checkpoint without alice is written before her rows go.
        const std::vector<std::string> saved = store_->saved();
        EXPECT_EQ(saved.size(), checkpoints_before + 1);
        if (saved.empty()) return absl::InternalError("no checkpoint");
        auto engine = Restored();
        EXPECT_EQ(engine->stats().users, 1u);
        EXPECT_EQ(engine->stats().live_states, 2u);
        EXPECT_EQ(engine->last_seq(), 6);
        EXPECT_EQ(engine->DropUser("alice").slots, 0u);
        EXPECT_EQ(engine->DropUser("bob").slots, 2u);
        return absl::OkStatus();
      });
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(report->slots, 2u);
  EXPECT_EQ(report->deadlines, 1u);
  const RunnerStats stats = runner_->stats();
  EXPECT_EQ(stats.engine.users, 1u);
  EXPECT_EQ(stats.engine.live_states, 2u);
  EXPECT_EQ(stats.engine.pending_deadlines, 1u);

  // The third error completes bob's count only; alice's traits are gone
  // from the cache too.
  for (const char* user : {"alice", "bob"}) {
    Send(user, "error", absl::Minutes(4));
  }
  for (const char* user : {"alice", "bob"}) {
    Send(user, "cancelled", absl::Minutes(5));
  }
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("errors bob", "cancel bob"));

  // Past the deadlines (30m + 1m of lateness): bob's fires, alice's not.
  clock_.Advance(absl::Minutes(40));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("abandon bob"));
  EXPECT_EQ(runner_->stats().engine.pending_deadlines, 0u);
  EXPECT_EQ(runner_->stats().engine.live_states, 0u);
}

TEST_F(EngineRunnerTest, CrashAfterTheCheckpointDoesNotBringTheUserBack) {
  Start();
  TwoUsersHalfWay();
  Settle();
  // A crash right after the checkpoint of DeleteUser: no later checkpoint
  // is stored, and the store's deletion never happened (the rows stay).
  absl::StatusOr<engine::DropReport> report =
      Delete("alice", [&](const engine::DropReport&) {
        store_->Freeze();
        return absl::OkStatus();
      });
  ASSERT_TRUE(report.ok()) << report.status();
  runner_->Shutdown();
  runner_.reset();
  TakeMatches();

  Start();
  EXPECT_EQ(runner_->stats().engine.users, 1u);
  EXPECT_EQ(runner_->stats().engine.pending_deadlines, 1u);
  Send("alice", "error", absl::Minutes(4));
  Send("bob", "error", absl::Minutes(4));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("errors bob"));
  clock_.Advance(absl::Minutes(40));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("abandon bob"));
}

// Once the state is large next to what changes, checkpoints are deltas of
// the users changed; a restart restores the full one and its deltas.
TEST_F(EngineRunnerTest, CheckpointsAreDeltasOfTheUsersChanged) {
  using store::CheckpointKind;
  Start();
  // At start, on an empty store: a full one.
  EXPECT_THAT(store_->kinds(), ElementsAre(CheckpointKind::kFull));
  for (int u = 0; u < 20; ++u) {
    Send(absl::StrCat("user-", u), "error", absl::Minutes(1));
  }
  // Every user changed since: a full one again.
  Settle();
  clock_.Advance(absl::Seconds(11));
  Settle();
  Send("alice", "error", absl::Minutes(1));
  Settle();
  clock_.Advance(absl::Seconds(11));
  Settle();
  Send("alice", "error", absl::Minutes(2));
  Settle();
  clock_.Advance(absl::Seconds(11));
  Settle();
  EXPECT_THAT(store_->kinds(),
              ElementsAre(CheckpointKind::kFull, CheckpointKind::kFull,
                          CheckpointKind::kDelta, CheckpointKind::kDelta));
  const std::vector<std::string> saved = store_->saved();
  EXPECT_FALSE(absl::StrContains(saved.back(), "user-"));
  EXPECT_EQ(runner_->stats().checkpoints, 4u);
  EXPECT_EQ(runner_->stats().checkpoint_deltas, 2u);
  EXPECT_EQ(runner_->stats().checkpoint_bytes,
            saved[1].size() + saved[2].size() + saved[3].size());
  // And as the store keeps it.
  const absl::StatusOr<uint64_t> stored = store_->CheckpointStoredBytes(0);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_GT(*stored, 0u);
  EXPECT_EQ(runner_->stats().checkpoint_stored_bytes, *stored);

  // A failed save loses the changes it held: the next one is full.
  store_->FailCheckpoints(absl::UnavailableError("disk full"));
  Send("bob", "error", absl::Minutes(2));
  Settle();
  clock_.Advance(absl::Seconds(11));
  Settle();
  store_->FailCheckpoints(absl::OkStatus());
  clock_.Advance(absl::Seconds(11));
  Settle();
  EXPECT_EQ(store_->kinds().back(), CheckpointKind::kFull);
  Send("bob", "error", absl::Minutes(3));
  Settle();
  runner_->Shutdown();
  runner_.reset();
  EXPECT_EQ(store_->kinds().back(), CheckpointKind::kDelta);

  Start();
  EXPECT_EQ(runner_->stats().replayed_events, 0u);
  EXPECT_EQ(runner_->stats().engine.users, 22u);
  Send("alice", "error", absl::Minutes(3));
  Send("bob", "error", absl::Minutes(4));
  Send("user-3", "error", absl::Minutes(4));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("errors alice", "errors bob"));
}

TEST_F(EngineRunnerTest, DamagedCheckpointIsRebuiltFromTheLog) {
  Start();
  TwoUsersHalfWay();
  Settle();
  runner_->Shutdown();
  runner_.reset();

  // A checkpoint with a missing part: the runner replays the whole log and
  // ends up with the same state; any other load error still fails.
  store_->FailLoads(absl::UnavailableError("disk gone"));
  EXPECT_EQ(EngineRunner::Start(store_.get(), &clock_,
                                RulesInfo{rules_, clock_.Now(), "test"},
                                RunnerOptions())
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  store_->FailLoads(absl::DataLossError("part 1 is missing"));
  Start();
  EXPECT_EQ(runner_->stats().replayed_events, 6u);
  EXPECT_EQ(runner_->stats().engine.live_states, 4u);
  Send("alice", "error", absl::Minutes(4));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("errors alice"));
}

TEST_F(EngineRunnerTest, FailedCheckpointSkipsTheStoreAndReportsUnavailable) {
  Start();
  TwoUsersHalfWay();
  Settle();
  store_->FailCheckpoints(absl::UnavailableError("disk full"));
  bool called = false;
  absl::StatusOr<engine::DropReport> report =
      Delete("alice", [&](const engine::DropReport&) {
        called = true;
        return absl::OkStatus();
      });
  EXPECT_EQ(report.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(report.status().message(), "disk full"));
  EXPECT_FALSE(called);

  // A retry once checkpoints work again deletes (nothing is left in the
  // engine by then).
  store_->FailCheckpoints(absl::OkStatus());
  report = Delete("alice", [&](const engine::DropReport&) {
    called = true;
    return absl::OkStatus();
  });
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(called);
  EXPECT_EQ(report->slots, 0u);
}

TEST_F(EngineRunnerTest, StoreFailureIsReportedAndKeepsTheTraits) {
  Start();
  TwoUsersHalfWay();
  Settle();
  absl::StatusOr<engine::DropReport> report = Delete(
      "alice",
      [](const engine::DropReport&) { return absl::AbortedError("busy"); });
  EXPECT_EQ(report.status(), absl::AbortedError("busy"));
  // Her rows (traits included) are still there, and the cache agrees.
  Send("alice", "cancelled", absl::Minutes(5));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("cancel alice"));
}

// Batches committed after the DeleteUser call but before the store's
// deletion began hold rows the store deleted: they are not fed.
TEST_F(EngineRunnerTest, QueuedDataOfTheDeletedUserIsDiscarded) {
  Start();
  Settle();
  // Hold the engine thread inside a waiter while the data comes in.
  absl::Notification holding, release;
  runner_->AfterCaughtUp([&] {
    holding.Notify();
    release.WaitForNotification();
  });
  ASSERT_TRUE(holding.WaitForNotificationWithTimeout(kTimeout));
  absl::Notification deleted;
  runner_->DeleteUser(
      "alice", [](const engine::DropReport&) { return absl::OkStatus(); },
      [&](absl::StatusOr<engine::DropReport> report) {
        EXPECT_TRUE(report.ok()) << report.status();
        deleted.Notify();
      });
  for (const char* user : {"alice", "bob"}) SetPlan(user, "pro");
  for (int i = 1; i <= 3; ++i) {
    for (const char* user : {"alice", "bob"}) {
      Send(user, "error", absl::Minutes(i));
    }
  }
  release.Notify();
  ASSERT_TRUE(deleted.WaitForNotificationWithTimeout(kTimeout));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("errors bob"));

  // What comes after the deletion counts again, from scratch.
  for (int i = 4; i <= 6; ++i) Send("alice", "error", absl::Minutes(i));
  Send("alice", "cancelled", absl::Minutes(6));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("errors alice"));
}

TEST_F(EngineRunnerTest, DeleteUserRefusesEmptyIdsAndRunsNothingAfterShutdown) {
  Start();
  bool called = false;
  auto store_delete = [&](const engine::DropReport&) {
    called = true;
    return absl::OkStatus();
  };
  absl::StatusOr<engine::DropReport> report = Delete("", store_delete);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  runner_->Shutdown();
  report = Delete("alice", store_delete);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(called);
}

TEST_F(EngineRunnerTest, DeletionsQueuedAtShutdownStillRun) {
  Start();
  TwoUsersHalfWay();
  absl::Notification done;
  runner_->DeleteUser(
      "alice", [](const engine::DropReport&) { return absl::OkStatus(); },
      [&](absl::StatusOr<engine::DropReport> report) {
        ASSERT_TRUE(report.ok()) << report.status();
        EXPECT_EQ(report->slots, 2u);
        done.Notify();
      });
  runner_->Shutdown();
  EXPECT_TRUE(done.HasBeenNotified());
  ASSERT_FALSE(store_->saved().empty());
  EXPECT_EQ(Restored()->DropUser("alice").slots, 0u);
}

// Rows without a user (what the store leaves of a deleted user's event)
// are skipped when fed and when replayed, and do not hold up waiters.
TEST_F(EngineRunnerTest, RowsWithoutAUserAreSkipped) {
  Start();
  Send("bob", "error", absl::Minutes(1));
  store::WriteBatch batch;
  store::EventRecord tombstone;
  tombstone.event_id = "t1";  // the SQLite store wants one
  tombstone.event_time = absl::UnixEpoch();
  batch.events.push_back(tombstone);
  Commit(std::move(batch));
  Settle();
  EXPECT_EQ(runner_->stats().engine.events, 1u);
  EXPECT_EQ(runner_->stats().engine.late_events, 0u);

  // Replayed after the last checkpoint (at bob's event): still skipped.
  runner_->Shutdown();
  runner_.reset();
  Start();
  EXPECT_EQ(runner_->stats().replayed_events, 0u);
  EXPECT_EQ(runner_->stats().engine.late_events, 0u);
  EXPECT_EQ(runner_->stats().engine.live_states, 1u);
  Send("bob", "error", absl::Minutes(2));
  Send("bob", "error", absl::Minutes(3));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("errors bob"));
}

// The engine gets the store's LegacyMatchIdsThrough(): a match of events
// at or before it keeps the first form of id (the one an upgraded store
// holds it under), the later ones the form that grows with the log.
TEST_F(EngineRunnerTest, MatchIdsFollowTheStoresLegacyBoundary) {
  store_->SetLegacyMatchIdsThrough(3);
  Start();
  for (int i = 1; i <= 3; ++i) Send("bob", "error", absl::Minutes(i));
  for (int i = 4; i <= 6; ++i) Send("ann", "error", absl::Minutes(i));
  Settle();
  EXPECT_THAT(TakeMatches(), ElementsAre("errors bob", "errors ann"));
  absl::MutexLock lock(&mu_);
  ASSERT_EQ(match_ids_.size(), 2u);
  EXPECT_THAT(match_ids_[0], ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_THAT(match_ids_[1], ::testing::MatchesRegex("0{15}6[0-9a-f]{16}"));
}

// More matches than batch_matches_above in a second: later ones wait to be
// stored with others, up to match_batch_delay, unless someone waits for
// them; once the load is gone, a match is stored at once again.
TEST_F(EngineRunnerTest, AHeavyMatchLoadIsStoredInBatches) {
  RunnerOptions options;
  options.batch_matches_above = 2;
  options.match_batch_delay = absl::Seconds(1);
  Start(options);
  int minute = 0;  // event times only grow: nothing is late
  auto three_errors = [&](const std::string& user) {
    for (int i = 0; i < 3; ++i) Send(user, "error", absl::Minutes(++minute));
  };
  for (const char* user : {"u0", "u1", "u2"}) three_errors(user);
  Settle();  // a caller waits: stored at once
  EXPECT_EQ(runner_->stats().matches_stored, 3u);

  three_errors("u3");  // the 4th match this second
  RunnerStats stats =
      WaitForStats([](const RunnerStats& s) { return s.engine.events == 12; });
  EXPECT_EQ(stats.matches_stored, 3u);
  EXPECT_EQ(stats.matches_unstored, 1u);

  clock_.Advance(absl::Seconds(1));  // the delay is over
  stats =
      WaitForStats([](const RunnerStats& s) { return s.matches_stored == 4; });
  EXPECT_EQ(stats.matches_unstored, 0u);

  clock_.Advance(absl::Seconds(2));  // two quiet seconds
  three_errors("u4");
  stats =
      WaitForStats([](const RunnerStats& s) { return s.engine.events == 15; });
  EXPECT_EQ(stats.matches_stored, 5u);
  EXPECT_EQ(stats.matches_unstored, 0u);
  EXPECT_THAT(TakeMatches(), ElementsAre("errors u0", "errors u1", "errors u2",
                                         "errors u3", "errors u4"));
}

// A batch is stored as soon as it holds match_batch_max matches, however
// long its delay.
TEST_F(EngineRunnerTest, AFullBatchOfMatchesIsStoredAtOnce) {
  RunnerOptions options;
  options.batch_matches_above = 2;
  options.match_batch_delay = absl::Hours(1);
  options.match_batch_max = 2;
  Start(options);
  int minute = 0;
  auto three_errors = [&](const std::string& user) {
    for (int i = 0; i < 3; ++i) Send(user, "error", absl::Minutes(++minute));
  };
  for (const char* user : {"u0", "u1", "u2"}) three_errors(user);
  Settle();
  EXPECT_EQ(runner_->stats().matches_stored, 3u);

  three_errors("u3");  // waits for a second match
  RunnerStats stats =
      WaitForStats([](const RunnerStats& s) { return s.engine.events == 12; });
  EXPECT_EQ(stats.matches_stored, 3u);
  EXPECT_EQ(stats.matches_unstored, 1u);

  three_errors("u4");  // the batch is full: stored, the clock unmoved
  stats =
      WaitForStats([](const RunnerStats& s) { return s.matches_stored == 5; });
  EXPECT_EQ(stats.matches_unstored, 0u);
}

}  // namespace
}  // namespace hark::runtime
