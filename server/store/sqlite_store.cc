// The SQLite implementation of Store.
//
// Connections: one writer connection, used by Write() under write_mu_. For a
// file database, reads run on read-only connections taken from a small pool,
// so they proceed concurrently with Write() (WAL gives each read statement a
// consistent snapshot) and with each other. A ":memory:" database is private
// to its connection, so reads share the writer connection under write_mu_.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hark/status_macros.h"
#include "server/store/schema.h"
#include "server/store/sqlite_connection.h"
#include "server/store/store.h"

namespace hark::store {
namespace {

using internal::Connection;
using internal::Statement;

// Idle read connections kept for reuse; more may exist while in use.
constexpr size_t kMaxIdleReaders = 4;

constexpr char kInsertUserSql[] =
    "INSERT INTO users(user_id, first_seen_us) VALUES(?, ?) "
    "ON CONFLICT(user_id) DO NOTHING";
// The latest set_at wins; on a tie the later write wins, so a batch that
// sets a key twice at the same instant keeps its last value.
constexpr char kUpsertTraitSql[] =
    "INSERT INTO traits(user_id, key, value, set_at_us) VALUES(?, ?, ?, ?) "
    "ON CONFLICT(user_id, key) DO UPDATE SET "
    "value = excluded.value, set_at_us = excluded.set_at_us "
    "WHERE excluded.set_at_us >= traits.set_at_us";
constexpr char kAddToCounterSql[] =
    "UPDATE store_counters SET value = value + ? WHERE name = ?";

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// Copies into `to`, reusing its capacity (absl::string_view is not
// std::string_view here, so std::string::assign does not take it).
void Assign(std::string& to, absl::string_view from) {
  to.assign(from.data(), from.size());
}

class SqliteStore final : public Store {
 public:
  SqliteStore(StoreOptions options, std::unique_ptr<Connection> writer)
      : options_(std::move(options)),
        in_memory_(writer->in_memory()),
        writer_(std::move(writer)) {}

  absl::StatusOr<WriteResult> Write(const WriteBatch& batch) override;
  absl::Status ScanRecentEventIds(
      size_t max_events,
      absl::FunctionRef<void(absl::string_view)> fn) override;
  absl::Status ScanUsers(
      absl::FunctionRef<void(absl::string_view)> fn) override;
  absl::Status ScanEvents(
      int64_t after_seq,
      absl::FunctionRef<void(int64_t, const EventRecord&)> fn) override;
  absl::StatusOr<std::vector<TraitRecord>> GetTraits(
      absl::string_view user_id) override;
  absl::StatusOr<StoreStats> GetStats() override;
  const std::string& path() const override { return options_.path; }

 private:
  // The body of Write()'s transaction.
  static absl::StatusOr<WriteResult> WriteRows(Connection& conn,
                                               const WriteBatch& batch);

  // Runs `fn` on a connection that is the caller's alone until `fn` returns.
  absl::Status WithReader(absl::FunctionRef<absl::Status(Connection&)> fn);

  const StoreOptions options_;
  const bool in_memory_;

  absl::Mutex write_mu_;
  std::unique_ptr<Connection> writer_ ABSL_GUARDED_BY(write_mu_);

  absl::Mutex readers_mu_;
  std::vector<std::unique_ptr<Connection>> idle_readers_
      ABSL_GUARDED_BY(readers_mu_);
};

absl::StatusOr<WriteResult> SqliteStore::Write(const WriteBatch& batch) {
  if (batch.events.empty() && batch.traits.empty() && batch.new_users.empty()) {
    return WriteResult{};
  }
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  WriteResult result;
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(result, WriteRows(conn, batch));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<WriteResult> SqliteStore::WriteRows(Connection& conn,
                                                   const WriteBatch& batch) {
  ASSIGN_OR_RETURN(const WriteResult result,
                   internal::AppendEvents(conn, batch.events));

  int64_t users_added = 0;
  if (!batch.new_users.empty()) {
    ASSIGN_OR_RETURN(Statement insert, conn.Prepare(kInsertUserSql));
    RETURN_IF_ERROR(insert.BindInt64(2, Micros(batch.now)));
    for (const std::string& user_id : batch.new_users) {
      RETURN_IF_ERROR(insert.BindText(1, user_id));
      RETURN_IF_ERROR(insert.Run());
      // 0 when the user was already known.
      users_added += sqlite3_changes(conn.db());
      insert.Reset();
    }
  }

  if (!batch.traits.empty()) {
    ASSIGN_OR_RETURN(Statement upsert, conn.Prepare(kUpsertTraitSql));
    for (const TraitRecord& t : batch.traits) {
      RETURN_IF_ERROR(upsert.BindText(1, t.user_id));
      RETURN_IF_ERROR(upsert.BindText(2, t.key));
      RETURN_IF_ERROR(upsert.BindBlob(3, t.value));
      RETURN_IF_ERROR(upsert.BindInt64(4, Micros(t.set_at)));
      RETURN_IF_ERROR(upsert.Run());
      upsert.Reset();
    }
  }

  const std::pair<const char*, int64_t> deltas[] = {
      {"events", static_cast<int64_t>(batch.events.size())},
      {"users", users_added},
  };
  for (const auto& [name, delta] : deltas) {
    if (delta == 0) continue;
    ASSIGN_OR_RETURN(Statement add, conn.Prepare(kAddToCounterSql));
    RETURN_IF_ERROR(add.BindInt64(1, delta));
    RETURN_IF_ERROR(add.BindText(2, name));
    RETURN_IF_ERROR(add.Run());
    if (sqlite3_changes(conn.db()) != 1) {
      return absl::DataLossError(absl::StrCat("sqlite store ", conn.path(),
                                              ": the counter row \"", name,
                                              "\" is missing"));
    }
  }
  return result;
}

absl::Status SqliteStore::WithReader(
    absl::FunctionRef<absl::Status(Connection&)> fn) {
  if (in_memory_) {
    absl::MutexLock lock(&write_mu_);
    return fn(*writer_);
  }
  std::unique_ptr<Connection> conn;
  {
    absl::MutexLock lock(&readers_mu_);
    if (!idle_readers_.empty()) {
      conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
    }
  }
  if (conn == nullptr) {
    ASSIGN_OR_RETURN(
        conn, internal::OpenReader(options_.path, options_.busy_timeout));
  }
  absl::Status status = fn(*conn);
  // A connection whose statement failed is still sound: every Statement
  // handle has been reset, so no snapshot stays pinned.
  absl::MutexLock lock(&readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) {
    idle_readers_.push_back(std::move(conn));
  }
  return status;
}

absl::Status SqliteStore::ScanRecentEventIds(
    size_t max_events, absl::FunctionRef<void(absl::string_view)> fn) {
  if (max_events == 0) return absl::OkStatus();
  const int64_t offset = static_cast<int64_t>(
      std::min<uint64_t>(max_events - 1, std::numeric_limits<int64_t>::max()));
  return WithReader([&](Connection& conn) -> absl::Status {
    // Finds the sequence number where the newest `max_events` start by
    // walking back from the end of the log (O(max_events), no sort), then
    // reads forward from there. One statement, so one snapshot: a
    // concurrent Write() cannot shift the window between the two steps.
    ASSIGN_OR_RETURN(
        Statement scan,
        conn.Prepare("SELECT event_id FROM events WHERE seq >= COALESCE("
                     "(SELECT seq FROM events ORDER BY seq DESC "
                     "LIMIT 1 OFFSET ?), "
                     "(SELECT MIN(seq) FROM events)) "
                     "ORDER BY seq"));
    RETURN_IF_ERROR(scan.BindInt64(1, offset));
    while (true) {
      ASSIGN_OR_RETURN(bool row, scan.Step());
      if (!row) return absl::OkStatus();
      fn(scan.ColumnText(0));
    }
  });
}

absl::Status SqliteStore::ScanUsers(
    absl::FunctionRef<void(absl::string_view)> fn) {
  return WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement scan, conn.Prepare("SELECT user_id FROM users"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, scan.Step());
      if (!row) return absl::OkStatus();
      fn(scan.ColumnText(0));
    }
  });
}

absl::Status SqliteStore::ScanEvents(
    int64_t after_seq,
    absl::FunctionRef<void(int64_t, const EventRecord&)> fn) {
  return WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(
        Statement scan,
        conn.Prepare("SELECT seq, event_id, user_id, name, event_time_us, "
                     "received_us, payload FROM events WHERE seq > ? "
                     "ORDER BY seq"));
    RETURN_IF_ERROR(scan.BindInt64(1, after_seq));
    // One record reused for every row, so its strings keep their capacity.
    EventRecord record;
    while (true) {
      ASSIGN_OR_RETURN(bool row, scan.Step());
      if (!row) return absl::OkStatus();
      const int64_t seq = scan.ColumnInt64(0);
      Assign(record.event_id, scan.ColumnText(1));
      Assign(record.user_id, scan.ColumnText(2));
      Assign(record.name, scan.ColumnText(3));
      record.event_time = absl::FromUnixMicros(scan.ColumnInt64(4));
      record.received_at = absl::FromUnixMicros(scan.ColumnInt64(5));
      Assign(record.payload, scan.ColumnBlob(6));
      fn(seq, record);
    }
  });
}

absl::StatusOr<std::vector<TraitRecord>> SqliteStore::GetTraits(
    absl::string_view user_id) {
  std::vector<TraitRecord> traits;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query,
                     conn.Prepare("SELECT key, value, set_at_us FROM traits "
                                  "WHERE user_id = ? ORDER BY key"));
    RETURN_IF_ERROR(query.BindText(1, user_id));
    while (true) {
      ASSIGN_OR_RETURN(bool row, query.Step());
      if (!row) return absl::OkStatus();
      TraitRecord& t = traits.emplace_back();
      t.user_id = std::string(user_id);
      t.key = std::string(query.ColumnText(0));
      t.value = std::string(query.ColumnBlob(1));
      t.set_at = absl::FromUnixMicros(query.ColumnInt64(2));
    }
  }));
  return traits;
}

absl::StatusOr<StoreStats> SqliteStore::GetStats() {
  StoreStats stats;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query,
                     conn.Prepare("SELECT name, value FROM store_counters"));
    while (true) {
      ASSIGN_OR_RETURN(bool row, query.Step());
      if (!row) return absl::OkStatus();
      const absl::string_view name = query.ColumnText(0);
      const uint64_t value =
          static_cast<uint64_t>(std::max<int64_t>(0, query.ColumnInt64(1)));
      if (name == "events") {
        stats.events = value;
      } else if (name == "users") {
        stats.users = value;
      }
    }
  }));
  return stats;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const StoreOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer,
                   internal::OpenWriter(options.path, options.durability,
                                        options.busy_timeout));
  RETURN_IF_ERROR(internal::Migrate(*writer));
  return std::make_unique<SqliteStore>(options, std::move(writer));
}

}  // namespace hark::store
