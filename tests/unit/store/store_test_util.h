#ifndef HARK_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_
#define HARK_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_

// Helpers shared by the store tests: records, raw SQLite access to a file
// outside the Store, and a fixture with a fresh temporary directory.

#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/store/schema.h"
#include "server/store/sqlite_connection.h"
#include "server/store/store.h"

namespace hark::store {

inline const absl::Time kT0 = absl::FromUnixSeconds(1767225600);

inline EventRecord Event(int i, absl::string_view user = "u1") {
  EventRecord e;
  e.event_id = absl::StrCat("e", i);
  e.user_id = std::string(user);
  e.name = absl::StrCat("name", i % 3);
  e.event_time = kT0 + absl::Microseconds(i);
  e.received_at = kT0 + absl::Seconds(1) + absl::Microseconds(i);
  e.payload = absl::StrCat("payload", i, std::string(1, '\0'), "tail");
  return e;
}

inline TraitRecord Trait(absl::string_view user, absl::string_view key,
                         absl::string_view value, absl::Time set_at) {
  return TraitRecord{std::string(user), std::string(key), std::string(value),
                     set_at};
}

// A batch of events first..last (inclusive) for user u1.
inline WriteBatch Events(int first, int last) {
  WriteBatch batch;
  for (int i = first; i <= last; ++i) batch.events.push_back(Event(i));
  batch.now = kT0;
  return batch;
}

inline std::unique_ptr<Store> OpenOrDie(const StoreOptions& options) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(store).value() : nullptr;
}

inline std::vector<std::string> RecentIds(Store& store, size_t max) {
  std::vector<std::string> ids;
  absl::Status status = store.ScanRecentEventIds(
      max, [&](absl::string_view id) { ids.emplace_back(id); });
  EXPECT_TRUE(status.ok()) << status;
  return ids;
}

inline std::vector<std::string> Users(Store& store) {
  std::vector<std::string> users;
  absl::Status status =
      store.ScanUsers([&](absl::string_view id) { users.emplace_back(id); });
  EXPECT_TRUE(status.ok()) << status;
  std::sort(users.begin(), users.end());
  return users;
}

// Runs `sql` on the file with a connection of its own, outside the Store.
inline void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

inline std::string RawQueryText(const std::string& path,
                                const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string result;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

// The schema as sqlite_master describes it, sorted by object name.
inline std::vector<std::string> SchemaOf(const std::string& path) {
  std::vector<std::string> objects;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT type, name, COALESCE(sql, '') FROM "
                               "sqlite_master ORDER BY name",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    objects.push_back(absl::StrCat(
        reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), " ",
        reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)), ": ",
        reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2))));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return objects;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/hark_store_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string FilePath(absl::string_view name = "hark.db") const {
    return absl::StrCat(dir_, "/", name);
  }
  StoreOptions FileOptions() const {
    StoreOptions options;
    options.path = FilePath();
    return options;
  }
  // With engine checkpoints stored as they come, for tests that look at
  // the parts themselves.
  StoreOptions RawCheckpointOptions() const {
    StoreOptions options = FileOptions();
    options.compress_checkpoints = false;
    return options;
  }
  // Creates the file as Hark at schema `version` left it (no rows).
  void CreateFileAtVersion(int version) {
    absl::StatusOr<std::unique_ptr<internal::Connection>> conn =
        internal::OpenWriter(FilePath(), Durability::kNormal, absl::Seconds(5));
    ASSERT_TRUE(conn.ok()) << conn.status();
    ASSERT_TRUE(internal::MigrateTo(**conn, version).ok());
  }
  static StoreOptions MemoryOptions() {
    StoreOptions options;
    options.path = ":memory:";
    return options;
  }

  std::string dir_;
};

}  // namespace hark::store

#endif  // HARK_TESTS_UNIT_STORE_STORE_TEST_UTIL_H_
