// The SQLite implementation of Store.
//
// Connections: one writer connection, used by the writing methods (Write,
// AppendMatches, SaveCheckpoint, AppendDecisions, FeedDuePrompts,
// UpdatePromptState, ExpirePrompts) under write_mu_, whatever thread calls
// them. For a file database, reads run on read-only connections taken from a
// small pool, so they proceed concurrently with Write() (WAL gives each read
// statement a consistent snapshot) and with each other. A ":memory:" database
// is private to its connection, so reads share the writer connection under
// write_mu_.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
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

// Every match, with the columns ReadMatch() reads.
constexpr char kSelectMatchesSql[] =
    "SELECT match_id, rule_id, rule_version, user_id, group_key, "
    "matched_at_us, at_deadline, created_us, context FROM matches";
// The columns ReadMatch() reads, oldest stored first. Each match probes the
// decisions primary key; the scan of matches (and its sort) runs once at start,
// so it has no index of its own (schema.cc, version 3).
constexpr char kSelectUndecidedMatchesSql[] =
    "SELECT match_id, rule_id, rule_version, user_id, group_key, "
    "matched_at_us, at_deadline, created_us, context FROM matches "
    "WHERE NOT EXISTS (SELECT 1 FROM decisions "
    "WHERE decisions.match_id = matches.match_id) "
    "ORDER BY created_us, match_id LIMIT ?";

// --- Orchestration ---
//
// The SQL below names prompt states by their numbers (hark.v1.Prompt.State)
// because the partial indexes of schema version 3 do, and SQLite uses a
// partial index only for a query that repeats its WHERE terms verbatim.
static_assert(static_cast<int>(PromptState::kPending) == 1 &&
                  static_cast<int>(PromptState::kDelivered) == 2 &&
                  static_cast<int>(PromptState::kShown) == 3 &&
                  static_cast<int>(PromptState::kExpired) == 6,
              "the SQL and the indexes of schema version 3 use these numbers");

// A decision already stored for the match (a retry, or a replay after a
// crash) keeps its row, and a decision whose match is no longer stored (a
// DeleteUser() that ran while the match was being decided) is not stored:
// sqlite3_changes() then reports 0. The probe is by the matches primary
// key.
constexpr char kInsertDecisionSql[] =
    "INSERT INTO decisions(match_id, user_id, rule_id, rule_version, kind, "
    "target, outcome, reason, matched_at_us, decided_at_us) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 "
    "WHERE EXISTS (SELECT 1 FROM matches WHERE match_id = ?1) "
    "ON CONFLICT(match_id) DO NOTHING";
constexpr char kSelectUserDecisionsSql[] =
    "SELECT match_id, user_id, rule_id, rule_version, kind, target, outcome, "
    "reason, matched_at_us, decided_at_us FROM decisions WHERE user_id = ? "
    "ORDER BY decided_at_us, match_id";
// A prompt enters the feed only through FeedDuePrompts(): feed_seq starts
// NULL whatever the record says.
constexpr char kInsertPromptSql[] =
    "INSERT INTO prompts(prompt_id, match_id, user_id, kind, rule_id, "
    "definition_id, priority, created_us, due_us, expires_us, state, "
    "delivered_us, shown_us, closed_us, feed_seq, body) "
    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)";
// The columns ReadPrompt() reads, in its order.
constexpr absl::string_view kPromptColumns =
    "prompt_id, match_id, user_id, kind, rule_id, definition_id, priority, "
    "created_us, due_us, expires_us, state, delivered_us, shown_us, "
    "closed_us, feed_seq, body";
// The WHERE terms of the partial index unfed_prompts_by_due (schema
// version 4), verbatim: open prompts (pending, delivered, shown) not yet
// fed.
constexpr absl::string_view kUnfedOpen =
    "feed_seq IS NULL AND state IN (1, 2, 3)";
constexpr char kSelectFeedSeqSql[] =
    "SELECT value FROM store_counters WHERE name = 'feed_seq'";
constexpr char kSetFeedSeqSql[] =
    "UPDATE store_counters SET value = ? WHERE name = 'feed_seq'";
constexpr char kFeedPromptSql[] =
    "UPDATE prompts SET feed_seq = ? WHERE prompt_id = ?";
// Parameters: ?1 the new state, ?2 the time of the change, ?3 prompt_id.
constexpr char kSetStateSql[] =
    "UPDATE prompts SET state = ?1 WHERE prompt_id = ?3";
constexpr char kSetDeliveredSql[] =
    "UPDATE prompts SET state = ?1, delivered_us = ?2 WHERE prompt_id = ?3";
constexpr char kSetShownSql[] =
    "UPDATE prompts SET state = ?1, shown_us = ?2 WHERE prompt_id = ?3";
constexpr char kSetClosedSql[] =
    "UPDATE prompts SET state = ?1, closed_us = ?2 WHERE prompt_id = ?3";
// `state IN (1, 2, 3)` is the WHERE of the partial index
// open_prompts_by_expiry, verbatim.
constexpr char kExpirePromptsSql[] =
    "UPDATE prompts SET state = 6, closed_us = expires_us "
    "WHERE state IN (1, 2, 3) AND expires_us <= ?";

constexpr uint32_t kDefaultMatchPageSize = 50;
constexpr uint32_t kMaxMatchPageSize = 1000;

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// Copies into `to`, reusing its capacity (absl::string_view is not
// std::string_view here, so std::string::assign does not take it).
void Assign(std::string& to, absl::string_view from) {
  to.assign(from.data(), from.size());
}

// A LIMIT for SQLite, which takes a signed 64-bit integer.
int64_t SqlLimit(size_t limit) {
  return static_cast<int64_t>(
      std::min<uint64_t>(limit, std::numeric_limits<int64_t>::max()));
}

std::optional<absl::Time> OptionalTime(const Statement& row, int index) {
  if (row.ColumnIsNull(index)) return std::nullopt;
  return absl::FromUnixMicros(row.ColumnInt64(index));
}

absl::Status BindOptionalTime(Statement& stmt, int index,
                              const std::optional<absl::Time>& t) {
  return t.has_value() ? stmt.BindInt64(index, Micros(*t))
                       : stmt.BindNull(index);
}

// Reads the columns of kSelectMatchesSql.
void ReadMatch(const Statement& row, MatchRecord& m) {
  Assign(m.match_id, row.ColumnText(0));
  Assign(m.rule_id, row.ColumnText(1));
  Assign(m.rule_version, row.ColumnText(2));
  Assign(m.user_id, row.ColumnText(3));
  Assign(m.group_key, row.ColumnText(4));
  m.matched_at = absl::FromUnixMicros(row.ColumnInt64(5));
  m.at_deadline = row.ColumnInt64(6) != 0;
  m.created_at = absl::FromUnixMicros(row.ColumnInt64(7));
  Assign(m.context, row.ColumnBlob(8));
}

// Reads the columns of kSelectUserDecisionsSql.
void ReadDecision(const Statement& row, DecisionRecord& d) {
  Assign(d.match_id, row.ColumnText(0));
  Assign(d.user_id, row.ColumnText(1));
  Assign(d.rule_id, row.ColumnText(2));
  Assign(d.rule_version, row.ColumnText(3));
  d.kind = static_cast<int>(row.ColumnInt64(4));
  Assign(d.target, row.ColumnText(5));
  Assign(d.outcome, row.ColumnText(6));
  Assign(d.reason, row.ColumnText(7));
  d.matched_at = absl::FromUnixMicros(row.ColumnInt64(8));
  d.decided_at = absl::FromUnixMicros(row.ColumnInt64(9));
}

// Reads the columns of kPromptColumns.
void ReadPrompt(const Statement& row, PromptRecord& p) {
  Assign(p.prompt_id, row.ColumnText(0));
  Assign(p.match_id, row.ColumnText(1));
  Assign(p.user_id, row.ColumnText(2));
  p.kind = static_cast<int>(row.ColumnInt64(3));
  Assign(p.rule_id, row.ColumnText(4));
  Assign(p.definition_id, row.ColumnText(5));
  p.priority = static_cast<int>(row.ColumnInt64(6));
  p.created_at = absl::FromUnixMicros(row.ColumnInt64(7));
  p.due_at = absl::FromUnixMicros(row.ColumnInt64(8));
  p.expires_at = absl::FromUnixMicros(row.ColumnInt64(9));
  p.state = static_cast<PromptState>(row.ColumnInt64(10));
  p.delivered_at = OptionalTime(row, 11);
  p.shown_at = OptionalTime(row, 12);
  p.closed_at = OptionalTime(row, 13);
  p.feed_seq = row.ColumnInt64(14);  // NULL (not fed) reads as 0
  Assign(p.body, row.ColumnBlob(15));
}

// "SELECT <kPromptColumns> FROM prompts <rest>".
std::string SelectPromptsSql(absl::string_view rest) {
  return absl::StrCat("SELECT ", kPromptColumns, " FROM prompts ", rest);
}

// Runs `query` (bound, selecting kPromptColumns) to the end.
absl::StatusOr<std::vector<PromptRecord>> ReadPrompts(Statement& query) {
  std::vector<PromptRecord> prompts;
  while (true) {
    ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) return prompts;
    ReadPrompt(query, prompts.emplace_back());
  }
}

// The prompt `prompt_id` as `conn` sees it; nullopt if there is none.
absl::StatusOr<std::optional<PromptRecord>> LookUpPrompt(
    Connection& conn, absl::string_view prompt_id) {
  ASSIGN_OR_RETURN(Statement query,
                   conn.Prepare(SelectPromptsSql("WHERE prompt_id = ?")));
  RETURN_IF_ERROR(query.BindText(1, prompt_id));
  ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return std::nullopt;
  std::optional<PromptRecord> prompt(std::in_place);
  ReadPrompt(query, *prompt);
  return prompt;
}

// The last feed sequence number given (the store_counters row that version
// 3 of the schema adds).
absl::StatusOr<int64_t> LastFeedSeqOf(Connection& conn) {
  ASSIGN_OR_RETURN(Statement query, conn.Prepare(kSelectFeedSeqSql));
  ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) {
    return absl::DataLossError(
        absl::StrCat("sqlite store ", conn.path(),
                     ": the counter row \"feed_seq\" is missing"));
  }
  return query.ColumnInt64(0);
}

bool ValidPromptState(PromptState state) {
  const int n = static_cast<int>(state);
  return n >= static_cast<int>(PromptState::kPending) &&
         n <= static_cast<int>(PromptState::kExpired);
}

// The statement that moves a prompt to `to` and sets the time column that
// belongs to it (kSetStateSql's parameters).
const char* SetStateSql(PromptState to) {
  switch (to) {
    case PromptState::kPending:
      return kSetStateSql;
    case PromptState::kDelivered:
      return kSetDeliveredSql;
    case PromptState::kShown:
      return kSetShownSql;
    case PromptState::kAnswered:
    case PromptState::kDismissed:
    case PromptState::kExpired:
      return kSetClosedSql;
  }
  return kSetStateSql;
}

// The query CountSentDecisions() runs for one combination of filters.
// Parameters: ?1 user_id, ?2 rule_id, ?3 target, ?4 kind, ?5 since; only
// those of the present filters appear. `outcome = 'sent'` is the WHERE of
// the partial indexes sent_decisions_by_* verbatim, so that SQLite can use
// the one of the user, rule or target filter (schema.cc, version 3).
std::string CountSentSql(bool by_user, bool by_rule, bool by_target,
                         bool by_kind) {
  std::vector<absl::string_view> conditions = {"outcome = 'sent'"};
  if (by_user) conditions.push_back("user_id = ?1");
  if (by_rule) conditions.push_back("rule_id = ?2");
  if (by_target) conditions.push_back("target = ?3");
  if (by_kind) conditions.push_back("kind = ?4");
  conditions.push_back("decided_at_us >= ?5");
  return absl::StrCat("SELECT COUNT(*) FROM decisions WHERE ",
                      absl::StrJoin(conditions, " AND "));
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
  return absl::StrCat(kSelectMatchesSql, conditions.empty() ? "" : " WHERE ",
                      absl::StrJoin(conditions, " AND "),
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
  absl::StatusOr<MatchRecord> GetMatch(absl::string_view match_id) override;
  absl::Status SaveCheckpoint(int shard, int64_t last_seq, absl::Time saved_at,
                              absl::string_view state) override;
  absl::StatusOr<std::optional<Checkpoint>> LoadCheckpoint(int shard) override;
  absl::Status ScanTraits(
      absl::FunctionRef<void(const TraitRecord&)> fn) override;
  absl::StatusOr<std::vector<bool>> AppendDecisions(
      absl::Span<const DecisionRecord> decisions,
      absl::Span<const PromptRecord> prompts) override;
  absl::StatusOr<int64_t> CountSentDecisions(
      const DecisionQuery& query) override;
  absl::StatusOr<std::vector<MatchRecord>> ListUndecidedMatches(
      size_t limit) override;
  absl::StatusOr<std::vector<DecisionRecord>> ListUserDecisions(
      absl::string_view user_id) override;
  absl::StatusOr<std::vector<PromptRecord>> FeedDuePrompts(
      absl::Time now, size_t limit) override;
  absl::StatusOr<std::optional<absl::Time>> NextUnfedDue() override;
  absl::StatusOr<std::vector<PromptRecord>> ReadFeed(int64_t after_feed_seq,
                                                     size_t limit) override;
  absl::StatusOr<int64_t> LastFeedSeq() override;
  absl::StatusOr<PromptRecord> GetPrompt(absl::string_view prompt_id) override;
  absl::StatusOr<std::vector<PromptRecord>> ListUserPrompts(
      absl::string_view user_id) override;
  absl::StatusOr<std::vector<PromptRecord>> ListShowablePrompts(
      absl::string_view user_id, absl::Time now, size_t limit) override;
  absl::StatusOr<PromptRecord> UpdatePromptState(
      absl::string_view prompt_id, absl::Span<const PromptState> from,
      PromptState to, absl::Time at) override;
  absl::StatusOr<int64_t> ExpirePrompts(absl::Time now) override;
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
      ReadMatch(query, page.matches.emplace_back());
    }
  }));
  if (more) page.next_page_token = EncodePageToken(filter, page.matches.back());
  return page;
}

absl::StatusOr<MatchRecord> SqliteStore::GetMatch(absl::string_view match_id) {
  std::optional<MatchRecord> match;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(
        Statement query,
        conn.Prepare(absl::StrCat(kSelectMatchesSql, " WHERE match_id = ?1")));
    RETURN_IF_ERROR(query.BindText(1, match_id));
    ASSIGN_OR_RETURN(bool row, query.Step());
    if (row) ReadMatch(query, match.emplace());
    return absl::OkStatus();
  }));
  if (!match.has_value()) {
    return absl::NotFoundError(absl::StrCat("no match ", match_id));
  }
  return *std::move(match);
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

// --- Orchestration ---

absl::StatusOr<std::vector<bool>> SqliteStore::AppendDecisions(
    absl::Span<const DecisionRecord> decisions,
    absl::Span<const PromptRecord> prompts) {
  // Everything is checked before the transaction, so a refused call stores
  // nothing and does not wait for the writer.
  absl::flat_hash_set<absl::string_view> decided;
  for (const DecisionRecord& d : decisions) {
    if (d.match_id.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "append decisions: a decision of rule \"", d.rule_id,
          "\" for user \"", d.user_id, "\" has an empty match_id"));
    }
    decided.insert(d.match_id);
  }
  absl::flat_hash_map<absl::string_view, const PromptRecord*> prompt_of;
  for (const PromptRecord& p : prompts) {
    if (p.prompt_id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("append decisions: the prompt of match \"", p.match_id,
                       "\" has an empty prompt_id"));
    }
    if (!decided.contains(p.match_id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "append decisions: prompt \"", p.prompt_id, "\" is for match \"",
          p.match_id,
          "\", which has no decision in the same call; store a prompt "
          "together with the decision that sent it"));
    }
    if (!prompt_of.emplace(p.match_id, &p).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "append decisions: match \"", p.match_id, "\" has two prompts (\"",
          prompt_of[p.match_id]->prompt_id, "\" and \"", p.prompt_id,
          "\"); a match gets at most one"));
    }
  }
  std::vector<bool> stored(decisions.size(), false);
  if (decisions.empty()) return stored;

  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Statement insert, conn.Prepare(kInsertDecisionSql));
    ASSIGN_OR_RETURN(Statement insert_prompt, conn.Prepare(kInsertPromptSql));
    for (size_t i = 0; i < decisions.size(); ++i) {
      const DecisionRecord& d = decisions[i];
      RETURN_IF_ERROR(insert.BindText(1, d.match_id));
      RETURN_IF_ERROR(insert.BindText(2, d.user_id));
      RETURN_IF_ERROR(insert.BindText(3, d.rule_id));
      RETURN_IF_ERROR(insert.BindText(4, d.rule_version));
      RETURN_IF_ERROR(insert.BindInt64(5, d.kind));
      RETURN_IF_ERROR(insert.BindText(6, d.target));
      RETURN_IF_ERROR(insert.BindText(7, d.outcome));
      RETURN_IF_ERROR(insert.BindText(8, d.reason));
      RETURN_IF_ERROR(insert.BindInt64(9, Micros(d.matched_at)));
      RETURN_IF_ERROR(insert.BindInt64(10, Micros(d.decided_at)));
      RETURN_IF_ERROR(insert.Run());
      insert.Reset();
      // 0 when the match already had a decision (stored by an earlier call
      // or earlier in this one: its prompt, if any, exists or never will)
      // or is not stored (deleted: it gets neither decision nor prompt).
      stored[i] = sqlite3_changes(conn.db()) == 1;
      if (!stored[i]) continue;
      auto it = prompt_of.find(d.match_id);
      if (it == prompt_of.end()) continue;
      const PromptRecord& p = *it->second;
      RETURN_IF_ERROR(insert_prompt.BindText(1, p.prompt_id));
      RETURN_IF_ERROR(insert_prompt.BindText(2, p.match_id));
      RETURN_IF_ERROR(insert_prompt.BindText(3, p.user_id));
      RETURN_IF_ERROR(insert_prompt.BindInt64(4, p.kind));
      RETURN_IF_ERROR(insert_prompt.BindText(5, p.rule_id));
      RETURN_IF_ERROR(insert_prompt.BindText(6, p.definition_id));
      RETURN_IF_ERROR(insert_prompt.BindInt64(7, p.priority));
      RETURN_IF_ERROR(insert_prompt.BindInt64(8, Micros(p.created_at)));
      RETURN_IF_ERROR(insert_prompt.BindInt64(9, Micros(p.due_at)));
      RETURN_IF_ERROR(insert_prompt.BindInt64(10, Micros(p.expires_at)));
      RETURN_IF_ERROR(
          insert_prompt.BindInt64(11, static_cast<int64_t>(p.state)));
      RETURN_IF_ERROR(BindOptionalTime(insert_prompt, 12, p.delivered_at));
      RETURN_IF_ERROR(BindOptionalTime(insert_prompt, 13, p.shown_at));
      RETURN_IF_ERROR(BindOptionalTime(insert_prompt, 14, p.closed_at));
      RETURN_IF_ERROR(insert_prompt.BindBlob(15, p.body));
      // A prompt_id already taken by another match fails the whole call.
      RETURN_IF_ERROR(insert_prompt.Run());
      insert_prompt.Reset();
    }
    return absl::OkStatus();
  }));
  return stored;
}

absl::StatusOr<int64_t> SqliteStore::CountSentDecisions(
    const DecisionQuery& query) {
  const bool by_user = !query.user_id.empty();
  const bool by_rule = !query.rule_id.empty();
  const bool by_target = !query.target.empty();
  const bool by_kind = query.kind != 0;
  const std::string sql = CountSentSql(by_user, by_rule, by_target, by_kind);
  int64_t count = 0;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement count_query, conn.Prepare(sql));
    if (by_user) RETURN_IF_ERROR(count_query.BindText(1, query.user_id));
    if (by_rule) RETURN_IF_ERROR(count_query.BindText(2, query.rule_id));
    if (by_target) RETURN_IF_ERROR(count_query.BindText(3, query.target));
    if (by_kind) RETURN_IF_ERROR(count_query.BindInt64(4, query.kind));
    RETURN_IF_ERROR(count_query.BindInt64(5, Micros(query.since)));
    ASSIGN_OR_RETURN(bool row, count_query.Step());
    if (row) count = count_query.ColumnInt64(0);
    return absl::OkStatus();
  }));
  return count;
}

absl::StatusOr<std::vector<MatchRecord>> SqliteStore::ListUndecidedMatches(
    size_t limit) {
  std::vector<MatchRecord> matches;
  if (limit == 0) return matches;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query, conn.Prepare(kSelectUndecidedMatchesSql));
    RETURN_IF_ERROR(query.BindInt64(1, SqlLimit(limit)));
    while (true) {
      ASSIGN_OR_RETURN(bool row, query.Step());
      if (!row) return absl::OkStatus();
      ReadMatch(query, matches.emplace_back());
    }
  }));
  return matches;
}

absl::StatusOr<std::vector<DecisionRecord>> SqliteStore::ListUserDecisions(
    absl::string_view user_id) {
  std::vector<DecisionRecord> decisions;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query, conn.Prepare(kSelectUserDecisionsSql));
    RETURN_IF_ERROR(query.BindText(1, user_id));
    while (true) {
      ASSIGN_OR_RETURN(bool row, query.Step());
      if (!row) return absl::OkStatus();
      ReadDecision(query, decisions.emplace_back());
    }
  }));
  return decisions;
}

absl::StatusOr<std::vector<PromptRecord>> SqliteStore::FeedDuePrompts(
    absl::Time now, size_t limit) {
  std::vector<PromptRecord> fed;
  if (limit == 0) return fed;
  const std::string sql = SelectPromptsSql(
      absl::StrCat("WHERE ", kUnfedOpen,
                   " AND due_us <= ? ORDER BY due_us, prompt_id LIMIT ?"));
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    {
      ASSIGN_OR_RETURN(Statement query, conn.Prepare(sql));
      RETURN_IF_ERROR(query.BindInt64(1, Micros(now)));
      RETURN_IF_ERROR(query.BindInt64(2, SqlLimit(limit)));
      ASSIGN_OR_RETURN(fed, ReadPrompts(query));
    }
    if (fed.empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(int64_t feed_seq, LastFeedSeqOf(conn));
    ASSIGN_OR_RETURN(Statement update, conn.Prepare(kFeedPromptSql));
    for (PromptRecord& p : fed) {
      p.feed_seq = ++feed_seq;
      RETURN_IF_ERROR(update.BindInt64(1, p.feed_seq));
      RETURN_IF_ERROR(update.BindText(2, p.prompt_id));
      RETURN_IF_ERROR(update.Run());
      update.Reset();
    }
    ASSIGN_OR_RETURN(Statement advance, conn.Prepare(kSetFeedSeqSql));
    RETURN_IF_ERROR(advance.BindInt64(1, feed_seq));
    return advance.Run();
  }));
  return fed;
}

absl::StatusOr<std::optional<absl::Time>> SqliteStore::NextUnfedDue() {
  const std::string sql = absl::StrCat("SELECT due_us FROM prompts WHERE ",
                                       kUnfedOpen, " ORDER BY due_us LIMIT 1");
  std::optional<absl::Time> next;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query, conn.Prepare(sql));
    ASSIGN_OR_RETURN(bool row, query.Step());
    if (row) next = absl::FromUnixMicros(query.ColumnInt64(0));
    return absl::OkStatus();
  }));
  return next;
}

absl::StatusOr<std::vector<PromptRecord>> SqliteStore::ReadFeed(
    int64_t after_feed_seq, size_t limit) {
  std::vector<PromptRecord> prompts;
  if (limit == 0) return prompts;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query,
                     conn.Prepare(SelectPromptsSql(
                         "WHERE feed_seq > ? ORDER BY feed_seq LIMIT ?")));
    RETURN_IF_ERROR(query.BindInt64(1, after_feed_seq));
    RETURN_IF_ERROR(query.BindInt64(2, SqlLimit(limit)));
    ASSIGN_OR_RETURN(prompts, ReadPrompts(query));
    return absl::OkStatus();
  }));
  return prompts;
}

absl::StatusOr<int64_t> SqliteStore::LastFeedSeq() {
  int64_t last = 0;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(last, LastFeedSeqOf(conn));
    return absl::OkStatus();
  }));
  return last;
}

absl::StatusOr<PromptRecord> SqliteStore::GetPrompt(
    absl::string_view prompt_id) {
  std::optional<PromptRecord> prompt;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(prompt, LookUpPrompt(conn, prompt_id));
    return absl::OkStatus();
  }));
  if (!prompt.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("get prompt: no prompt \"", prompt_id, "\""));
  }
  return *std::move(prompt);
}

absl::StatusOr<std::vector<PromptRecord>> SqliteStore::ListUserPrompts(
    absl::string_view user_id) {
  std::vector<PromptRecord> prompts;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(
        Statement query,
        conn.Prepare(SelectPromptsSql(
            "WHERE user_id = ? ORDER BY created_us DESC, prompt_id DESC")));
    RETURN_IF_ERROR(query.BindText(1, user_id));
    ASSIGN_OR_RETURN(prompts, ReadPrompts(query));
    return absl::OkStatus();
  }));
  return prompts;
}

absl::StatusOr<std::vector<PromptRecord>> SqliteStore::ListShowablePrompts(
    absl::string_view user_id, absl::Time now, size_t limit) {
  std::vector<PromptRecord> prompts;
  if (limit == 0) return prompts;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    // The user's prompts come from prompts_by_user; the few that are
    // showable are sorted.
    ASSIGN_OR_RETURN(
        Statement query,
        conn.Prepare(SelectPromptsSql(
            "WHERE user_id = ?1 AND state IN (1, 2) AND due_us <= ?2 AND "
            "expires_us > ?2 ORDER BY priority DESC, due_us, prompt_id "
            "LIMIT ?3")));
    RETURN_IF_ERROR(query.BindText(1, user_id));
    RETURN_IF_ERROR(query.BindInt64(2, Micros(now)));
    RETURN_IF_ERROR(query.BindInt64(3, SqlLimit(limit)));
    ASSIGN_OR_RETURN(prompts, ReadPrompts(query));
    return absl::OkStatus();
  }));
  return prompts;
}

absl::StatusOr<PromptRecord> SqliteStore::UpdatePromptState(
    absl::string_view prompt_id, absl::Span<const PromptState> from,
    PromptState to, absl::Time at) {
  if (!ValidPromptState(to)) {
    return absl::InvalidArgumentError(
        absl::StrCat("update prompt state: ", static_cast<int>(to),
                     " is not a prompt state"));
  }
  std::optional<PromptRecord> prompt;
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  // The read and the write are one transaction on the one writer, so no
  // other change can come between the comparison and the set.
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(prompt, LookUpPrompt(conn, prompt_id));
    if (!prompt.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("update prompt state: no prompt \"", prompt_id, "\""));
    }
    if (!absl::c_linear_search(from, prompt->state)) return absl::OkStatus();
    ASSIGN_OR_RETURN(Statement update, conn.Prepare(SetStateSql(to)));
    RETURN_IF_ERROR(update.BindInt64(1, static_cast<int64_t>(to)));
    RETURN_IF_ERROR(update.BindInt64(2, Micros(at)));
    RETURN_IF_ERROR(update.BindText(3, prompt_id));
    RETURN_IF_ERROR(update.Run());
    // Read back rather than patched in memory: the record returned is the
    // row as stored (times at microsecond precision).
    ASSIGN_OR_RETURN(prompt, LookUpPrompt(conn, prompt_id));
    if (!prompt.has_value()) {
      return absl::InternalError(absl::StrCat("update prompt state: prompt \"",
                                              prompt_id, "\" vanished"));
    }
    return absl::OkStatus();
  }));
  return *std::move(prompt);
}

absl::StatusOr<int64_t> SqliteStore::ExpirePrompts(absl::Time now) {
  int64_t expired = 0;
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(Statement update, conn.Prepare(kExpirePromptsSql));
    RETURN_IF_ERROR(update.BindInt64(1, Micros(now)));
    RETURN_IF_ERROR(update.Run());
    expired = sqlite3_changes(conn.db());
    return absl::OkStatus();
  }));
  return expired;
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
