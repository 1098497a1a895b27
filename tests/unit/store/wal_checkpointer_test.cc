// Tests of the background WAL checkpointer: commits of the writer never
// checkpoint, the thread does once the WAL passes its threshold, and the
// store works the same with it.

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_connection.h"
#include "server/store/store.h"
#include "tests/unit/store/store_test_util.h"

namespace hark::store {
namespace {

using internal::Connection;
using internal::WalCheckpointer;

int64_t FileSize(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

// Inserts `rows` rows of ~1 KiB in one transaction each.
void Fill(Connection& conn, int first, int rows) {
  // Bound without a copy: must outlive Run().
  const std::string body(1024, 'x');
  for (int i = first; i < first + rows; ++i) {
    ASSERT_TRUE(conn.Exec("BEGIN IMMEDIATE").ok());
    absl::StatusOr<internal::Statement> insert =
        conn.Prepare("INSERT INTO t(id, body) VALUES(?, ?)");
    ASSERT_TRUE(insert.ok()) << insert.status();
    ASSERT_TRUE(insert->BindInt64(1, i).ok());
    ASSERT_TRUE(insert->BindBlob(2, body).ok());
    ASSERT_TRUE(insert->Run().ok());
    insert->Reset();
    ASSERT_TRUE(conn.Exec("COMMIT").ok());
  }
}

class WalCheckpointerTest : public SqliteStoreTest {
 protected:
  // A writer on a fresh file with table t, hooked to a checkpointer that
  // wakes at `pages` WAL pages.
  void Open(int pages) {
    absl::StatusOr<std::unique_ptr<Connection>> writer =
        internal::OpenWriter(FilePath(), Durability::kNormal, absl::Seconds(5));
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = *std::move(writer);
    ASSERT_TRUE(
        writer_->Exec("CREATE TABLE t(id INTEGER PRIMARY KEY, body BLOB)")
            .ok());
    absl::StatusOr<std::unique_ptr<WalCheckpointer>> checkpointer =
        WalCheckpointer::Start(FilePath(), Durability::kNormal,
                               absl::Seconds(5), pages);
    ASSERT_TRUE(checkpointer.ok()) << checkpointer.status();
    checkpointer_ = *std::move(checkpointer);
    checkpointer_->Attach(*writer_);
  }
  void TearDown() override {
    if (writer_ != nullptr) WalCheckpointer::Detach(*writer_);
    writer_.reset();
    checkpointer_.reset();
    SqliteStoreTest::TearDown();
  }

  std::unique_ptr<Connection> writer_;
  std::unique_ptr<WalCheckpointer> checkpointer_;
};

TEST_F(WalCheckpointerTest, CommitsNeverCheckpoint) {
  // A threshold the test never reaches: only SQLite's own auto-checkpoint
  // (at 1000 pages, inside a commit) could copy pages into the file.
  ASSERT_NO_FATAL_FAILURE(Open(/*pages=*/1 << 20));
  const int64_t db_before = FileSize(FilePath());
  Fill(*writer_, 0, 6000);  // ~6 MiB, ~1,500 pages of WAL
  EXPECT_EQ(FileSize(FilePath()), db_before);
  EXPECT_GT(FileSize(FilePath() + "-wal"), 5000 * 1024);
  EXPECT_EQ(checkpointer_->checkpoints(), 0u);
}

TEST_F(WalCheckpointerTest, ThreadCheckpointsPastTheThreshold) {
  ASSERT_NO_FATAL_FAILURE(Open(/*pages=*/64));
  const int64_t db_before = FileSize(FilePath());
  Fill(*writer_, 0, 10);  // ~10 pages: below the threshold
  EXPECT_EQ(checkpointer_->checkpoints(), 0u);
  Fill(*writer_, 10, 2000);
  ASSERT_TRUE(checkpointer_->AwaitCheckpoints(1, absl::Seconds(30)))
      << "no checkpoint ran within 30 s";
  // The thread copied the committed pages into the database file.
  EXPECT_GT(FileSize(FilePath()), db_before + 100 * 4096);
}

TEST_F(WalCheckpointerTest, RefusesInMemoryAndZeroPages) {
  EXPECT_FALSE(WalCheckpointer::Start(":memory:", Durability::kNormal,
                                      absl::Seconds(1), 64)
                   .ok());
  EXPECT_FALSE(WalCheckpointer::Start(FilePath(), Durability::kNormal,
                                      absl::Seconds(1), 0)
                   .ok());
}

TEST_F(WalCheckpointerTest, StoreWithTinyThresholdKeepsEveryEvent) {
  StoreOptions options = FileOptions();
  options.wal_checkpoint_pages = 8;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_NE(store, nullptr);
    for (int b = 0; b < 50; ++b) {
      ASSERT_TRUE(store->Write(Events(b * 100 + 1, b * 100 + 100)).ok());
    }
  }
  // Reopened (the checkpointer's thread stopped with the store): all there.
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 5000u);
}

}  // namespace
}  // namespace hark::store
