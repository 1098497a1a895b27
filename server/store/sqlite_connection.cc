#include "server/store/sqlite_connection.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "hark/status_macros.h"
#include "hark/thread_name.h"
#include "spdlog/spdlog.h"

namespace hark::store::internal {
namespace {

// Never bind a null pointer: SQLite would store NULL instead of an empty
// value, which the schema's NOT NULL columns reject.
const char* NonNull(absl::string_view s) {
  return s.data() != nullptr ? s.data() : "";
}

// How much of a statement's SQL an error message quotes.
constexpr size_t kSqlInErrors = 60;

std::string DescribeSql(sqlite3_stmt* stmt) {
  const char* sql = stmt != nullptr ? sqlite3_sql(stmt) : nullptr;
  if (sql == nullptr) return "running a statement";
  absl::string_view text(sql);
  if (text.size() <= kSqlInErrors)
    return absl::StrCat("running \"", text, "\"");
  return absl::StrCat("running \"", text.substr(0, kSqlInErrors), "...\"");
}

}  // namespace

absl::StatusCode StatusCodeForSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::StatusCode::kOk;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_NOMEM:
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_CORRUPT:
      return absl::StatusCode::kDataLoss;
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return absl::StatusCode::kInvalidArgument;
    case SQLITE_INTERRUPT:
      return absl::StatusCode::kCancelled;
    default:
      return absl::StatusCode::kInternal;
  }
}

// ---------------------------------------------------------------------------
// Statement

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  // The error code sqlite3_reset repeats is the one Step() already reported.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

absl::Status Statement::Failed(int rc) const {
  return conn_->Error(rc, DescribeSql(stmt_));
}

absl::Status Statement::BindText(int index, absl::string_view text) {
  int rc = sqlite3_bind_text64(stmt_, index, NonNull(text), text.size(),
                               SQLITE_STATIC, SQLITE_UTF8);
  if (rc != SQLITE_OK) return Failed(rc);
  return absl::OkStatus();
}

absl::Status Statement::BindBlob(int index, absl::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, NonNull(bytes), bytes.size(),
                               SQLITE_STATIC);
  if (rc != SQLITE_OK) return Failed(rc);
  return absl::OkStatus();
}

absl::Status Statement::BindInt64(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK) return Failed(rc);
  return absl::OkStatus();
}

absl::Status Statement::BindDouble(int index, double value) {
  int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK) return Failed(rc);
  return absl::OkStatus();
}

absl::Status Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK) return Failed(rc);
  return absl::OkStatus();
}

absl::StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Failed(rc);
}

absl::Status Statement::Run() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_DONE) return absl::OkStatus();
  if (rc == SQLITE_ROW) {
    return conn_->Error(
        SQLITE_MISUSE,
        absl::StrCat(DescribeSql(stmt_), " (expected no rows, got one)"));
  }
  return Failed(rc);
}

void Statement::Reset() { sqlite3_reset(stmt_); }

absl::string_view Statement::ColumnText(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  if (text == nullptr) return {};
  return absl::string_view(reinterpret_cast<const char*>(text),
                           sqlite3_column_bytes(stmt_, index));
}

absl::string_view Statement::ColumnBlob(int index) const {
  const void* blob = sqlite3_column_blob(stmt_, index);
  if (blob == nullptr) return {};
  return absl::string_view(static_cast<const char*>(blob),
                           sqlite3_column_bytes(stmt_, index));
}

int64_t Statement::ColumnInt64(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

double Statement::ColumnDouble(int index) const {
  return sqlite3_column_double(stmt_, index);
}

bool Statement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

// ---------------------------------------------------------------------------
// Connection

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(
    const std::string& path, bool read_only, absl::Duration busy_timeout) {
  if (path.empty()) {
    // SQLite would silently create an anonymous temporary file.
    return absl::InvalidArgumentError(
        "sqlite store: empty database path (use \":memory:\" for an "
        "in-memory database)");
  }
  if (sqlite3_threadsafe() == 0) {
    return absl::FailedPreconditionError(
        "sqlite store: the linked SQLite was built single-threaded "
        "(SQLITE_THREADSAFE=0); Hark reads and writes from several threads");
  }
  int flags = SQLITE_OPEN_NOMUTEX |
              (read_only ? SQLITE_OPEN_READONLY
                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  // The connection owns `db` from here on, even if the open failed (SQLite
  // allocates a handle to carry the error message).
  auto conn = absl::WrapUnique(new Connection(db, path));
  if (rc != SQLITE_OK) return conn->Error(rc, "opening the database");
  sqlite3_extended_result_codes(db, 1);
  const int64_t ms =
      std::clamp<int64_t>(absl::ToInt64Milliseconds(busy_timeout), 0,
                          std::numeric_limits<int>::max());
  rc = sqlite3_busy_timeout(db, static_cast<int>(ms));
  if (rc != SQLITE_OK) return conn->Error(rc, "setting the busy timeout");
  return conn;
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  // All statements are finalized, so close cannot report SQLITE_BUSY; in WAL
  // mode the last connection to close checkpoints and removes the WAL file.
  sqlite3_close(db_);
}

absl::Status Connection::Error(int rc, absl::string_view what) const {
  // sqlite3_errmsg describes the most recent failure of this connection,
  // which is `rc` because connections are never shared between threads.
  const char* message =
      db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return absl::Status(StatusCodeForSqlite(rc) == absl::StatusCode::kOk
                          ? absl::StatusCode::kInternal
                          : StatusCodeForSqlite(rc),
                      absl::StrCat("sqlite store ", path_, ": ", what, ": ",
                                   message, " (sqlite code ", rc, ")"));
}

absl::StatusOr<Statement> Connection::Prepare(absl::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Statement(this, it->second);
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_, NonNull(sql), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    return Error(rc, absl::StrCat("preparing \"", sql, "\""));
  }
  if (stmt == nullptr) {
    return absl::InternalError(absl::StrCat("sqlite store ", path_,
                                            ": no statement in \"", sql, "\""));
  }
  cache_.emplace(std::string(sql), stmt);
  return Statement(this, stmt);
}

absl::Status Connection::Exec(absl::string_view sql) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  // Some statements (PRAGMAs) return a row; they are run to completion.
  while (true) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return absl::OkStatus();
  }
}

absl::Status Connection::ExecScript(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string text = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return absl::Status(
      StatusCodeForSqlite(rc),
      absl::StrCat("sqlite store ", path_, ": running a schema script: ", text,
                   " (sqlite code ", rc, ")"));
}

absl::StatusOr<int64_t> Connection::QueryInt64(absl::string_view sql) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return absl::InternalError(
        absl::StrCat("sqlite store ", path_, ": no row from \"", sql, "\""));
  }
  return stmt.ColumnInt64(0);
}

absl::StatusOr<std::string> Connection::QueryText(absl::string_view sql) {
  ASSIGN_OR_RETURN(Statement stmt, Prepare(sql));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return absl::InternalError(
        absl::StrCat("sqlite store ", path_, ": no row from \"", sql, "\""));
  }
  return std::string(stmt.ColumnText(0));
}

bool Connection::in_transaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Connection>> OpenWriter(
    const std::string& path, Durability durability,
    absl::Duration busy_timeout) {
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                   Connection::Open(path, /*read_only=*/false, busy_timeout));
  if (!conn->in_memory()) {
    // WAL lets readers run on their own connections while the writer
    // commits, and turns each commit into a sequential append.
    ASSIGN_OR_RETURN(std::string mode,
                     conn->QueryText("PRAGMA journal_mode=WAL"));
    if (absl::AsciiStrToLower(mode) != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite store ", path,
                       ": cannot switch the database to WAL mode "
                       "(journal_mode stays \"",
                       mode,
                       "\"); WAL needs a local file "
                       "system that supports shared memory"));
    }
  }
  // In WAL mode NORMAL syncs only at checkpoints: a commit survives a crash
  // of the process but maybe not a power loss; FULL syncs every commit.
  RETURN_IF_ERROR(conn->Exec(durability == Durability::kFull
                                 ? "PRAGMA synchronous=FULL"
                                 : "PRAGMA synchronous=NORMAL"));
  // The writer probes the users and traits primary keys for every row; a
  // larger page cache (16 MiB instead of 2) keeps their upper levels hot.
  RETURN_IF_ERROR(conn->Exec("PRAGMA cache_size=-16384"));
  return conn;
}

absl::StatusOr<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(
    const std::string& path, Durability durability, absl::Duration busy_timeout,
    int pages) {
  if (path == kInMemoryPath || pages <= 0) {
    return absl::InvalidArgumentError(
        "WalCheckpointer needs a file database and pages > 0");
  }
  // OpenWriter, not OpenReader: a checkpoint writes into the database file,
  // with the fsyncs that `durability` asks for.
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn,
                   OpenWriter(path, durability, busy_timeout));
  // Its own connection never checkpoints on commit (it never commits).
  RETURN_IF_ERROR(conn->Exec("PRAGMA wal_autocheckpoint=0"));
  return absl::WrapUnique(new WalCheckpointer(std::move(conn), pages));
}

WalCheckpointer::WalCheckpointer(std::unique_ptr<Connection> conn, int pages)
    : conn_(std::move(conn)), pages_(pages) {
  thread_ = std::thread([this] {
    SetThreadName("hark-walckpt");
    Loop();
  });
}

WalCheckpointer::~WalCheckpointer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void WalCheckpointer::Attach(Connection& writer) {
  // sqlite3_wal_hook replaces the auto-checkpoint hook: from now on only
  // this thread checkpoints (and SQLite when the last connection closes).
  sqlite3_wal_hook(writer.db(), &WalCheckpointer::OnCommit, this);
}

void WalCheckpointer::Detach(Connection& writer) {
  sqlite3_wal_hook(writer.db(), nullptr, nullptr);
}

uint64_t WalCheckpointer::checkpoints() const {
  absl::MutexLock lock(&mu_);
  return checkpoints_;
}

bool WalCheckpointer::AwaitCheckpoints(uint64_t n,
                                       absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return checkpoints_ >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

int WalCheckpointer::OnCommit(void* self, sqlite3*, const char*, int frames) {
  auto* c = static_cast<WalCheckpointer*>(self);
  if (frames >= c->pages_) {
    absl::MutexLock lock(&c->mu_);
    c->due_ = true;
  }
  return SQLITE_OK;
}

void WalCheckpointer::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](WalCheckpointer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->due_ || c->stopping_;
          },
          this));
      if (stopping_) return;
      due_ = false;
    }
    int log_frames = 0;
    int copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(
        conn_->db(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log_frames, &copied);
    // BUSY: another checkpoint is running (another process); the next
    // commit past the threshold asks again.
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("sqlite store {}: WAL checkpoint failed: {}", conn_->path(),
                   conn_->Error(rc, "checkpointing the WAL").ToString());
    }
    absl::MutexLock lock(&mu_);
    ++checkpoints_;
  }
}

absl::StatusOr<std::unique_ptr<Connection>> OpenReader(
    const std::string& path, absl::Duration busy_timeout) {
  return Connection::Open(path, /*read_only=*/true, busy_timeout);
}

}  // namespace hark::store::internal
