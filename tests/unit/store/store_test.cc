#include "server/store/store.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/baseline.h"
#include "server/store/schema.h"
#include "tests/unit/store/store_test_util.h"

namespace hark::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST_F(SqliteStoreTest, CreatesAndMigratesInMemory) {
  std::unique_ptr<Store> store = OpenOrDie(MemoryOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->path(), ":memory:");
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 0u);
  EXPECT_EQ(stats->users, 0u);
  EXPECT_THAT(RecentIds(*store, 10), IsEmpty());
  EXPECT_THAT(Users(*store), IsEmpty());
}

TEST_F(SqliteStoreTest, MigrationSetsUserVersionAndWal) {
  ASSERT_NE(OpenOrDie(FileOptions()), nullptr);
  EXPECT_EQ(RawQueryText(FilePath(), "PRAGMA user_version"),
            absl::StrCat(internal::LatestSchemaVersion()));
  EXPECT_EQ(RawQueryText(FilePath(), "PRAGMA journal_mode"), "wal");
}

TEST_F(SqliteStoreTest, ReopeningAFileKeepsData) {
  {
    std::unique_ptr<Store> store = OpenOrDie(FileOptions());
    ASSERT_NE(store, nullptr);
    WriteBatch batch = Events(1, 3);
    batch.new_users = {"u1"};
    batch.traits = {Trait("u1", "plan", "pro", kT0)};
    ASSERT_TRUE(store->Write(batch).ok());
  }
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(RecentIds(*store, 10), ElementsAre("e1", "e2", "e3"));
  EXPECT_THAT(Users(*store), ElementsAre("u1"));
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 3u);
  EXPECT_EQ(stats->users, 1u);
  absl::StatusOr<std::vector<TraitRecord>> traits = store->GetTraits("u1");
  ASSERT_TRUE(traits.ok());
  ASSERT_EQ(traits->size(), 1u);
  EXPECT_EQ((*traits)[0].value, "pro");
  // Appending after a reopen continues the sequence.
  ASSERT_TRUE(store->Write(Events(4, 4)).ok());
  std::vector<int64_t> seqs;
  ASSERT_TRUE(
      store
          ->ScanEvents(
              0, [&](int64_t seq, const EventRecord&) { seqs.push_back(seq); })
          .ok());
  EXPECT_THAT(seqs, ElementsAre(1, 2, 3, 4));
}

TEST_F(SqliteStoreTest, RefusesADatabaseFromANewerHark) {
  ASSERT_NE(OpenOrDie(FileOptions()), nullptr);
  RawExec(FilePath(), "PRAGMA user_version = 99");
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(FileOptions());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("newer Hark"));
  EXPECT_THAT(store.status().message(), HasSubstr("schema version is 99"));
  EXPECT_THAT(
      store.status().message(),
      HasSubstr(absl::StrCat("up to ", internal::LatestSchemaVersion())));
  EXPECT_THAT(store.status().message(), HasSubstr(FilePath()));
  // Refusing changed nothing.
  EXPECT_EQ(RawQueryText(FilePath(), "PRAGMA user_version"), "99");
}

TEST_F(SqliteStoreTest, RejectsAFileThatIsNotADatabase) {
  {
    std::ofstream out(FilePath());
    out << "this is not a sqlite database, just some text that is long "
           "enough to fill a header and then some more text to be sure.";
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(FileOptions());
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(FilePath()));
  EXPECT_THAT(store.status().message(), HasSubstr("not a database"));
}

TEST_F(SqliteStoreTest, RejectsAnEmptyPath) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore({});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, OpenFailureNamesTheFile) {
  StoreOptions options;
  options.path = FilePath("missing_dir/hark.db");
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(store.status().message(), HasSubstr(options.path));
  EXPECT_THAT(store.status().message(), HasSubstr("unable to open"));
}

TEST_F(SqliteStoreTest, ScanRecentEventIdsIsOldestFirstAndBounded) {
  std::unique_ptr<Store> store = OpenOrDie(MemoryOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write(Events(1, 4)).ok());
  ASSERT_TRUE(store->Write(Events(5, 7)).ok());
  ASSERT_TRUE(store->Write(Events(8, 10)).ok());
  EXPECT_THAT(RecentIds(*store, 4), ElementsAre("e7", "e8", "e9", "e10"));
  EXPECT_THAT(RecentIds(*store, 1), ElementsAre("e10"));
  EXPECT_THAT(RecentIds(*store, 0), IsEmpty());
  EXPECT_EQ(RecentIds(*store, 10).size(), 10u);
  std::vector<std::string> all = RecentIds(*store, 1000);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front(), "e1");
  EXPECT_EQ(all.back(), "e10");
  EXPECT_EQ(RecentIds(*store, SIZE_MAX).size(), 10u);
}

TEST_F(SqliteStoreTest, ScanEventsReturnsRecordsAfterSeq) {
  std::unique_ptr<Store> store = OpenOrDie(MemoryOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write(Events(1, 5)).ok());

  std::vector<int64_t> seqs;
  std::vector<EventRecord> records;
  ASSERT_TRUE(store
                  ->ScanEvents(0,
                               [&](int64_t seq, const EventRecord& e) {
                                 seqs.push_back(seq);
                                 records.push_back(e);
                               })
                  .ok());
  EXPECT_THAT(seqs, ElementsAre(1, 2, 3, 4, 5));
  ASSERT_EQ(records.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const EventRecord want = Event(i + 1);
    EXPECT_EQ(records[i].seq, i + 1);
    EXPECT_EQ(records[i].event_id, want.event_id);
    EXPECT_EQ(records[i].user_id, want.user_id);
    EXPECT_EQ(records[i].name, want.name);
    EXPECT_EQ(records[i].event_time, want.event_time);
    EXPECT_EQ(records[i].received_at, want.received_at);
    EXPECT_EQ(records[i].payload, want.payload);  // binary-safe
  }

  seqs.clear();
  ASSERT_TRUE(store
                  ->ScanEvents(3,
                               [&](int64_t seq, const EventRecord& e) {
                                 seqs.push_back(seq);
                                 EXPECT_EQ(e.event_id, absl::StrCat("e", seq));
                               })
                  .ok());
  EXPECT_THAT(seqs, ElementsAre(4, 5));

  seqs.clear();
  ASSERT_TRUE(
      store
          ->ScanEvents(
              5, [&](int64_t seq, const EventRecord&) { seqs.push_back(seq); })
          .ok());
  EXPECT_THAT(seqs, IsEmpty());
}

TEST_F(SqliteStoreTest, EmptyStringsAndPayloadsRoundTrip) {
  std::unique_ptr<Store> store = OpenOrDie(MemoryOptions());
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  // The event_id is required (an empty one marks a tombstone of the log).
  batch.events.push_back(EventRecord{"e", "", "", kT0, kT0, ""});
  batch.traits.push_back(Trait("u", "k", "", kT0));
  ASSERT_TRUE(store->Write(batch).ok());
  int n = 0;
  ASSERT_TRUE(store
                  ->ScanEvents(0,
                               [&](int64_t, const EventRecord& e) {
                                 ++n;
                                 EXPECT_EQ(e.payload, "");
                               })
                  .ok());
  EXPECT_EQ(n, 1);
}

TEST_F(SqliteStoreTest, ScanUsersListsEachUserOnce) {
  std::unique_ptr<Store> store = OpenOrDie(MemoryOptions());
  ASSERT_NE(store, nullptr);
  WriteBatch first;
  first.new_users = {"alice", "bob"};
  first.now = kT0;
  ASSERT_TRUE(store->Write(first).ok());
  WriteBatch second;
  second.new_users = {"bob", "carol", "carol"};
  second.now = kT0 + absl::Hours(1);
  ASSERT_TRUE(store->Write(second).ok());
  EXPECT_THAT(Users(*store), ElementsAre("alice", "bob", "carol"));
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->users, 3u);
  EXPECT_EQ(stats->events, 0u);
}

TEST_F(SqliteStoreTest, TraitUpsertKeepsTheLatestValueAndItsTime) {
  std::unique_ptr<Store> store = OpenOrDie(MemoryOptions());
  ASSERT_NE(store, nullptr);
  const absl::Time t1 = kT0 + absl::Minutes(1);
  const absl::Time t2 = kT0 + absl::Minutes(2);

  WriteBatch batch;
  batch.traits = {Trait("u1", "plan", "free", t1),
                  Trait("u1", "country", "NL", t1),
                  Trait("u2", "plan", "team", t1)};
  ASSERT_TRUE(store->Write(batch).ok());

  // An older value arriving late does not overwrite; a newer one does.
  batch.traits = {Trait("u1", "plan", "stale", kT0),
                  Trait("u1", "country", "DE", t2)};
  ASSERT_TRUE(store->Write(batch).ok());
  // Same key twice in one batch at the same time: the later one wins.
  batch.traits = {Trait("u1", "plan", "pro", t2),
                  Trait("u1", "plan", "business", t2)};
  ASSERT_TRUE(store->Write(batch).ok());

  absl::StatusOr<std::vector<TraitRecord>> traits = store->GetTraits("u1");
  ASSERT_TRUE(traits.ok()) << traits.status();
  ASSERT_EQ(traits->size(), 2u);
  EXPECT_EQ((*traits)[0].user_id, "u1");
  EXPECT_EQ((*traits)[0].key, "country");
  EXPECT_EQ((*traits)[0].value, "DE");
  EXPECT_EQ((*traits)[0].set_at, t2);
  EXPECT_EQ((*traits)[1].key, "plan");
  EXPECT_EQ((*traits)[1].value, "business");
  EXPECT_EQ((*traits)[1].set_at, t2);

  traits = store->GetTraits("u2");
  ASSERT_TRUE(traits.ok());
  ASSERT_EQ(traits->size(), 1u);
  EXPECT_EQ((*traits)[0].value, "team");
  EXPECT_EQ((*traits)[0].set_at, t1);

  traits = store->GetTraits("nobody");
  ASSERT_TRUE(traits.ok());
  EXPECT_THAT(*traits, IsEmpty());
}

TEST_F(SqliteStoreTest, FailedWriteLeavesNothing) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  WriteBatch good = Events(1, 2);
  good.new_users = {"u1"};
  ASSERT_TRUE(store->Write(good).ok());

  // Make the last statement of the next transaction fail, after its events,
  // users and first trait have been written.
  RawExec(FilePath(),
          "CREATE TRIGGER fail_on_boom BEFORE INSERT ON traits "
          "WHEN NEW.key = 'boom' "
          "BEGIN SELECT RAISE(ABORT, 'forced failure'); END");
  WriteBatch bad = Events(3, 5);
  bad.new_users = {"u2", "u3"};
  bad.traits = {Trait("u2", "plan", "pro", kT0), Trait("u2", "boom", "x", kT0)};
  absl::Status status = store->Write(bad).status();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("forced failure"));
  EXPECT_THAT(status.message(), HasSubstr(FilePath()));

  EXPECT_THAT(RecentIds(*store, 100), ElementsAre("e1", "e2"));
  EXPECT_THAT(Users(*store), ElementsAre("u1"));
  absl::StatusOr<std::vector<TraitRecord>> traits = store->GetTraits("u2");
  ASSERT_TRUE(traits.ok());
  EXPECT_THAT(*traits, IsEmpty());
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 2u);
  EXPECT_EQ(stats->users, 1u);

  // The writer is usable again; sequence numbers continue without a gap.
  WriteBatch next = Events(3, 3);
  next.new_users = {"u2"};
  absl::StatusOr<WriteResult> written = store->Write(next);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->first_event_seq, 3);
  EXPECT_EQ(written->last_event_seq, 3);
  EXPECT_THAT(RecentIds(*store, 100), ElementsAre("e1", "e2", "e3"));
  stats = store->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 3u);
  EXPECT_EQ(stats->users, 2u);
}

TEST_F(SqliteStoreTest, WriteReturnsConsecutiveSeqsAcrossBatches) {
  for (StoreOptions options : {MemoryOptions(), FileOptions()}) {
    SCOPED_TRACE(options.path);
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_NE(store, nullptr);
    absl::StatusOr<WriteResult> first = store->Write(Events(1, 4));
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->first_event_seq, 1);
    EXPECT_EQ(first->last_event_seq, 4);

    // A batch without events lands nowhere.
    WriteBatch no_events;
    no_events.new_users = {"u9"};
    no_events.now = kT0;
    absl::StatusOr<WriteResult> none = store->Write(no_events);
    ASSERT_TRUE(none.ok()) << none.status();
    EXPECT_EQ(none->first_event_seq, 0);
    EXPECT_EQ(none->last_event_seq, 0);
    absl::StatusOr<WriteResult> empty = store->Write(WriteBatch{});
    ASSERT_TRUE(empty.ok()) << empty.status();
    EXPECT_EQ(empty->first_event_seq, 0);
    EXPECT_EQ(empty->last_event_seq, 0);

    absl::StatusOr<WriteResult> second = store->Write(Events(5, 7));
    ASSERT_TRUE(second.ok()) << second.status();
    EXPECT_EQ(second->first_event_seq, 5);
    EXPECT_EQ(second->last_event_seq, 7);

    // The seqs name the events of the batch in batch order.
    std::vector<std::pair<int64_t, std::string>> log;
    ASSERT_TRUE(store
                    ->ScanEvents(0,
                                 [&](int64_t seq, const EventRecord& e) {
                                   log.emplace_back(seq, e.event_id);
                                 })
                    .ok());
    ASSERT_EQ(log.size(), 7u);
    for (int64_t seq = second->first_event_seq; seq <= second->last_event_seq;
         ++seq) {
      EXPECT_EQ(log[seq - 1].first, seq);
      EXPECT_EQ(log[seq - 1].second, absl::StrCat("e", seq));
    }
    if (options.path != ":memory:") {
      store.reset();
      std::filesystem::remove(options.path);
    }
  }
}

TEST_F(SqliteStoreTest, GetStatsCountsEventsAndUsers) {
  std::unique_ptr<Store> store = OpenOrDie(MemoryOptions());
  ASSERT_NE(store, nullptr);
  WriteBatch batch = Events(1, 250);
  batch.new_users = {"u1", "u2"};
  ASSERT_TRUE(store->Write(batch).ok());
  batch = Events(251, 300);
  batch.new_users = {"u2", "u3"};
  ASSERT_TRUE(store->Write(batch).ok());
  ASSERT_TRUE(store->Write(WriteBatch{}).ok());  // empty: a no-op
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 300u);
  EXPECT_EQ(stats->users, 3u);
}

TEST_F(SqliteStoreTest, FullDurabilityOpensAndWrites) {
  StoreOptions options = FileOptions();
  options.durability = Durability::kFull;
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write(Events(1, 10)).ok());
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, 10u);
}

TEST_F(SqliteStoreTest, ReadsRunConcurrentlyWithWrites) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  constexpr int kBatches = 50;
  constexpr int kPerBatch = 100;
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      uint64_t last = 0;
      while (!done.load()) {
        absl::StatusOr<StoreStats> stats = store->GetStats();
        ASSERT_TRUE(stats.ok()) << stats.status();
        // Counts only grow and always cover whole batches.
        EXPECT_GE(stats->events, last);
        EXPECT_EQ(stats->events % kPerBatch, 0u);
        last = stats->events;
        int64_t previous = 0;
        uint64_t seen = 0;
        ASSERT_TRUE(store
                        ->ScanEvents(0,
                                     [&](int64_t seq, const EventRecord&) {
                                       EXPECT_EQ(seq, previous + 1);
                                       previous = seq;
                                       ++seen;
                                     })
                        .ok());
        EXPECT_EQ(seen % kPerBatch, 0u);
        EXPECT_GE(seen, last);
      }
    });
  }
  for (int b = 0; b < kBatches; ++b) {
    WriteBatch batch = Events(b * kPerBatch + 1, (b + 1) * kPerBatch);
    batch.new_users = {absl::StrCat("user", b)};
    ASSERT_TRUE(store->Write(batch).ok());
  }
  done = true;
  for (std::thread& t : readers) t.join();
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->events, uint64_t{kBatches * kPerBatch});
  EXPECT_EQ(stats->users, uint64_t{kBatches});
}

// A manual check of the hot path, not run by default (timing on a shared
// machine is no test): store_test --gtest_also_run_disabled_tests
//   --gtest_filter='*Throughput*'
TEST_F(SqliteStoreTest, DISABLED_WriteThroughput) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  constexpr int kEvents = 1'000'000;
  constexpr int kBatch = 500;
  std::vector<WriteBatch> batches;
  for (int b = 0; b < kEvents / kBatch; ++b) {
    WriteBatch batch;
    for (int i = 0; i < kBatch; ++i) {
      const int n = b * kBatch + i;
      EventRecord e = Event(n, absl::StrCat("user", n % 10000));
      e.event_id = absl::StrCat("evt-", n * 2654435761u);
      e.payload = std::string(120, 'p');
      batch.events.push_back(std::move(e));
    }
    batch.now = kT0;
    batches.push_back(std::move(batch));
  }
  const absl::Time start = absl::Now();
  for (const WriteBatch& batch : batches) ASSERT_TRUE(store->Write(batch).ok());
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("Store::Write: %.0f events/s\n", kEvents / seconds);

  std::vector<EventRecord> events;
  for (const WriteBatch& batch : batches) {
    for (const EventRecord& e : batch.events) events.push_back(e);
  }
  absl::StatusOr<double> ceiling = MeasureAppendCeiling(
      FilePath("ceiling.db"), events, kBatch, Durability::kNormal);
  ASSERT_TRUE(ceiling.ok()) << ceiling.status();
  std::printf("append ceiling: %.0f events/s\n", *ceiling);

  absl::Time t = absl::Now();
  size_t ids = 0;
  ASSERT_TRUE(
      store->ScanRecentEventIds(kEvents, [&](absl::string_view) { ++ids; })
          .ok());
  std::printf("ScanRecentEventIds(%zu): %s\n", ids,
              absl::FormatDuration(absl::Now() - t).c_str());
  t = absl::Now();
  size_t scanned = 0;
  ASSERT_TRUE(
      store->ScanEvents(0, [&](int64_t, const EventRecord&) { ++scanned; })
          .ok());
  std::printf("ScanEvents(%zu): %s\n", scanned,
              absl::FormatDuration(absl::Now() - t).c_str());
  t = absl::Now();
  ASSERT_TRUE(store->GetStats().ok());
  std::printf("GetStats: %s\n", absl::FormatDuration(absl::Now() - t).c_str());
}

class StoreBaselineTest : public SqliteStoreTest {};

TEST_F(StoreBaselineTest, ReturnsAPositiveRate) {
  std::vector<EventRecord> events;
  for (int i = 0; i < 2000; ++i) events.push_back(Event(i));
  absl::StatusOr<double> rate = MeasureAppendCeiling(
      FilePath("ceiling.db"), events, 500, Durability::kNormal);
  ASSERT_TRUE(rate.ok()) << rate.status();
  EXPECT_GT(*rate, 0.0);
  EXPECT_EQ(RawQueryText(FilePath("ceiling.db"), "SELECT COUNT(*) FROM events"),
            "2000");

  rate = MeasureAppendCeiling(":memory:", events, 7, Durability::kFull);
  ASSERT_TRUE(rate.ok()) << rate.status();
  EXPECT_GT(*rate, 0.0);
}

TEST_F(StoreBaselineTest, RefusesAnExistingFileAndBadArguments) {
  std::vector<EventRecord> events = {Event(1)};
  ASSERT_NE(OpenOrDie(FileOptions()), nullptr);
  absl::StatusOr<double> rate =
      MeasureAppendCeiling(FilePath(), events, 10, Durability::kNormal);
  EXPECT_EQ(rate.status().code(), absl::StatusCode::kAlreadyExists);
  rate = MeasureAppendCeiling(FilePath("x.db"), {}, 10, Durability::kNormal);
  EXPECT_EQ(rate.status().code(), absl::StatusCode::kInvalidArgument);
  rate = MeasureAppendCeiling(FilePath("x.db"), events, 0, Durability::kNormal);
  EXPECT_EQ(rate.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hark::store
