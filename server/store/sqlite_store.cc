// The SQLite implementation of Store.
//
// Connections: one writer connection, used by the writing methods (Write,
// AppendMatches, SaveCheckpoint) under write_mu_, whatever thread calls
// them. For a
// file database, reads run on read-only connections taken from a small pool,
// so they proceed concurrently with Write() (WAL gives each read statement a
// consistent snapshot) and with each other. A ":memory:" database is private
// to its connection, so reads share the writer connection under write_mu_.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
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
constexpr char kSelectEventsAfterSql[] =
    "SELECT seq, event_id, user_id, name, event_time_us, received_us, payload "
    "FROM events WHERE seq > ? ORDER BY seq";
constexpr char kSelectEventBySeqSql[] =
    "SELECT seq, event_id, user_id, name, event_time_us, received_us, payload "
    "FROM events WHERE seq = ?";
// A replayed match keeps the row (and created_us) of its first write.
constexpr char kInsertMatchSql[] =
    "INSERT INTO matches(match_id, rule_id, rule_version, user_id, group_key, "
    "matched_at_us, at_deadline, created_us, context) "
    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(match_id) DO NOTHING";
constexpr char kUpsertCheckpointSql[] =
    "INSERT INTO engine_checkpoints(shard, last_seq, saved_us, state) "
    "VALUES(?, ?, ?, ?) "
    "ON CONFLICT(shard) DO UPDATE SET last_seq = excluded.last_seq, "
    "saved_us = excluded.saved_us, state = excluded.state";
constexpr char kSelectCheckpointSql[] =
    "SELECT last_seq, saved_us, state FROM engine_checkpoints WHERE shard = ?";
constexpr char kSelectAllTraitsSql[] =
    "SELECT user_id, key, value, set_at_us FROM traits ORDER BY user_id, key";

constexpr uint32_t kDefaultMatchPageSize = 50;
constexpr uint32_t kMaxMatchPageSize = 1000;

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// Copies into `to`, reusing its capacity (absl::string_view is not
// std::string_view here, so std::string::assign does not take it).
void Assign(std::string& to, absl::string_view from) {
  to.assign(from.data(), from.size());
}

// Reads the columns of kSelectEventsAfterSql / kSelectEventBySeqSql.
void ReadEvent(const Statement& row, EventRecord& record) {
  record.seq = row.ColumnInt64(0);
  Assign(record.event_id, row.ColumnText(1));
  Assign(record.user_id, row.ColumnText(2));
  Assign(record.name, row.ColumnText(3));
  record.event_time = absl::FromUnixMicros(row.ColumnInt64(4));
  record.received_at = absl::FromUnixMicros(row.ColumnInt64(5));
  Assign(record.payload, row.ColumnBlob(6));
}

// --- ListMatches page tokens ---
//
// A token names the position after which the next page starts (the last
// row's matched_at_us and match_id) and the filter it belongs to, so that a
// token cannot silently be replayed against another filter. The layout,
// web-safe base64 of
//   "m1;" <matched_at_us> ";" <len>":"<rule_id> <len>":"<user_id>
//   <len>":"<match_id>
// is private to this file: clients treat tokens as opaque.

struct PagePosition {
  int64_t matched_at_us = 0;
  std::string match_id;
};

constexpr absl::string_view kTokenPrefix = "m1;";

void AppendField(std::string& out, absl::string_view field) {
  absl::StrAppend(&out, field.size(), ":", field);
}

// Consumes one length-prefixed field from the front of `in`.
bool ConsumeField(absl::string_view& in, std::string& field) {
  const size_t colon = in.find(':');
  if (colon == absl::string_view::npos) return false;
  size_t size = 0;
  if (!absl::SimpleAtoi(in.substr(0, colon), &size)) return false;
  in.remove_prefix(colon + 1);
  if (size > in.size()) return false;
  Assign(field, in.substr(0, size));
  in.remove_prefix(size);
  return true;
}

std::string EncodePageToken(const MatchFilter& filter,
                            const MatchRecord& last) {
  std::string raw =
      absl::StrCat(kTokenPrefix, absl::ToUnixMicros(last.matched_at), ";");
  AppendField(raw, filter.rule_id);
  AppendField(raw, filter.user_id);
  AppendField(raw, last.match_id);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<PagePosition> DecodePageToken(const MatchFilter& filter) {
  const absl::Status bad = absl::InvalidArgumentError(
      "list matches: invalid page_token; pass back the next_page_token of "
      "the previous page unchanged, with the same rule and user filters, or "
      "leave it empty to start from the newest match");
  std::string raw;
  if (!absl::WebSafeBase64Unescape(filter.page_token, &raw)) return bad;
  absl::string_view in = raw;
  if (!absl::ConsumePrefix(&in, kTokenPrefix)) return bad;
  const size_t semicolon = in.find(';');
  if (semicolon == absl::string_view::npos) return bad;
  PagePosition position;
  if (!absl::SimpleAtoi(in.substr(0, semicolon), &position.matched_at_us)) {
    return bad;
  }
  in.remove_prefix(semicolon + 1);
  std::string rule_id;
  std::string user_id;
  if (!ConsumeField(in, rule_id) || !ConsumeField(in, user_id) ||
      !ConsumeField(in, position.match_id) || !in.empty()) {
    return bad;
  }
  if (rule_id != filter.rule_id || user_id != filter.user_id) {
    return absl::InvalidArgumentError(
        "list matches: the page_token belongs to another rule or user "
        "filter; keep the filters unchanged while paging, or start again "
        "with an empty page_token");
  }
  return position;
}

// The query for one combination of filters. Parameters: ?1 rule_id,
// ?2 user_id, ?3 and ?4 the position, ?5 the limit; only those of the
// present conditions appear. Each index of the matches table serves its
// combination in order (see schema.cc, version 2), so a page costs
// O(log n + page size) however deep the client pages.
std::string ListMatchesSql(bool by_rule, bool by_user, bool after_position) {
  std::vector<absl::string_view> conditions;
  if (by_rule) conditions.push_back("rule_id = ?1");
  if (by_user) conditions.push_back("user_id = ?2");
  // A row-value comparison: portable (PostgreSQL has it too) and used as an
  // index range by SQLite.
  if (after_position) {
    conditions.push_back("(matched_at_us, match_id) < (?3, ?4)");
  }
  return absl::StrCat(
      "SELECT match_id, rule_id, rule_version, user_id, group_key, "
      "matched_at_us, at_deadline, created_us, context FROM matches",
      conditions.empty() ? "" : " WHERE ", absl::StrJoin(conditions, " AND "),
      " ORDER BY matched_at_us DESC, match_id DESC LIMIT ?5");
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
  absl::StatusOr<std::vector<EventRecord>> GetEventsBySeq(
      absl::Span<const int64_t> seqs) override;
  absl::Status AppendMatches(absl::Span<const MatchRecord> matches) override;
  absl::StatusOr<MatchPage> ListMatches(const MatchFilter& filter) override;
  absl::Status SaveCheckpoint(int shard, int64_t last_seq, absl::Time saved_at,
                              absl::string_view state) override;
  absl::StatusOr<std::optional<Checkpoint>> LoadCheckpoint(int shard) override;
  absl::Status ScanTraits(
      absl::FunctionRef<void(const TraitRecord&)> fn) override;
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
    ASSIGN_OR_RETURN(Statement scan, conn.Prepare(kSelectEventsAfterSql));
    RETURN_IF_ERROR(scan.BindInt64(1, after_seq));
    // One record reused for every row, so its strings keep their capacity.
    EventRecord record;
    while (true) {
      ASSIGN_OR_RETURN(bool row, scan.Step());
      if (!row) return absl::OkStatus();
      ReadEvent(scan, record);
      fn(record.seq, record);
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

absl::StatusOr<std::vector<EventRecord>> SqliteStore::GetEventsBySeq(
    absl::Span<const int64_t> seqs) {
  std::vector<EventRecord> events;
  if (seqs.empty()) return events;
  events.reserve(seqs.size());
  // One primary-key lookup per seq rather than one IN (...) query: the
  // statement stays cached whatever the number of seqs, and the order asked
  // comes for free. Events never change once committed, so lookups in
  // different snapshots cannot disagree.
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement lookup, conn.Prepare(kSelectEventBySeqSql));
    for (const int64_t seq : seqs) {
      RETURN_IF_ERROR(lookup.BindInt64(1, seq));
      ASSIGN_OR_RETURN(bool row, lookup.Step());
      if (row) ReadEvent(lookup, events.emplace_back());
      lookup.Reset();
    }
    return absl::OkStatus();
  }));
  return events;
}

absl::Status SqliteStore::AppendMatches(absl::Span<const MatchRecord> matches) {
  if (matches.empty()) return absl::OkStatus();
  for (const MatchRecord& m : matches) {
    if (m.match_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "append matches: a match of rule \"", m.rule_id, "\" for user \"",
          m.user_id, "\" has an empty match_id"));
    }
  }
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  return internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Statement insert, conn.Prepare(kInsertMatchSql));
    for (const MatchRecord& m : matches) {
      RETURN_IF_ERROR(insert.BindText(1, m.match_id));
      RETURN_IF_ERROR(insert.BindText(2, m.rule_id));
      RETURN_IF_ERROR(insert.BindText(3, m.rule_version));
      RETURN_IF_ERROR(insert.BindText(4, m.user_id));
      RETURN_IF_ERROR(insert.BindText(5, m.group_key));
      RETURN_IF_ERROR(insert.BindInt64(6, Micros(m.matched_at)));
      RETURN_IF_ERROR(insert.BindInt64(7, m.at_deadline ? 1 : 0));
      RETURN_IF_ERROR(insert.BindInt64(8, Micros(m.created_at)));
      RETURN_IF_ERROR(insert.BindBlob(9, m.context));
      RETURN_IF_ERROR(insert.Run());
      insert.Reset();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<MatchPage> SqliteStore::ListMatches(const MatchFilter& filter) {
  std::optional<PagePosition> position;
  if (!filter.page_token.empty()) {
    ASSIGN_OR_RETURN(position, DecodePageToken(filter));
  }
  const uint32_t page_size =
      filter.page_size == 0 ? kDefaultMatchPageSize
                            : std::min(filter.page_size, kMaxMatchPageSize);
  const bool by_rule = !filter.rule_id.empty();
  const bool by_user = !filter.user_id.empty();
  const std::string sql =
      ListMatchesSql(by_rule, by_user, position.has_value());

  MatchPage page;
  bool more = false;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query, conn.Prepare(sql));
    if (by_rule) RETURN_IF_ERROR(query.BindText(1, filter.rule_id));
    if (by_user) RETURN_IF_ERROR(query.BindText(2, filter.user_id));
    if (position.has_value()) {
      RETURN_IF_ERROR(query.BindInt64(3, position->matched_at_us));
      RETURN_IF_ERROR(query.BindText(4, position->match_id));
    }
    // One row more than the page tells whether another page exists, so the
    // last page carries no token (no empty page at the end).
    RETURN_IF_ERROR(query.BindInt64(5, int64_t{page_size} + 1));
    while (true) {
      ASSIGN_OR_RETURN(bool row, query.Step());
      if (!row) return absl::OkStatus();
      if (page.matches.size() == page_size) {
        more = true;
        return absl::OkStatus();
      }
      MatchRecord& m = page.matches.emplace_back();
      m.match_id = std::string(query.ColumnText(0));
      m.rule_id = std::string(query.ColumnText(1));
      m.rule_version = std::string(query.ColumnText(2));
      m.user_id = std::string(query.ColumnText(3));
      m.group_key = std::string(query.ColumnText(4));
      m.matched_at = absl::FromUnixMicros(query.ColumnInt64(5));
      m.at_deadline = query.ColumnInt64(6) != 0;
      m.created_at = absl::FromUnixMicros(query.ColumnInt64(7));
      m.context = std::string(query.ColumnBlob(8));
    }
  }));
  if (more) page.next_page_token = EncodePageToken(filter, page.matches.back());
  return page;
}

absl::Status SqliteStore::SaveCheckpoint(int shard, int64_t last_seq,
                                         absl::Time saved_at,
                                         absl::string_view state) {
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  return internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Statement upsert, conn.Prepare(kUpsertCheckpointSql));
    RETURN_IF_ERROR(upsert.BindInt64(1, shard));
    RETURN_IF_ERROR(upsert.BindInt64(2, last_seq));
    RETURN_IF_ERROR(upsert.BindInt64(3, Micros(saved_at)));
    RETURN_IF_ERROR(upsert.BindBlob(4, state));
    return upsert.Run();
  });
}

absl::StatusOr<std::optional<Checkpoint>> SqliteStore::LoadCheckpoint(
    int shard) {
  std::optional<Checkpoint> checkpoint;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query, conn.Prepare(kSelectCheckpointSql));
    RETURN_IF_ERROR(query.BindInt64(1, shard));
    ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) return absl::OkStatus();
    Checkpoint& c = checkpoint.emplace();
    c.last_seq = query.ColumnInt64(0);
    c.saved_at = absl::FromUnixMicros(query.ColumnInt64(1));
    c.state = std::string(query.ColumnBlob(2));
    return absl::OkStatus();
  }));
  return checkpoint;
}

absl::Status SqliteStore::ScanTraits(
    absl::FunctionRef<void(const TraitRecord&)> fn) {
  return WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement scan, conn.Prepare(kSelectAllTraitsSql));
    // One record reused for every row, so its strings keep their capacity.
    TraitRecord record;
    while (true) {
      ASSIGN_OR_RETURN(bool row, scan.Step());
      if (!row) return absl::OkStatus();
      Assign(record.user_id, scan.ColumnText(0));
      Assign(record.key, scan.ColumnText(1));
      Assign(record.value, scan.ColumnBlob(2));
      record.set_at = absl::FromUnixMicros(scan.ColumnInt64(3));
      fn(record);
    }
  });
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
