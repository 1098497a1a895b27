#include "server/store/schema.h"

#include <iterator>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hark/status_macros.h"

namespace hark::store::internal {
namespace {

// One forward migration: running `statements` on a database at version
// `version - 1` brings it to `version`. Steps are never edited once
// released; a schema change appends a step. SQL stays portable where SQLite
// allows (a PostgreSQL backend may follow); WITHOUT ROWID, SQLite's way of
// storing a table in its primary key, is the one exception.
struct Migration {
  int version;
  absl::Span<const char* const> statements;
};

// Version 1.
// - events: see kCreateEventsTableSql. Rows are never deleted in this
//   version. Note for a future DeleteUser: without AUTOINCREMENT SQLite
//   reuses the sequence numbers of deleted rows at the end of the log, which
//   would break replay past a checkpoint; delete such rows only if that is
//   handled (for example by switching to AUTOINCREMENT in a migration).
// - users: every user ever seen, with the time of its first event.
// - traits: the latest value of each (user, key) and when it was set.
// - store_counters: exact row counts maintained by Write() in the same
//   transaction, so GetStats() is O(1) on a log of any size (COUNT(*) scans
//   the whole table, and MAX(seq) stops being a count once rows are
//   deleted).
constexpr const char* kSchemaV1[] = {
    kCreateEventsTableSql,
    "CREATE TABLE users("
    "user_id TEXT PRIMARY KEY, "
    "first_seen_us INTEGER NOT NULL)",
    "CREATE TABLE traits("
    "user_id TEXT NOT NULL, "
    "key TEXT NOT NULL, "
    "value BLOB NOT NULL, "
    "set_at_us INTEGER NOT NULL, "
    "PRIMARY KEY(user_id, key)) WITHOUT ROWID",
    "CREATE TABLE store_counters("
    "name TEXT PRIMARY KEY, "
    "value INTEGER NOT NULL)",
    "INSERT INTO store_counters(name, value) "
    "VALUES('events', 0), ('users', 0)",
};

// Version 2: the engine's output and state (issue 3, trigger rules).
// - matches: one row per match, written idempotently by match_id. Matches
//   are rare next to events, so indexes here are affordable. Each index
//   ends with (matched_at_us, match_id) so that ListMatches() pages newest
//   first by index order alone, without a sort, with or without a rule or
//   user filter. `context` is opaque to the store (a serialized
//   hark.v1.Match).
// - engine_checkpoints: the latest coalesced state of each engine shard and
//   the log position it covers; replay continues after last_seq.
// events.seq stays without AUTOINCREMENT: rows of the log are still never
// deleted, so seqs only grow (which replay after a checkpoint relies on),
// and switching would mean copying the whole log into a new table. See the
// note of version 1 before deleting events.
constexpr const char* kSchemaV2[] = {
    "CREATE TABLE matches("
    "match_id TEXT PRIMARY KEY, "
    "rule_id TEXT NOT NULL, "
    "rule_version TEXT NOT NULL, "
    "user_id TEXT NOT NULL, "
    "group_key TEXT NOT NULL, "
    "matched_at_us INTEGER NOT NULL, "
    "at_deadline INTEGER NOT NULL, "
    "created_us INTEGER NOT NULL, "
    "context BLOB NOT NULL)",
    "CREATE INDEX matches_by_time ON matches(matched_at_us, match_id)",
    "CREATE INDEX matches_by_rule ON matches(rule_id, matched_at_us, "
    "match_id)",
    "CREATE INDEX matches_by_user ON matches(user_id, matched_at_us, "
    "match_id)",
    "CREATE TABLE engine_checkpoints("
    "shard INTEGER PRIMARY KEY, "
    "last_seq INTEGER NOT NULL, "
    "saved_us INTEGER NOT NULL, "
    "state BLOB NOT NULL)",
};

// Ordered by version, numbered 1, 2, 3, ...; append new steps at the end.
constexpr Migration kMigrations[] = {
    {1, kSchemaV1},
    {2, kSchemaV2},
};

constexpr bool NumberedInOrder() {
  for (size_t i = 0; i < std::size(kMigrations); ++i) {
    if (kMigrations[i].version != static_cast<int>(i) + 1) return false;
  }
  return true;
}
static_assert(NumberedInOrder(), "migrations must be numbered 1, 2, 3, ...");

constexpr char kInsertEventSql[] =
    "INSERT INTO events(event_id, user_id, name, event_time_us, received_us, "
    "payload) VALUES(?, ?, ?, ?, ?, ?)";

}  // namespace

absl::StatusOr<WriteResult> AppendEvents(Connection& conn,
                                         absl::Span<const EventRecord> events) {
  WriteResult result;
  if (events.empty()) return result;
  ASSIGN_OR_RETURN(Statement insert, conn.Prepare(kInsertEventSql));
  for (const EventRecord& e : events) {
    RETURN_IF_ERROR(insert.BindText(1, e.event_id));
    RETURN_IF_ERROR(insert.BindText(2, e.user_id));
    RETURN_IF_ERROR(insert.BindText(3, e.name));
    RETURN_IF_ERROR(insert.BindInt64(4, absl::ToUnixMicros(e.event_time)));
    RETURN_IF_ERROR(insert.BindInt64(5, absl::ToUnixMicros(e.received_at)));
    RETURN_IF_ERROR(insert.BindBlob(6, e.payload));
    RETURN_IF_ERROR(insert.Run());
    insert.Reset();
    // The rowid SQLite chose. Without AUTOINCREMENT it is max(seq) + 1,
    // so consecutive inside one write transaction; it would not be if the
    // log ever reached the largest int64 (SQLite then picks a random free
    // rowid), which this check turns into an error instead of a silent
    // misattribution of events.
    const int64_t seq = sqlite3_last_insert_rowid(conn.db());
    if (result.first_event_seq == 0) {
      result.first_event_seq = seq;
    } else if (seq != result.last_event_seq + 1) {
      return absl::InternalError(absl::StrCat(
          "sqlite store ", conn.path(), ": event appended with sequence ", seq,
          " after ", result.last_event_seq,
          "; the sequence numbers of a batch must be consecutive"));
    }
    result.last_event_seq = seq;
  }
  return result;
}

int LatestSchemaVersion() {
  return kMigrations[std::size(kMigrations) - 1].version;
}

absl::Status Migrate(Connection& conn) {
  return MigrateTo(conn, LatestSchemaVersion());
}

absl::Status MigrateTo(Connection& conn, int target) {
  if (target < 1 || target > LatestSchemaVersion()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite store: no schema version ", target));
  }
  // The version is read inside the write transaction so that two processes
  // opening a fresh file cannot both apply the same step.
  return InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(int64_t current, conn.QueryInt64("PRAGMA user_version"));
    const int latest = LatestSchemaVersion();
    if (current > latest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sqlite store ", conn.path(),
          ": the database was written by a newer Hark: its schema version is ",
          current, " but this Hark knows schema versions up to ", latest,
          "; run a Hark at least as new as the one that wrote it, or use "
          "another database"));
    }
    if (current < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite store ", conn.path(), ": schema version ",
                       current, " is negative; this is not a Hark database"));
    }
    for (const Migration& step : kMigrations) {
      if (step.version <= current || step.version > target) continue;
      for (const char* sql : step.statements) {
        absl::Status applied = conn.ExecScript(sql);
        if (!applied.ok()) {
          return absl::Status(
              applied.code(),
              absl::StrCat("migrating to schema version ", step.version, ": ",
                           applied.message()));
        }
      }
      // PRAGMA takes no parameters; the value is a trusted integer.
      RETURN_IF_ERROR(conn.ExecScript(
          absl::StrCat("PRAGMA user_version = ", step.version)));
    }
    return absl::OkStatus();
  });
}

}  // namespace hark::store::internal
