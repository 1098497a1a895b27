#ifndef HARK_SERVER_STORE_SCHEMA_H_
#define HARK_SERVER_STORE_SCHEMA_H_

// Internal to server/store/: the schema of the SQLite database and its
// migrations.

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "server/store/sqlite_connection.h"
#include "server/store/store.h"

namespace hark::store::internal {

// The event log. Append-only and deliberately without a secondary index:
// an index keyed by a random value (event id, user id) makes appends ~10x
// slower (DESIGN.md, Storage); duplicates are detected in memory over a
// window rebuilt with ScanRecentEventIds(). `seq` is the append order.
// Shared with the append-ceiling baseline so that it measures this table.
inline constexpr char kCreateEventsTableSql[] =
    "CREATE TABLE events("
    "seq INTEGER PRIMARY KEY, "
    "event_id TEXT NOT NULL, "
    "user_id TEXT NOT NULL, "
    "name TEXT NOT NULL, "
    "event_time_us INTEGER NOT NULL, "
    "received_us INTEGER NOT NULL, "
    "payload BLOB NOT NULL)";

// Appends `events` to the log in order, inside the caller's transaction;
// sequence numbers are assigned by the database and returned (0/0 for no
// events). Fails INTERNAL if they are not consecutive, which the caller's
// rollback then undoes: callers rely on event i having first_event_seq + i.
// The hot path of ingest, also what the append-ceiling baseline times.
absl::StatusOr<WriteResult> AppendEvents(Connection& conn,
                                         absl::Span<const EventRecord> events);

// The schema version this build writes; files with a higher
// PRAGMA user_version are refused.
int LatestSchemaVersion();

// Brings the database behind `conn` (a writer) to LatestSchemaVersion(),
// applying the missing steps in order in one transaction. A fresh file is
// version 0. Fails with FAILED_PRECONDITION if the file is newer than this
// build.
absl::Status Migrate(Connection& conn);

// Like Migrate() but stops at version `target` (1..LatestSchemaVersion());
// does nothing to a database already at `target` or later (newer than
// this build still fails). For tests that make files of an older version.
absl::Status MigrateTo(Connection& conn, int target);

}  // namespace hark::store::internal

#endif  // HARK_SERVER_STORE_SCHEMA_H_
