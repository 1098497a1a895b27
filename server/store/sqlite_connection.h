#ifndef HARK_SERVER_STORE_SQLITE_CONNECTION_H_
#define HARK_SERVER_STORE_SQLITE_CONNECTION_H_

// Internal to server/store/: a thin RAII layer over the sqlite3 C API.
// Nothing outside server/store/ may include this header (DESIGN.md, Layout:
// the store is the only code that knows SQLite).

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/store.h"

namespace hark::store::internal {

// The path that names a private in-memory database.
inline constexpr absl::string_view kInMemoryPath = ":memory:";

// Maps a SQLite result code (primary or extended) to the closest
// absl::StatusCode. BUSY/LOCKED become UNAVAILABLE (retrying later may
// succeed), NOMEM/FULL RESOURCE_EXHAUSTED, CORRUPT DATA_LOSS, problems of
// the environment (cannot open, not a database, read-only, permissions) and
// constraint violations FAILED_PRECONDITION, TOOBIG/RANGE INVALID_ARGUMENT,
// INTERRUPT CANCELLED, the rest INTERNAL.
absl::StatusCode StatusCodeForSqlite(int rc);

class Connection;

// A handle on a statement cached by a Connection. Destroying the handle
// resets the statement, which ends the implicit read transaction of a SELECT
// (an unreset statement would pin a WAL snapshot and stall checkpoints) and
// drops its bindings. Must not outlive its Connection.
class Statement {
 public:
  Statement(Connection* conn, sqlite3_stmt* stmt) : conn_(conn), stmt_(stmt) {}
  Statement(Statement&& other) noexcept
      : conn_(other.conn_), stmt_(other.stmt_) {
    other.stmt_ = nullptr;
  }
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameter indexes start at 1, as in SQLite. Text and blobs are bound
  // without copying: the bytes must stay valid until the next Reset() or the
  // end of the handle. An empty value binds as empty, never as NULL.
  absl::Status BindText(int index, absl::string_view text);
  absl::Status BindBlob(int index, absl::string_view bytes);
  absl::Status BindInt64(int index, int64_t value);
  absl::Status BindDouble(int index, double value);
  // NULL, for the nullable columns (times not reached yet).
  absl::Status BindNull(int index);

  // Advances the statement: true if a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps a statement that must not return rows (INSERT, UPDATE, ...).
  absl::Status Run();
  // Makes the statement ready to run again; bindings are kept until rebound.
  void Reset();

  // Column indexes start at 0. The views stay valid until the next Step(),
  // Reset() or the end of the handle. NULL reads as empty or 0.
  absl::string_view ColumnText(int index) const;
  absl::string_view ColumnBlob(int index) const;
  int64_t ColumnInt64(int index) const;
  double ColumnDouble(int index) const;
  bool ColumnIsNull(int index) const;

  sqlite3_stmt* raw() const { return stmt_; }

 private:
  absl::Status Failed(int rc) const;

  Connection* conn_;
  sqlite3_stmt* stmt_;
};

// One sqlite3 connection with a cache of prepared statements. Not
// thread-safe: the owner serializes all use (SQLite is opened in
// multi-thread mode, SQLITE_OPEN_NOMUTEX, so that we do not pay for a second
// layer of locking).
class Connection {
 public:
  // Opens the database at `path` (":memory:" for a private in-memory one).
  // `read_only` connections never create the file.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& path, bool read_only, absl::Duration busy_timeout);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A status for the failure `rc` that just happened on this connection,
  // naming the database file, `what` was being done and SQLite's message.
  absl::Status Error(int rc, absl::string_view what) const;

  // The statement for `sql`, prepared on first use and reused afterwards
  // (the cache lives as long as the connection; SQLite re-prepares cached
  // statements by itself after a schema change).
  absl::StatusOr<Statement> Prepare(absl::string_view sql);

  // Runs one statement through the cache, ignoring any rows.
  absl::Status Exec(absl::string_view sql);
  // Runs a script of several statements without caching (migrations, DDL).
  absl::Status ExecScript(const std::string& sql);
  // Runs `sql` and returns the first column of its first row.
  absl::StatusOr<int64_t> QueryInt64(absl::string_view sql);
  absl::StatusOr<std::string> QueryText(absl::string_view sql);

  bool in_memory() const { return path_ == kInMemoryPath; }
  // True while a transaction is open on this connection.
  bool in_transaction() const;
  sqlite3* db() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Connection(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  const std::string path_;
  absl::flat_hash_map<std::string, sqlite3_stmt*> cache_;
};

// Opens the connection that writes: creates the file if needed, switches a
// file database to WAL (failing if the file system cannot do WAL) and sets
// `synchronous` from `durability`.
absl::StatusOr<std::unique_ptr<Connection>> OpenWriter(
    const std::string& path, Durability durability,
    absl::Duration busy_timeout);

// Opens a read-only connection on an existing file database.
absl::StatusOr<std::unique_ptr<Connection>> OpenReader(
    const std::string& path, absl::Duration busy_timeout);

// Checkpoints the WAL of a file database on a thread of its own, so that
// the connection that writes never copies WAL frames back into the database
// (nor waits for the fsyncs of a checkpoint) inside a commit. Attach()
// turns off the writer's built-in auto-checkpoint and installs a WAL hook
// that wakes the thread once the WAL holds `pages` frames; the thread then
// runs a PASSIVE checkpoint on its own connection, which never blocks the
// writer or readers and copies what no reader still needs. SQLite restarts
// the WAL from its beginning at the first commit after a complete
// checkpoint, so the file stays near `pages` pages while readers let it.
class WalCheckpointer {
 public:
  // Opens the thread's connection on the file database `path`, which the
  // writer created already.
  static absl::StatusOr<std::unique_ptr<WalCheckpointer>> Start(
      const std::string& path, Durability durability,
      absl::Duration busy_timeout, int pages);
  // Stops the thread after a last checkpoint. The writer it was attached to
  // must be closed or detached (Detach) before.
  ~WalCheckpointer();

  // Hooks `writer` (the one connection that writes). The hook runs on the
  // writer's thread after each commit and only signals.
  void Attach(Connection& writer);
  static void Detach(Connection& writer);

  // Checkpoints run so far (complete or not); for tests and stats.
  uint64_t checkpoints() const;
  // Waits until at least `n` checkpoints ran or `timeout` passed; says
  // which. For tests.
  bool AwaitCheckpoints(uint64_t n, absl::Duration timeout) const;

 private:
  WalCheckpointer(std::unique_ptr<Connection> conn, int pages);
  static int OnCommit(void* self, sqlite3* db, const char* name, int frames);
  void Loop();

  std::unique_ptr<Connection> conn_;  // the thread's only
  const int pages_;
  mutable absl::Mutex mu_;
  bool due_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t checkpoints_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// Runs `begin`, then `body`, then COMMIT. If `body` or the COMMIT fails,
// rolls back so that nothing of the transaction stays, and returns the
// first error. The two kinds below differ only in `begin`.
template <typename Body>
absl::Status RunTransaction(Connection& conn, absl::string_view begin,
                            Body&& body) {
  absl::Status status = conn.Exec(begin);
  if (!status.ok()) return status;
  status = body();
  if (status.ok()) status = conn.Exec("COMMIT");
  // SQLite rolls back by itself after some errors (e.g. SQLITE_FULL); only
  // an open transaction needs (and accepts) a ROLLBACK. The rollback's own
  // error, if any, is secondary to the one being returned.
  if (!status.ok() && conn.in_transaction())
    conn.Exec("ROLLBACK").IgnoreError();
  return status;
}

// A write transaction: BEGIN IMMEDIATE takes the write lock at once.
template <typename Body>
absl::Status InTransaction(Connection& conn, Body&& body) {
  return RunTransaction(conn, "BEGIN IMMEDIATE", std::forward<Body>(body));
}

// A read transaction: BEGIN (deferred: no lock until the first read). For
// reads that run several statements: they all see one snapshot of the
// database, so their results agree with each other (a write committed
// meanwhile is invisible to all of them). Works on read-only connections.
template <typename Body>
absl::Status InReadTransaction(Connection& conn, Body&& body) {
  return RunTransaction(conn, "BEGIN", std::forward<Body>(body));
}

}  // namespace hark::store::internal

#endif  // HARK_SERVER_STORE_SQLITE_CONNECTION_H_
