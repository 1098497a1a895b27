// The SQLite implementation of Store.
//
// Connections: one writer connection, used by the writing methods (Write,
// AppendMatches, WriteCheckpoint, AppendDecisions, FeedDuePrompts,
// UpdatePromptState, ExpirePrompts, InsertResponse, UpdateResponse,
// AddManualTag, DeleteUser) under write_mu_, whatever thread calls them. For a
// file database, reads run on read-only connections taken from a small pool, so
// they proceed concurrently with Write() (WAL gives each read statement a
// consistent snapshot; a read of several statements runs them in one read
// transaction, InReadTransaction) and with each other. A ":memory:" database is
// private to its connection, so reads share the writer connection under
// write_mu_.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
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
#include "server/store/zstd_stream.h"
#include "spdlog/spdlog.h"

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

// --- Event log tombstones ---
//
// DeleteUser() deletes rows of the event log. events.seq has no
// AUTOINCREMENT (schema.cc, version 1): once the newest rows are gone,
// SQLite would give their sequence numbers again to the next events, and
// an engine checkpoint that covers the old numbers would make replay skip
// the new events. So when DeleteUser() removes the event with the largest
// seq, it leaves a tombstone in its place: a row with that seq, an empty
// event_id, user_id, name and payload, and times 0. The next append
// continues after it. Real events always have an event_id (Write() refuses
// one without), so `event_id <> ''` (kRealEvent) tells them apart; every
// read of the log skips tombstones and no counter counts them. A tombstone
// stays (one per DeleteUser() that removed the newest event, negligible
// next to the log); removing it would need another scan of the log.
// The SQL below spells kRealEvent out where a constant needs it.
constexpr absl::string_view kRealEvent = "event_id <> ''";
constexpr char kSelectEventsAfterSql[] =
    "SELECT seq, event_id, user_id, name, event_time_us, received_us, payload "
    "FROM events WHERE seq > ? AND event_id <> '' ORDER BY seq";
constexpr char kSelectEventBySeqSql[] =
    "SELECT seq, event_id, user_id, name, event_time_us, received_us, payload "
    "FROM events WHERE seq = ? AND event_id <> ''";
// A replayed match keeps the row (and created_us) of its first write.
constexpr char kInsertMatchSql[] =
    "INSERT INTO matches(match_id, rule_id, rule_version, user_id, group_key, "
    "matched_at_us, at_deadline, created_us, context) "
    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(match_id) DO NOTHING";
// Checkpoints (schema versions 5, 7 and 9): parts of a generation, then the
// switch; the checkpoint in force is the chain of generations from
// base_generation (a full one) to generation (the last delta). A
// generation's encoding says what its parts hold put together.
constexpr size_t kCheckpointPartBytes = 1 << 20;
enum CheckpointEncoding : int64_t {
  // The checkpoint itself (before version 9, or compress_checkpoints off).
  kRawCheckpoint = 0,
  // One zstd frame of it (internal::PartCompressor).
  kZstdCheckpoint = 1,
};
constexpr char kSelectCheckpointGenerationSql[] =
    "SELECT generation FROM engine_checkpoints WHERE shard = ?";
// The stored size of the checkpoint in force: its chain's parts (SQLite
// reads a blob's length from the row header, not the blob), and the state
// a version 4 chain kept in the row.
constexpr char kSelectCheckpointStoredBytesSql[] =
    "SELECT length(c.state) + (SELECT COALESCE(SUM(length(p.data)), 0) "
    "FROM engine_checkpoint_parts p WHERE p.shard = c.shard AND "
    "p.generation BETWEEN c.base_generation AND c.generation) "
    "FROM engine_checkpoints c WHERE c.shard = ?";
// Parts of a save that did not reach its switch (a crash).
constexpr char kDeleteUnfinishedPartsSql[] =
    "DELETE FROM engine_checkpoint_parts WHERE shard = ? AND generation > ?";
constexpr char kInsertCheckpointPartSql[] =
    "INSERT INTO engine_checkpoint_parts(shard, generation, part, data) "
    "VALUES(?, ?, ?, ?)";
constexpr char kInsertCheckpointSegmentSql[] =
    "INSERT OR REPLACE INTO engine_checkpoint_segments(shard, generation, "
    "parts, encoding) VALUES(?, ?, ?, ?)";
constexpr char kSwitchFullCheckpointSql[] =
    "INSERT INTO engine_checkpoints(shard, last_seq, saved_us, state, "
    "generation, parts, base_generation) VALUES(?, ?, ?, '', ?, ?, ?) "
    "ON CONFLICT(shard) DO UPDATE SET last_seq = excluded.last_seq, "
    "saved_us = excluded.saved_us, state = '', "
    "generation = excluded.generation, parts = excluded.parts, "
    "base_generation = excluded.base_generation";
// `state` stays: it holds the base of a chain saved by version 4.
constexpr char kSwitchDeltaCheckpointSql[] =
    "UPDATE engine_checkpoints SET last_seq = ?, saved_us = ?, "
    "generation = ?, parts = ? WHERE shard = ?";
constexpr char kDeleteOldSegmentsSql[] =
    "DELETE FROM engine_checkpoint_segments WHERE shard = ? AND "
    "generation < ?";
// One old part per call, so that dropping a large checkpoint never holds
// the writer for long either.
constexpr char kDeleteOldPartSql[] =
    "DELETE FROM engine_checkpoint_parts WHERE rowid = (SELECT rowid FROM "
    "engine_checkpoint_parts WHERE shard = ? AND generation < ? LIMIT 1)";
constexpr char kSelectCheckpointSql[] =
    "SELECT last_seq, saved_us, state, base_generation, generation FROM "
    "engine_checkpoints WHERE shard = ?";
constexpr char kSelectCheckpointSegmentsSql[] =
    "SELECT generation, parts, encoding FROM engine_checkpoint_segments WHERE "
    "shard = ? AND generation BETWEEN ? AND ? ORDER BY generation";
constexpr char kSelectCheckpointPartsSql[] =
    "SELECT part, data FROM engine_checkpoint_parts WHERE shard = ? AND "
    "generation = ? ORDER BY part";
constexpr char kSelectAllTraitsSql[] =
    "SELECT user_id, key, value, set_at_us FROM traits ORDER BY user_id, key";

// The columns ReadMatch() reads, in its order.
#define HARK_MATCH_COLUMNS                                               \
  "match_id, rule_id, rule_version, user_id, group_key, matched_at_us, " \
  "at_deadline, created_us, context"
// Every match, with the columns ReadMatch() reads.
constexpr char kSelectMatchesSql[] =
    "SELECT " HARK_MATCH_COLUMNS " FROM matches";
// One match by its primary key.
constexpr char kSelectMatchByIdSql[] =
    "SELECT " HARK_MATCH_COLUMNS " FROM matches WHERE match_id = ?1";
// The distinct rule_ids of the matches, as table rule_ids(id), each found
// by one search of matches_by_rule_user past the previous one (SQLite
// skips through an index like this by itself only with ANALYZE
// statistics). The user's matches are then found rule by rule: one more
// search each.
constexpr char kMatchRuleIdsCte[] =
    "WITH RECURSIVE rule_ids(id) AS ("
    "SELECT (SELECT MIN(rule_id) FROM matches) "
    "UNION ALL SELECT (SELECT MIN(rule_id) FROM matches "
    "WHERE rule_id > rule_ids.id) FROM rule_ids WHERE rule_ids.id IS NOT "
    "NULL) ";
// The matches of the user in parameter `user` (e.g. "?2"), with
// kMatchRuleIdsCte before the statement.
std::string FromUserMatches(absl::string_view user) {
  return absl::StrCat(
      " FROM rule_ids JOIN matches INDEXED BY matches_by_rule_user "
      "ON matches.rule_id = rule_ids.id AND matches.user_id = ",
      user);
}
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
constexpr char kSelectCounterSql[] =
    "SELECT value FROM store_counters WHERE name = ?";
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

// Adds `delta` to the store_counters row `name`, inside the caller's
// transaction.
absl::Status AddToCounter(Connection& conn, absl::string_view name,
                          int64_t delta) {
  if (delta == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(Statement add, conn.Prepare(kAddToCounterSql));
  RETURN_IF_ERROR(add.BindInt64(1, delta));
  RETURN_IF_ERROR(add.BindText(2, name));
  RETURN_IF_ERROR(add.Run());
  if (sqlite3_changes(conn.db()) != 1) {
    return absl::DataLossError(absl::StrCat("sqlite store ", conn.path(),
                                            ": the counter row \"", name,
                                            "\" is missing"));
  }
  return absl::OkStatus();
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

// The store_counters row `name`, which a schema step added.
absl::StatusOr<int64_t> CounterOf(Connection& conn, absl::string_view name) {
  ASSIGN_OR_RETURN(Statement query, conn.Prepare(kSelectCounterSql));
  RETURN_IF_ERROR(query.BindText(1, name));
  ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) {
    return absl::DataLossError(absl::StrCat("sqlite store ", conn.path(),
                                            ": the counter row \"", name,
                                            "\" is missing"));
  }
  return query.ColumnInt64(0);
}

// The last feed sequence number given (the row version 3 adds).
absl::StatusOr<int64_t> LastFeedSeqOf(Connection& conn) {
  return CounterOf(conn, "feed_seq");
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

// The next page starts after (matched_at_us, match_id).
std::string EncodePageToken(const MatchFilter& filter, int64_t matched_at_us,
                            absl::string_view match_id) {
  std::string raw = absl::StrCat(kTokenPrefix, matched_at_us, ";");
  AppendField(raw, filter.rule_id);
  AppendField(raw, filter.user_id);
  AppendField(raw, match_id);
  return absl::WebSafeBase64Escape(raw);
}

// The next page starts after `last`.
std::string EncodePageToken(const MatchFilter& filter,
                            const MatchRecord& last) {
  return EncodePageToken(filter, absl::ToUnixMicros(last.matched_at),
                         last.match_id);
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

// The query for one combination of filters but a rule filter alone (see
// ListMatches). Parameters: ?1 rule_id, ?2 user_id, ?3 and ?4 the
// position, ?5 the limit; only those of the present conditions appear.
// Without filters, matches_by_time serves the order; with a rule and a
// user, matches_by_rule_user; with a user, the user's matches of each rule
// (kMatchRuleIdsCte) are sorted, a user having few. So a page costs
// O(log n + page size) however deep the client pages (times the number of
// rules for a user).
std::string ListMatchesSql(bool by_rule, bool by_user, bool after_position) {
  std::vector<absl::string_view> conditions;
  if (by_rule) conditions.push_back("matches.rule_id = ?1");
  // A row-value comparison: portable (PostgreSQL has it too) and used as an
  // index range by SQLite.
  if (after_position) {
    conditions.push_back("(matched_at_us, match_id) < (?3, ?4)");
  }
  std::string from;
  if (by_user && by_rule) {
    conditions.push_back("matches.user_id = ?2");
    from = " FROM matches INDEXED BY matches_by_rule_user";
  } else if (by_user) {
    from = FromUserMatches("?2");
  } else {
    from = " FROM matches";
  }
  return absl::StrCat(by_user && !by_rule ? kMatchRuleIdsCte : "",
                      "SELECT " HARK_MATCH_COLUMNS, from,
                      conditions.empty() ? "" : " WHERE ",
                      absl::StrJoin(conditions, " AND "),
                      " ORDER BY matched_at_us DESC, match_id DESC LIMIT ?5");
}

// A rule filter alone: matches_by_time newest first, the rule read from
// the index entry. Parameters as in ListMatchesSql().
std::string ScanMatchesByTimeSql(bool after_position) {
  return absl::StrCat(
      "SELECT matched_at_us, match_id, rule_id FROM matches "
      "INDEXED BY matches_by_time",
      after_position ? " WHERE (matched_at_us, match_id) < (?3, ?4)" : "",
      " ORDER BY matched_at_us DESC, match_id DESC");
}

// --- Responses ---
//
// A response's tags live in response_tags: every tag ever set, in the order
// set (id), is_current marking those in force. is_primary records whether
// a tag was stored as the primary one; among the current tags a manual tag
// outranks it (it is the primary while current, and AddManualTag() leaves
// the automatic rows as they are), so the primary in force is computed on
// read (ReadTags) and copied into the responses row (friction, source,
// frictions) for the filters after every change of tags (SetTagColumns).

constexpr absl::string_view kManualSource = "manual";

// The columns ReadResponse() reads, in its order.
constexpr absl::string_view kResponseColumns =
    "seq, response_id, prompt_id, match_id, user_id, rule_id, rule_version, "
    "definition_id, kind, hypothesis, submitted_us, updated_us, score, text, "
    "interview_status, traits, body";
// The friction columns are set by SetTagColumns() once the tags are stored.
constexpr char kInsertResponseSql[] =
    "INSERT INTO responses(response_id, prompt_id, match_id, user_id, "
    "rule_id, rule_version, definition_id, kind, hypothesis, submitted_us, "
    "updated_us, score, text, interview_status, traits, friction, source, "
    "frictions, body) "
    "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '', '', ?)";
constexpr char kUpdateResponseSql[] =
    "UPDATE responses SET interview_status = ?, text = ?, score = ?, "
    "body = ?, updated_us = ? WHERE seq = ?";
constexpr char kSetTagColumnsSql[] =
    "UPDATE responses SET friction = ?, source = ?, frictions = ? "
    "WHERE seq = ?";
// Parameters: ?1 response_seq, ?2 friction, ?3 source, ?4 confidence,
// ?5 is_primary, ?6 tagged_by, ?7 note, ?8 tagged_us.
constexpr char kInsertTagSql[] =
    "INSERT INTO response_tags(response_seq, friction, source, confidence, "
    "is_primary, is_current, tagged_by, note, tagged_us) "
    "VALUES(?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, ?8)";
// The columns ReadTag() reads, in its order.
constexpr absl::string_view kTagColumns =
    "friction, source, confidence, is_primary, tagged_by, note, tagged_us";
constexpr char kRetireAutomaticTagsSql[] =
    "UPDATE response_tags SET is_current = 0 "
    "WHERE response_seq = ? AND is_current = 1 AND source <> 'manual'";
constexpr char kRetireManualTagsSql[] =
    "UPDATE response_tags SET is_current = 0 "
    "WHERE response_seq = ? AND is_current = 1 AND source = 'manual'";
// The members of a traits object in text order: the order they were stored.
constexpr char kTraitsOfJsonSql[] = "SELECT key, value FROM json_each(?)";
// Parameters: ?1 closed_us, ?2 prompt_id.
constexpr char kAnswerPromptSql[] =
    "UPDATE prompts SET state = 4, closed_us = ?1 WHERE prompt_id = ?2";
static_assert(static_cast<int>(PromptState::kAnswered) == 4,
              "kAnswerPromptSql and the report use this number");

// `s` as a JSON string. Escapes what JSON requires (quote, backslash,
// control characters); other bytes, UTF-8 included, stay as they are.
void AppendJsonString(std::string& out, absl::string_view s) {
  out.push_back('"');
  for (const char c : s) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(byte, absl::kZeroPad2));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// The traits column: a JSON object of key to display value, in order.
std::string TraitsJson(
    absl::Span<const std::pair<std::string, std::string>> traits) {
  std::string json = "{";
  for (const auto& [key, value] : traits) {
    if (json.size() > 1) json.push_back(',');
    AppendJsonString(json, key);
    json.push_back(':');
    AppendJsonString(json, value);
  }
  json.push_back('}');
  return json;
}

// True if AppendJsonString() writes `s` byte for byte between the quotes.
bool JsonVerbatim(absl::string_view s) {
  return absl::c_none_of(s, [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
}

// Checks the tags given to InsertResponse() (`allow_manual`) or
// UpdateResponse().
absl::Status CheckTags(absl::string_view what, absl::Span<const TagRecord> tags,
                       bool allow_manual) {
  int primaries = 0;
  int manual = 0;
  for (const TagRecord& t : tags) {
    // The any_tag filter finds a friction type between spaces.
    if (t.friction.empty() ||
        absl::c_any_of(t.friction, [](char c) { return c == ' '; })) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": tag friction \"", t.friction,
                       "\" is not a friction type (one word)"));
    }
    if (t.source.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the tag \"", t.friction, "\" has no source"));
    }
    if (t.source == kManualSource) {
      if (!allow_manual) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": a manual tag (\"", t.friction,
            "\") among the automatic tags; manual tags are added with "
            "AddManualTag"));
      }
      ++manual;
    }
    if (t.primary) ++primaries;
  }
  if (primaries > 1 || manual > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", primaries, " primary and ", manual,
                     " manual tags; a response has at most one of each"));
  }
  return absl::OkStatus();
}

// Reads the columns of kTagColumns.
void ReadTag(const Statement& row, TagRecord& t) {
  Assign(t.friction, row.ColumnText(0));
  Assign(t.source, row.ColumnText(1));
  t.confidence = row.ColumnDouble(2);
  t.primary = row.ColumnInt64(3) != 0;
  Assign(t.tagged_by, row.ColumnText(4));
  Assign(t.note, row.ColumnText(5));
  t.tagged_at = absl::FromUnixMicros(row.ColumnInt64(6));
}

// The response's current tags, primary first (a manual tag, else the one
// stored as primary), the others in the order set, with `primary` as in
// force now. Or, with `history`, every tag in the order set, with `primary`
// as stored.
absl::StatusOr<std::vector<TagRecord>> ReadTags(Connection& conn, int64_t seq,
                                                bool history) {
  ASSIGN_OR_RETURN(
      Statement query,
      conn.Prepare(absl::StrCat(
          "SELECT ", kTagColumns, " FROM response_tags WHERE response_seq = ?",
          history ? "" : " AND is_current = 1", " ORDER BY id")));
  RETURN_IF_ERROR(query.BindInt64(1, seq));
  std::vector<TagRecord> tags;
  while (true) {
    ASSIGN_OR_RETURN(bool row, query.Step());
    if (!row) break;
    ReadTag(query, tags.emplace_back());
  }
  if (history || tags.empty()) return tags;
  auto primary = absl::c_find_if(
      tags, [](const TagRecord& t) { return t.source == kManualSource; });
  if (primary == tags.end()) {
    primary =
        absl::c_find_if(tags, [](const TagRecord& t) { return t.primary; });
  }
  for (TagRecord& t : tags) t.primary = false;
  if (primary != tags.end()) {
    primary->primary = true;
    std::rotate(tags.begin(), primary, primary + 1);
  }
  return tags;
}

// Appends `tags` to the response's history as current tags, in order;
// `secondary` stores them all as not primary.
absl::Status InsertTags(Connection& conn, int64_t seq,
                        absl::Span<const TagRecord> tags, bool secondary) {
  if (tags.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(Statement insert, conn.Prepare(kInsertTagSql));
  for (const TagRecord& t : tags) {
    RETURN_IF_ERROR(insert.BindInt64(1, seq));
    RETURN_IF_ERROR(insert.BindText(2, t.friction));
    RETURN_IF_ERROR(insert.BindText(3, t.source));
    RETURN_IF_ERROR(insert.BindDouble(4, t.confidence));
    RETURN_IF_ERROR(insert.BindInt64(5, t.primary && !secondary ? 1 : 0));
    RETURN_IF_ERROR(insert.BindText(6, t.tagged_by));
    RETURN_IF_ERROR(insert.BindText(7, t.note));
    RETURN_IF_ERROR(insert.BindInt64(8, Micros(t.tagged_at)));
    RETURN_IF_ERROR(insert.Run());
    insert.Reset();
  }
  return absl::OkStatus();
}

// Copies the current tags into the responses row: the primary's friction
// and source, and every current friction type between spaces.
absl::Status SetTagColumns(Connection& conn, int64_t seq) {
  ASSIGN_OR_RETURN(std::vector<TagRecord> tags,
                   ReadTags(conn, seq, /*history=*/false));
  std::string friction;
  std::string source;
  if (!tags.empty() && tags[0].primary) {
    friction = tags[0].friction;
    source = tags[0].source;
  }
  std::vector<absl::string_view> types;
  for (const TagRecord& t : tags) types.push_back(t.friction);
  std::sort(types.begin(), types.end());
  types.erase(std::unique(types.begin(), types.end()), types.end());
  const std::string frictions =
      types.empty() ? "" : absl::StrCat(" ", absl::StrJoin(types, " "), " ");
  ASSIGN_OR_RETURN(Statement update, conn.Prepare(kSetTagColumnsSql));
  RETURN_IF_ERROR(update.BindText(1, friction));
  RETURN_IF_ERROR(update.BindText(2, source));
  RETURN_IF_ERROR(update.BindText(3, frictions));
  RETURN_IF_ERROR(update.BindInt64(4, seq));
  return update.Run();
}

// Reads the columns of kResponseColumns, then the traits and the tags (with
// `history`, the tag history too) with statements of their own on `conn`:
// call it on a row before stepping further.
absl::Status ReadResponse(Connection& conn, const Statement& row, bool history,
                          ResponseRecord& r) {
  r.seq = row.ColumnInt64(0);
  Assign(r.response_id, row.ColumnText(1));
  Assign(r.prompt_id, row.ColumnText(2));
  Assign(r.match_id, row.ColumnText(3));
  Assign(r.user_id, row.ColumnText(4));
  Assign(r.rule_id, row.ColumnText(5));
  Assign(r.rule_version, row.ColumnText(6));
  Assign(r.definition_id, row.ColumnText(7));
  r.kind = static_cast<int>(row.ColumnInt64(8));
  Assign(r.hypothesis, row.ColumnText(9));
  r.submitted_at = absl::FromUnixMicros(row.ColumnInt64(10));
  r.updated_at = absl::FromUnixMicros(row.ColumnInt64(11));
  r.score = row.ColumnIsNull(12)
                ? std::nullopt
                : std::optional<int>(static_cast<int>(row.ColumnInt64(12)));
  Assign(r.text, row.ColumnText(13));
  Assign(r.interview_status, row.ColumnText(14));
  Assign(r.body, row.ColumnBlob(16));
  r.traits.clear();
  {
    ASSIGN_OR_RETURN(Statement traits, conn.Prepare(kTraitsOfJsonSql));
    RETURN_IF_ERROR(traits.BindText(1, row.ColumnText(15)));
    while (true) {
      ASSIGN_OR_RETURN(bool member, traits.Step());
      if (!member) break;
      r.traits.emplace_back(traits.ColumnText(0), traits.ColumnText(1));
    }
  }
  ASSIGN_OR_RETURN(r.tags, ReadTags(conn, r.seq, /*history=*/false));
  r.tag_history.clear();
  if (history) {
    ASSIGN_OR_RETURN(r.tag_history, ReadTags(conn, r.seq, /*history=*/true));
  }
  return absl::OkStatus();
}

// The response whose `column` (seq, response_id or prompt_id) is `key`, with
// its tag history; nullopt if there is none.
template <typename Key>
absl::StatusOr<std::optional<ResponseRecord>> LookUpResponse(
    Connection& conn, absl::string_view column, const Key& key) {
  ASSIGN_OR_RETURN(
      Statement query,
      conn.Prepare(absl::StrCat("SELECT ", kResponseColumns,
                                " FROM responses WHERE ", column, " = ?")));
  if constexpr (std::is_same_v<Key, int64_t>) {
    RETURN_IF_ERROR(query.BindInt64(1, key));
  } else {
    RETURN_IF_ERROR(query.BindText(1, key));
  }
  ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return std::nullopt;
  std::optional<ResponseRecord> response(std::in_place);
  RETURN_IF_ERROR(ReadResponse(conn, query, /*history=*/true, *response));
  return response;
}

// The seq of the response `response_id`; nullopt if there is none.
absl::StatusOr<std::optional<int64_t>> ResponseSeq(
    Connection& conn, absl::string_view response_id) {
  ASSIGN_OR_RETURN(
      Statement query,
      conn.Prepare("SELECT seq FROM responses WHERE response_id = ?"));
  RETURN_IF_ERROR(query.BindText(1, response_id));
  ASSIGN_OR_RETURN(bool row, query.Step());
  if (!row) return std::nullopt;
  return query.ColumnInt64(0);
}

// The WHERE terms of a ResponseQuery and their parameters: ?1 friction,
// ?2 source, ?3 rule_id, ?4 definition_id, ?5 user_id, ?6 from, ?7 to,
// ?8 the trait's key (or JSON path), ?9 its value, ?10 min_score,
// ?11 max_score, ?12 text; only those of the present filters appear, so the
// statements stay few (one per combination of filters, cached).
// The rule, definition, user and primary friction terms are equalities on
// the leading column of an index continued by seq and submitted_us
// (schema.cc, version 4). The time terms read `+submitted_us`: the unary
// plus keeps SQLite from driving a page by responses_by_submitted (a range
// scan and a sort of the whole range), while the term is still checked in
// whichever index the page walks when the index has the column.
class ResponseTerms {
 public:
  explicit ResponseTerms(const ResponseQuery& query) : query_(query) {
    if (!query.friction.empty()) {
      if (query.any_tag) {
        friction_ = absl::StrCat(" ", query.friction, " ");
        terms_.push_back("instr(frictions, ?1) > 0");
      } else {
        friction_ = query.friction;
        terms_.push_back("friction = ?1");
      }
    }
    if (!query.source.empty()) terms_.push_back("source = ?2");
    if (!query.rule_id.empty()) terms_.push_back("rule_id = ?3");
    if (!query.definition_id.empty()) terms_.push_back("definition_id = ?4");
    if (!query.user_id.empty()) terms_.push_back("user_id = ?5");
    if (query.from.has_value()) terms_.push_back("+submitted_us >= ?6");
    if (query.to.has_value()) terms_.push_back("+submitted_us < ?7");
    if (!query.trait_key.empty()) {
      // json_extract finds a member by a quoted path ($."key"), which
      // SQLite 3.40 compares byte for byte with the member's name as
      // written; that is the key itself unless it has characters that
      // JSON escapes, for which json_each (slower: a cursor per row)
      // compares the decoded names.
      if (JsonVerbatim(query.trait_key)) {
        trait_key_ = absl::StrCat("$.\"", query.trait_key, "\"");
        terms_.push_back("json_extract(traits, ?8) = ?9");
      } else {
        trait_key_ = query.trait_key;
        terms_.push_back(
            "EXISTS (SELECT 1 FROM json_each(responses.traits) "
            "WHERE json_each.key = ?8 AND json_each.value = ?9)");
      }
    }
    if (query.min_score.has_value()) terms_.push_back("score >= ?10");
    if (query.max_score.has_value()) terms_.push_back("score <= ?11");
    if (!query.text_contains.empty()) {
      // SQLite's lower() folds ASCII only, as the filter is specified.
      text_ = absl::AsciiStrToLower(query.text_contains);
      terms_.push_back("instr(lower(text), ?12) > 0");
    }
  }

  const std::vector<std::string>& terms() const { return terms_; }

  // True if an equality filter has an index (continued by seq) to walk.
  bool indexed() const {
    return (!query_.friction.empty() && !query_.any_tag) ||
           !query_.rule_id.empty() || !query_.definition_id.empty() ||
           !query_.user_id.empty();
  }

  // True if the filters are all columns of responses_by_rule_user.
  bool in_rule_user_index() const {
    return (query_.friction.empty() || !query_.any_tag) &&
           query_.source.empty() && query_.definition_id.empty() &&
           query_.user_id.empty() && query_.trait_key.empty() &&
           !query_.min_score.has_value() && !query_.max_score.has_value() &&
           query_.text_contains.empty();
  }

  absl::Status Bind(Statement& stmt) const {
    if (!query_.friction.empty()) RETURN_IF_ERROR(stmt.BindText(1, friction_));
    if (!query_.source.empty())
      RETURN_IF_ERROR(stmt.BindText(2, query_.source));
    if (!query_.rule_id.empty()) {
      RETURN_IF_ERROR(stmt.BindText(3, query_.rule_id));
    }
    if (!query_.definition_id.empty()) {
      RETURN_IF_ERROR(stmt.BindText(4, query_.definition_id));
    }
    if (!query_.user_id.empty()) {
      RETURN_IF_ERROR(stmt.BindText(5, query_.user_id));
    }
    if (query_.from.has_value()) {
      RETURN_IF_ERROR(stmt.BindInt64(6, Micros(*query_.from)));
    }
    if (query_.to.has_value()) {
      RETURN_IF_ERROR(stmt.BindInt64(7, Micros(*query_.to)));
    }
    if (!query_.trait_key.empty()) {
      RETURN_IF_ERROR(stmt.BindText(8, trait_key_));
      RETURN_IF_ERROR(stmt.BindText(9, query_.trait_value));
    }
    if (query_.min_score.has_value()) {
      RETURN_IF_ERROR(stmt.BindInt64(10, *query_.min_score));
    }
    if (query_.max_score.has_value()) {
      RETURN_IF_ERROR(stmt.BindInt64(11, *query_.max_score));
    }
    if (!query_.text_contains.empty()) {
      RETURN_IF_ERROR(stmt.BindText(12, text_));
    }
    return absl::OkStatus();
  }

 private:
  const ResponseQuery& query_;
  std::vector<std::string> terms_;
  // The bound forms of the friction, trait key and text filters.
  std::string friction_;
  std::string trait_key_;
  std::string text_;
};

// " WHERE a AND b", or "" without terms.
std::string WhereClause(const std::vector<std::string>& terms) {
  if (terms.empty()) return "";
  return absl::StrCat(" WHERE ", absl::StrJoin(terms, " AND "));
}

// The report's terms on matches, decisions or prompts: the query's rule
// (?1) and time range (?2, ?3) on `time_column`. The unary plus keeps
// SQLite from reading a time range through an index on the time alone
// (matches_by_time), which would fetch every row of the range and sort it
// for the GROUP BY: the range is checked in the covering index by rule
// instead (ten times faster over a third of 1,500,000 matches).
std::vector<std::string> RuleTimeTerms(const ResponseQuery& query,
                                       absl::string_view time_column) {
  std::vector<std::string> terms;
  if (!query.rule_id.empty()) terms.push_back("rule_id = ?1");
  if (query.from.has_value()) {
    terms.push_back(absl::StrCat("+", time_column, " >= ?2"));
  }
  if (query.to.has_value()) {
    terms.push_back(absl::StrCat("+", time_column, " < ?3"));
  }
  return terms;
}

absl::Status BindRuleTime(Statement& stmt, const ResponseQuery& query) {
  if (!query.rule_id.empty()) RETURN_IF_ERROR(stmt.BindText(1, query.rule_id));
  if (query.from.has_value()) {
    RETURN_IF_ERROR(stmt.BindInt64(2, Micros(*query.from)));
  }
  if (query.to.has_value()) {
    RETURN_IF_ERROR(stmt.BindInt64(3, Micros(*query.to)));
  }
  return absl::OkStatus();
}

// How many index entries LocateTimeRange() reads at most to find a small
// range exactly (about 2 ms).
constexpr int64_t kTimeRangeProbe = 20000;

// Where the responses submitted within the query's time range and below
// the page boundary (seq < before_seq, 0 for none) lie in seq order, for a
// page that has no equality filter to walk (see ListResponses()).
struct SeqBounds {
  bool empty = false;
  // The walk's bounds, inclusive; 0 for none.
  int64_t lo = 0;
  int64_t hi = 0;
};

absl::StatusOr<SeqBounds> LocateTimeRange(Connection& conn,
                                          const ResponseQuery& query,
                                          int64_t before_seq) {
  std::vector<std::string> terms;
  if (query.from.has_value()) terms.push_back("submitted_us >= ?1");
  if (query.to.has_value()) terms.push_back("submitted_us < ?2");
  if (before_seq > 0) terms.push_back("seq < ?3");
  const std::string where = WhereClause(terms);
  const auto bind = [&](Statement& stmt) -> absl::Status {
    if (query.from.has_value()) {
      RETURN_IF_ERROR(stmt.BindInt64(1, Micros(*query.from)));
    }
    if (query.to.has_value()) {
      RETURN_IF_ERROR(stmt.BindInt64(2, Micros(*query.to)));
    }
    if (before_seq > 0) RETURN_IF_ERROR(stmt.BindInt64(3, before_seq));
    return absl::OkStatus();
  };
  SeqBounds bounds;
  // A range of fewer than kTimeRangeProbe responses is located exactly
  // from the covering index responses_by_submitted: the walk is bounded to
  // the seqs of its rows, at both ends.
  {
    ASSIGN_OR_RETURN(
        Statement probe,
        conn.Prepare(absl::StrCat(
            "SELECT COUNT(*), MIN(seq), MAX(seq) FROM (SELECT seq FROM "
            "responses INDEXED BY responses_by_submitted",
            where, " LIMIT ?4)")));
    RETURN_IF_ERROR(bind(probe));
    RETURN_IF_ERROR(probe.BindInt64(4, kTimeRangeProbe));
    ASSIGN_OR_RETURN(bool row, probe.Step());
    const int64_t count = row ? probe.ColumnInt64(0) : 0;
    if (count == 0) {
      bounds.empty = true;
      return bounds;
    }
    if (count < kTimeRangeProbe) {
      bounds.lo = probe.ColumnInt64(1);
      bounds.hi = probe.ColumnInt64(2);
      return bounds;
    }
  }
  // A larger range: if the newest response below the boundary is in it,
  // the walk finds the page right away (a recent range, or a later page).
  // Otherwise (an old range) the walk starts at the range's largest seq,
  // which costs a scan of the range's index entries instead of a walk
  // over every newer row.
  {
    ASSIGN_OR_RETURN(
        Statement newest,
        conn.Prepare(before_seq > 0
                         ? "SELECT submitted_us FROM responses WHERE seq < ?1 "
                           "ORDER BY seq DESC LIMIT 1"
                         : "SELECT submitted_us FROM responses "
                           "ORDER BY seq DESC LIMIT 1"));
    if (before_seq > 0) RETURN_IF_ERROR(newest.BindInt64(1, before_seq));
    ASSIGN_OR_RETURN(bool row, newest.Step());
    if (!row) {
      bounds.empty = true;
      return bounds;
    }
    const absl::Time at = absl::FromUnixMicros(newest.ColumnInt64(0));
    if ((!query.from.has_value() || at >= *query.from) &&
        (!query.to.has_value() || at < *query.to)) {
      return bounds;
    }
  }
  ASSIGN_OR_RETURN(
      Statement last,
      conn.Prepare(absl::StrCat("SELECT MAX(seq) FROM responses INDEXED BY "
                                "responses_by_submitted",
                                where)));
  RETURN_IF_ERROR(bind(last));
  ASSIGN_OR_RETURN(bool row, last.Step());
  if (!row || last.ColumnIsNull(0)) {
    bounds.empty = true;
    return bounds;
  }
  bounds.hi = last.ColumnInt64(0);
  return bounds;
}

// The Monday 00:00 UTC that starts the week of `t` (1970-01-05 was a
// Monday). absl::Time arithmetic saturates, so no time overflows.
absl::Time WeekStart(absl::Time t) {
  const absl::Time monday = absl::FromUnixSeconds(4 * 24 * 3600);
  constexpr absl::Duration kWeek = absl::Hours(7 * 24);
  absl::Duration rest;
  int64_t weeks = absl::IDivDuration(t - monday, kWeek, &rest);
  if (rest < absl::ZeroDuration()) --weeks;
  return monday + weeks * kWeek;
}

class SqliteStore final : public Store {
 public:
  SqliteStore(StoreOptions options, std::unique_ptr<Connection> writer,
              std::unique_ptr<internal::WalCheckpointer> checkpointer)
      : options_(std::move(options)),
        in_memory_(writer->in_memory()),
        checkpointer_(std::move(checkpointer)),
        writer_(std::move(writer)) {
    if (checkpointer_ != nullptr) checkpointer_->Attach(*writer_);
  }
  ~SqliteStore() override {
    // The hook must not outlive the checkpointer; the checkpointer's
    // destructor (after this body) stops its thread.
    absl::MutexLock lock(&write_mu_);
    if (checkpointer_ != nullptr) internal::WalCheckpointer::Detach(*writer_);
  }

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
  // ListMatches() with a rule filter alone.
  absl::StatusOr<MatchPage> ListRuleMatches(
      const MatchFilter& filter, uint32_t page_size,
      const std::optional<PagePosition>& position);
  absl::StatusOr<MatchPage> ListMatches(const MatchFilter& filter) override;
  absl::StatusOr<MatchRecord> GetMatch(absl::string_view match_id) override;
  absl::StatusOr<int64_t> LegacyMatchIdsThrough() override;
  absl::Status WriteCheckpoint(int shard, CheckpointKind kind, int64_t last_seq,
                               absl::Time saved_at,
                               CheckpointPieces write) override;
  absl::StatusOr<std::optional<Checkpoint>> LoadCheckpoint(int shard) override;
  absl::StatusOr<uint64_t> CheckpointStoredBytes(int shard) override;
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
  absl::StatusOr<ResponseRecord> InsertResponse(
      const ResponseRecord& response,
      absl::Span<const PromptState> from) override;
  absl::StatusOr<ResponseRecord> UpdateResponse(
      const ResponseRecord& response) override;
  absl::StatusOr<ResponseRecord> AddManualTag(absl::string_view response_id,
                                              const TagRecord& tag) override;
  absl::StatusOr<ResponseRecord> GetResponse(
      absl::string_view response_id) override;
  absl::StatusOr<ResponseRecord> GetResponseByPrompt(
      absl::string_view prompt_id) override;
  absl::StatusOr<std::vector<ResponseRecord>> ListResponses(
      const ResponseQuery& query, int64_t before_seq, size_t limit) override;
  absl::StatusOr<ReportData> GetReportData(const ResponseQuery& query) override;
  absl::Status ScanRuleUsers(
      const ResponseQuery& query,
      absl::FunctionRef<void(const RuleUserRecord&)> fn) override;
  absl::Status ScanEventsNamed(
      absl::string_view name,
      absl::FunctionRef<void(absl::string_view user_id, absl::Time time)> fn)
      override;
  absl::StatusOr<std::map<std::string, int64_t>> DeleteUser(
      absl::string_view user_id) override;
  const std::string& path() const override { return options_.path; }

 private:
  // The body of Write()'s transaction.
  static absl::StatusOr<WriteResult> WriteRows(Connection& conn,
                                               const WriteBatch& batch);

  // Runs `fn` on a connection that is the caller's alone until `fn` returns.
  absl::Status WithReader(absl::FunctionRef<absl::Status(Connection&)> fn);

  const StoreOptions options_;
  const bool in_memory_;
  // Null for ":memory:" and with wal_checkpoint_pages = 0. Declared before
  // writer_, so that it is destroyed after the writer connection closed.
  const std::unique_ptr<internal::WalCheckpointer> checkpointer_;

  // Serializes WriteCheckpoint(), which takes write_mu_ once per part.
  absl::Mutex checkpoint_mu_ ABSL_ACQUIRED_BEFORE(write_mu_);
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
  // An empty event_id marks a tombstone of the log (see kRealEvent).
  for (const EventRecord& e : batch.events) {
    if (e.event_id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("write: an event \"", e.name, "\" of user \"", e.user_id,
                       "\" has an empty event_id; every event needs one"));
    }
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
    RETURN_IF_ERROR(AddToCounter(conn, name, delta));
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
    // Tombstones are neither counted nor returned.
    ASSIGN_OR_RETURN(
        Statement scan,
        conn.Prepare("SELECT event_id FROM events WHERE seq >= COALESCE("
                     "(SELECT seq FROM events WHERE event_id <> '' "
                     "ORDER BY seq DESC LIMIT 1 OFFSET ?), "
                     "(SELECT MIN(seq) FROM events)) "
                     "AND event_id <> '' ORDER BY seq"));
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
  // comes for free. All in one read transaction: a lookup on its own would
  // take and release the WAL read lock (system calls) every time.
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    return internal::InReadTransaction(conn, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(Statement lookup, conn.Prepare(kSelectEventBySeqSql));
      for (const int64_t seq : seqs) {
        RETURN_IF_ERROR(lookup.BindInt64(1, seq));
        ASSIGN_OR_RETURN(bool row, lookup.Step());
        if (row) ReadEvent(lookup, events.emplace_back());
        lookup.Reset();
      }
      return absl::OkStatus();
    });
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
  if (by_rule && !by_user) {
    return ListRuleMatches(filter, page_size, position);
  }
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

absl::StatusOr<MatchPage> SqliteStore::ListRuleMatches(
    const MatchFilter& filter, uint32_t page_size,
    const std::optional<PagePosition>& position) {
  // The rule's matches are picked from matches_by_time newest first,
  // passing over at most list_matches_scan_limit entries of other rules per
  // call (every match has an entry there, so a rare rule means a long
  // walk), then read by their primary key in the same snapshot.
  MatchPage page;
  std::vector<std::string> ids;
  std::optional<PagePosition> resume;  // where a cut-short walk stopped
  bool more = false;
  const int scan_limit = std::max(1, options_.list_matches_scan_limit);
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    return internal::InReadTransaction(conn, [&]() -> absl::Status {
      ids.clear();
      resume.reset();
      more = false;
      page.matches.clear();
      ASSIGN_OR_RETURN(
          Statement scan,
          conn.Prepare(ScanMatchesByTimeSql(position.has_value())));
      if (position.has_value()) {
        RETURN_IF_ERROR(scan.BindInt64(3, position->matched_at_us));
        RETURN_IF_ERROR(scan.BindText(4, position->match_id));
      }
      // Entries of other rules passed over: the walk's cost beyond the
      // page itself.
      int skipped = 0;
      while (true) {
        ASSIGN_OR_RETURN(bool row, scan.Step());
        if (!row) break;
        if (scan.ColumnText(2) == filter.rule_id) {
          if (ids.size() == page_size) {
            more = true;  // one row more than the page: another page
            break;
          }
          ids.emplace_back(scan.ColumnText(1));
        } else if (++skipped > scan_limit) {
          resume = PagePosition{scan.ColumnInt64(0),
                                std::string(scan.ColumnText(1))};
          break;
        }
      }
      ASSIGN_OR_RETURN(Statement get, conn.Prepare(kSelectMatchByIdSql));
      for (const std::string& id : ids) {
        RETURN_IF_ERROR(get.BindText(1, id));
        ASSIGN_OR_RETURN(bool row, get.Step());
        if (row) ReadMatch(get, page.matches.emplace_back());
        get.Reset();
      }
      return absl::OkStatus();
    });
  }));
  if (resume.has_value()) {
    page.next_page_token =
        EncodePageToken(filter, resume->matched_at_us, resume->match_id);
  } else if (more) {
    page.next_page_token = EncodePageToken(filter, page.matches.back());
  }
  return page;
}

absl::StatusOr<MatchRecord> SqliteStore::GetMatch(absl::string_view match_id) {
  std::optional<MatchRecord> match;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query, conn.Prepare(kSelectMatchByIdSql));
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

absl::Status SqliteStore::WriteCheckpoint(int shard, CheckpointKind kind,
                                          int64_t last_seq, absl::Time saved_at,
                                          CheckpointPieces write) {
  const bool full = kind == CheckpointKind::kFull;
  // One save at a time; the writer connection is taken per step, so that
  // commits of events run between the parts (schema.cc, version 5).
  absl::MutexLock save_lock(&checkpoint_mu_);
  int64_t generation = 0;
  {
    absl::MutexLock lock(&write_mu_);
    Connection& conn = *writer_;
    RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(Statement query,
                       conn.Prepare(kSelectCheckpointGenerationSql));
      RETURN_IF_ERROR(query.BindInt64(1, shard));
      ASSIGN_OR_RETURN(bool row, query.Step());
      if (!row && !full) {
        return absl::FailedPreconditionError(absl::StrCat(
            "sqlite store ", conn.path(), ": a checkpoint delta of shard ",
            shard, " needs a full checkpoint to add to, and there is none"));
      }
      const int64_t serving = row ? query.ColumnInt64(0) : 0;
      query.Reset();
      generation = serving + 1;
      ASSIGN_OR_RETURN(Statement unfinished,
                       conn.Prepare(kDeleteUnfinishedPartsSql));
      RETURN_IF_ERROR(unfinished.BindInt64(1, shard));
      RETURN_IF_ERROR(unfinished.BindInt64(2, serving));
      return unfinished.Run();
    }));
  }
  // Parts of at most kCheckpointPartBytes: the pieces compressed into one
  // stream (outside write_mu_), or each piece cut as it comes.
  const CheckpointEncoding encoding =
      options_.compress_checkpoints ? kZstdCheckpoint : kRawCheckpoint;
  int64_t parts = 0;
  auto put_part = [&](absl::string_view part) -> absl::Status {
    absl::MutexLock lock(&write_mu_);
    Connection& conn = *writer_;
    RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(Statement insert,
                       conn.Prepare(kInsertCheckpointPartSql));
      RETURN_IF_ERROR(insert.BindInt64(1, shard));
      RETURN_IF_ERROR(insert.BindInt64(2, generation));
      RETURN_IF_ERROR(insert.BindInt64(3, parts));
      RETURN_IF_ERROR(insert.BindBlob(4, part));
      return insert.Run();
    }));
    ++parts;
    return absl::OkStatus();
  };
  if (encoding == kZstdCheckpoint) {
    internal::PartCompressor compressor(kCheckpointPartBytes);
    RETURN_IF_ERROR(write([&](absl::string_view piece) {
      return compressor.Add(piece, put_part);
    }));
    RETURN_IF_ERROR(compressor.Finish(put_part));
  } else {
    RETURN_IF_ERROR(write([&](absl::string_view piece) -> absl::Status {
      for (size_t at = 0; at < piece.size(); at += kCheckpointPartBytes) {
        RETURN_IF_ERROR(put_part(piece.substr(at, kCheckpointPartBytes)));
      }
      return absl::OkStatus();
    }));
  }
  {
    absl::MutexLock lock(&write_mu_);
    Connection& conn = *writer_;
    RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(Statement segment,
                       conn.Prepare(kInsertCheckpointSegmentSql));
      RETURN_IF_ERROR(segment.BindInt64(1, shard));
      RETURN_IF_ERROR(segment.BindInt64(2, generation));
      RETURN_IF_ERROR(segment.BindInt64(3, parts));
      RETURN_IF_ERROR(segment.BindInt64(4, encoding));
      RETURN_IF_ERROR(segment.Run());
      if (!full) {
        ASSIGN_OR_RETURN(Statement update,
                         conn.Prepare(kSwitchDeltaCheckpointSql));
        RETURN_IF_ERROR(update.BindInt64(1, last_seq));
        RETURN_IF_ERROR(update.BindInt64(2, Micros(saved_at)));
        RETURN_IF_ERROR(update.BindInt64(3, generation));
        RETURN_IF_ERROR(update.BindInt64(4, parts));
        RETURN_IF_ERROR(update.BindInt64(5, shard));
        return update.Run();
      }
      ASSIGN_OR_RETURN(Statement upsert,
                       conn.Prepare(kSwitchFullCheckpointSql));
      RETURN_IF_ERROR(upsert.BindInt64(1, shard));
      RETURN_IF_ERROR(upsert.BindInt64(2, last_seq));
      RETURN_IF_ERROR(upsert.BindInt64(3, Micros(saved_at)));
      RETURN_IF_ERROR(upsert.BindInt64(4, generation));
      RETURN_IF_ERROR(upsert.BindInt64(5, parts));
      RETURN_IF_ERROR(upsert.BindInt64(6, generation));
      RETURN_IF_ERROR(upsert.Run());
      ASSIGN_OR_RETURN(Statement old, conn.Prepare(kDeleteOldSegmentsSql));
      RETURN_IF_ERROR(old.BindInt64(1, shard));
      RETURN_IF_ERROR(old.BindInt64(2, generation));
      return old.Run();
    }));
  }
  if (!full) return absl::OkStatus();
  // The new checkpoint is in force, so the save succeeded whatever happens
  // below: a failure only leaves old parts, which the next save deletes.
  auto drop_one = [&]() -> absl::StatusOr<bool> {
    absl::MutexLock lock(&write_mu_);
    Connection& conn = *writer_;
    ASSIGN_OR_RETURN(Statement drop, conn.Prepare(kDeleteOldPartSql));
    RETURN_IF_ERROR(drop.BindInt64(1, shard));
    RETURN_IF_ERROR(drop.BindInt64(2, generation));
    RETURN_IF_ERROR(drop.Run());
    return sqlite3_changes(conn.db()) > 0;
  };
  for (;;) {
    absl::StatusOr<bool> dropped = drop_one();
    if (!dropped.ok()) {
      spdlog::warn(
          "sqlite store {}: engine checkpoint saved, but dropping the "
          "previous one failed (the next save retries): {}",
          options_.path, dropped.status().ToString());
      break;
    }
    if (!*dropped) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> SqliteStore::CheckpointStoredBytes(int shard) {
  int64_t bytes = 0;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(Statement query,
                     conn.Prepare(kSelectCheckpointStoredBytesSql));
    RETURN_IF_ERROR(query.BindInt64(1, shard));
    ASSIGN_OR_RETURN(bool row, query.Step());
    if (row) bytes = query.ColumnInt64(0);
    return absl::OkStatus();
  }));
  return static_cast<uint64_t>(bytes);
}

absl::StatusOr<std::optional<Checkpoint>> SqliteStore::LoadCheckpoint(
    int shard) {
  std::optional<Checkpoint> checkpoint;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    return internal::InReadTransaction(conn, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(Statement query, conn.Prepare(kSelectCheckpointSql));
      RETURN_IF_ERROR(query.BindInt64(1, shard));
      ASSIGN_OR_RETURN(bool row, query.Step());
      if (!row) return absl::OkStatus();
      Checkpoint& c = checkpoint.emplace();
      c.last_seq = query.ColumnInt64(0);
      c.saved_at = absl::FromUnixMicros(query.ColumnInt64(1));
      // Filled by version 4 only (its parts are 0).
      c.state = std::string(query.ColumnBlob(2));
      const int64_t base = query.ColumnInt64(3);
      const int64_t last = query.ColumnInt64(4);
      query.Reset();
      auto lost = [&](absl::string_view what) {
        return absl::DataLossError(absl::StrCat(
            "sqlite store ", conn.path(), ": the engine checkpoint of shard ",
            shard, " ", what));
      };
      ASSIGN_OR_RETURN(Statement segments,
                       conn.Prepare(kSelectCheckpointSegmentsSql));
      RETURN_IF_ERROR(segments.BindInt64(1, shard));
      RETURN_IF_ERROR(segments.BindInt64(2, base));
      RETURN_IF_ERROR(segments.BindInt64(3, last));
      ASSIGN_OR_RETURN(Statement read, conn.Prepare(kSelectCheckpointPartsSql));
      for (int64_t generation = base; generation <= last; ++generation) {
        ASSIGN_OR_RETURN(bool found, segments.Step());
        if (!found || segments.ColumnInt64(0) != generation) {
          return lost(absl::StrCat("lacks generation ", generation, " of ",
                                   base, "..", last));
        }
        const int64_t parts = segments.ColumnInt64(1);
        const int64_t encoding = segments.ColumnInt64(2);
        if (encoding != kRawCheckpoint && encoding != kZstdCheckpoint) {
          return lost(absl::StrCat("has generation ", generation,
                                   " in encoding ", encoding,
                                   ", which this build cannot read"));
        }
        std::string& into =
            generation == base ? c.state : c.deltas.emplace_back();
        std::optional<internal::PartDecompressor> decompressor;
        if (encoding == kZstdCheckpoint) decompressor.emplace();
        RETURN_IF_ERROR(read.BindInt64(1, shard));
        RETURN_IF_ERROR(read.BindInt64(2, generation));
        int64_t next = 0;
        for (;;) {
          ASSIGN_OR_RETURN(bool part, read.Step());
          if (!part) break;
          if (read.ColumnInt64(0) != next) break;
          const absl::string_view data = read.ColumnBlob(1);
          if (decompressor.has_value()) {
            if (absl::Status s = decompressor->Add(data, &into); !s.ok()) {
              return lost(absl::StrCat("has part ", next, " of generation ",
                                       generation, " damaged: ", s.message()));
            }
          } else {
            into.append(data.data(), data.size());
          }
          ++next;
        }
        read.Reset();
        if (next != parts) {
          return lost(absl::StrCat("has ", parts, " parts in generation ",
                                   generation, " but part ", next,
                                   " is missing"));
        }
        if (decompressor.has_value()) {
          if (absl::Status s = decompressor->Finish(); !s.ok()) {
            return lost(absl::StrCat("has generation ", generation,
                                     " cut short: ", s.message()));
          }
        }
      }
      return absl::OkStatus();
    });
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

absl::StatusOr<int64_t> SqliteStore::LegacyMatchIdsThrough() {
  int64_t through = 0;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    ASSIGN_OR_RETURN(through, CounterOf(conn, "legacy_match_ids_through"));
    return absl::OkStatus();
  }));
  return through;
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

// --- Responses ---

absl::StatusOr<ResponseRecord> SqliteStore::InsertResponse(
    const ResponseRecord& response, absl::Span<const PromptState> from) {
  if (response.response_id.empty() || response.prompt_id.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "insert response: response_id (\"", response.response_id,
        "\") and prompt_id (\"", response.prompt_id, "\") are required"));
  }
  RETURN_IF_ERROR(
      CheckTags("insert response", response.tags, /*allow_manual=*/true));
  const std::string traits = TraitsJson(response.traits);
  std::optional<ResponseRecord> stored;
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  // The checks, the insert and the prompt's state change are one
  // transaction on the one writer: no other answer comes in between.
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<PromptRecord> prompt,
                     LookUpPrompt(conn, response.prompt_id));
    if (!prompt.has_value()) {
      return absl::NotFoundError(absl::StrCat("insert response: no prompt \"",
                                              response.prompt_id, "\""));
    }
    {
      ASSIGN_OR_RETURN(
          Statement existing,
          conn.Prepare(
              "SELECT response_id FROM responses WHERE prompt_id = ?"));
      RETURN_IF_ERROR(existing.BindText(1, response.prompt_id));
      ASSIGN_OR_RETURN(bool row, existing.Step());
      if (row) {
        return absl::AlreadyExistsError(absl::StrCat(
            "insert response: prompt \"", response.prompt_id,
            "\" already has response \"", existing.ColumnText(0), "\""));
      }
    }
    ASSIGN_OR_RETURN(std::optional<int64_t> taken,
                     ResponseSeq(conn, response.response_id));
    if (taken.has_value()) {
      return absl::AlreadyExistsError(
          absl::StrCat("insert response: response \"", response.response_id,
                       "\" already exists (for another prompt than \"",
                       response.prompt_id, "\")"));
    }
    if (!absl::c_linear_search(from, prompt->state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "insert response: prompt \"", response.prompt_id, "\" is ",
          PromptStateName(prompt->state), "; it takes a response only when ",
          absl::StrJoin(from, " or ", [](std::string* out, PromptState s) {
            absl::StrAppend(out, PromptStateName(s));
          })));
    }
    {
      ASSIGN_OR_RETURN(Statement insert, conn.Prepare(kInsertResponseSql));
      RETURN_IF_ERROR(insert.BindText(1, response.response_id));
      RETURN_IF_ERROR(insert.BindText(2, response.prompt_id));
      RETURN_IF_ERROR(insert.BindText(3, response.match_id));
      RETURN_IF_ERROR(insert.BindText(4, response.user_id));
      RETURN_IF_ERROR(insert.BindText(5, response.rule_id));
      RETURN_IF_ERROR(insert.BindText(6, response.rule_version));
      RETURN_IF_ERROR(insert.BindText(7, response.definition_id));
      RETURN_IF_ERROR(insert.BindInt64(8, response.kind));
      RETURN_IF_ERROR(insert.BindText(9, response.hypothesis));
      RETURN_IF_ERROR(insert.BindInt64(10, Micros(response.submitted_at)));
      RETURN_IF_ERROR(insert.BindInt64(11, Micros(response.updated_at)));
      RETURN_IF_ERROR(response.score.has_value()
                          ? insert.BindInt64(12, *response.score)
                          : insert.BindNull(12));
      RETURN_IF_ERROR(insert.BindText(13, response.text));
      RETURN_IF_ERROR(insert.BindText(14, response.interview_status));
      RETURN_IF_ERROR(insert.BindText(15, traits));
      RETURN_IF_ERROR(insert.BindBlob(16, response.body));
      RETURN_IF_ERROR(insert.Run());
    }
    const int64_t seq = sqlite3_last_insert_rowid(conn.db());
    RETURN_IF_ERROR(InsertTags(conn, seq, response.tags, /*secondary=*/false));
    RETURN_IF_ERROR(SetTagColumns(conn, seq));
    {
      ASSIGN_OR_RETURN(Statement answer, conn.Prepare(kAnswerPromptSql));
      RETURN_IF_ERROR(answer.BindInt64(1, Micros(response.submitted_at)));
      RETURN_IF_ERROR(answer.BindText(2, response.prompt_id));
      RETURN_IF_ERROR(answer.Run());
    }
    // Read back: the record returned is the row as stored.
    ASSIGN_OR_RETURN(stored, LookUpResponse(conn, "seq", seq));
    if (!stored.has_value()) {
      return absl::InternalError(absl::StrCat(
          "insert response: response \"", response.response_id, "\" vanished"));
    }
    return absl::OkStatus();
  }));
  return *std::move(stored);
}

absl::StatusOr<ResponseRecord> SqliteStore::UpdateResponse(
    const ResponseRecord& response) {
  RETURN_IF_ERROR(
      CheckTags("update response", response.tags, /*allow_manual=*/false));
  std::optional<ResponseRecord> stored;
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> seq,
                     ResponseSeq(conn, response.response_id));
    if (!seq.has_value()) {
      return absl::NotFoundError(absl::StrCat("update response: no response \"",
                                              response.response_id, "\""));
    }
    {
      ASSIGN_OR_RETURN(Statement update, conn.Prepare(kUpdateResponseSql));
      RETURN_IF_ERROR(update.BindText(1, response.interview_status));
      RETURN_IF_ERROR(update.BindText(2, response.text));
      RETURN_IF_ERROR(response.score.has_value()
                          ? update.BindInt64(3, *response.score)
                          : update.BindNull(3));
      RETURN_IF_ERROR(update.BindBlob(4, response.body));
      RETURN_IF_ERROR(update.BindInt64(5, Micros(response.updated_at)));
      RETURN_IF_ERROR(update.BindInt64(6, *seq));
      RETURN_IF_ERROR(update.Run());
    }
    ASSIGN_OR_RETURN(std::vector<TagRecord> current,
                     ReadTags(conn, *seq, /*history=*/false));
    const bool manual = !current.empty() && current[0].source == kManualSource;
    // The automatic tags as stored (ReadTags() computed `primary` as in
    // force; a manual tag's presence makes them all secondary).
    std::vector<TagRecord> automatic;
    {
      ASSIGN_OR_RETURN(
          Statement query,
          conn.Prepare(absl::StrCat(
              "SELECT ", kTagColumns,
              " FROM response_tags WHERE response_seq = ? AND is_current = 1 "
              "AND source <> 'manual' ORDER BY id")));
      RETURN_IF_ERROR(query.BindInt64(1, *seq));
      while (true) {
        ASSIGN_OR_RETURN(bool row, query.Step());
        if (!row) break;
        ReadTag(query, automatic.emplace_back());
      }
    }
    // The same tags again (an interview's later status that tagged the
    // same way) change nothing: the history records changes only.
    const bool same = absl::c_equal(
        automatic, response.tags,
        [manual](const TagRecord& old, const TagRecord& now) {
          return old.friction == now.friction && old.source == now.source &&
                 old.confidence == now.confidence &&
                 old.primary == (now.primary && !manual);
        });
    if (!same) {
      ASSIGN_OR_RETURN(Statement retire, conn.Prepare(kRetireAutomaticTagsSql));
      RETURN_IF_ERROR(retire.BindInt64(1, *seq));
      RETURN_IF_ERROR(retire.Run());
      RETURN_IF_ERROR(InsertTags(conn, *seq, response.tags, manual));
      RETURN_IF_ERROR(SetTagColumns(conn, *seq));
    }
    ASSIGN_OR_RETURN(stored, LookUpResponse(conn, "seq", *seq));
    if (!stored.has_value()) {
      return absl::InternalError(absl::StrCat(
          "update response: response \"", response.response_id, "\" vanished"));
    }
    return absl::OkStatus();
  }));
  return *std::move(stored);
}

absl::StatusOr<ResponseRecord> SqliteStore::AddManualTag(
    absl::string_view response_id, const TagRecord& tag) {
  if (tag.source != kManualSource) {
    return absl::InvalidArgumentError(
        absl::StrCat("add manual tag: the tag's source is \"", tag.source,
                     "\"; a manual tag has source \"manual\""));
  }
  RETURN_IF_ERROR(CheckTags("add manual tag", {tag}, /*allow_manual=*/true));
  std::optional<ResponseRecord> stored;
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    ASSIGN_OR_RETURN(std::optional<int64_t> seq,
                     ResponseSeq(conn, response_id));
    if (!seq.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("add manual tag: no response \"", response_id, "\""));
    }
    {
      ASSIGN_OR_RETURN(Statement retire, conn.Prepare(kRetireManualTagsSql));
      RETURN_IF_ERROR(retire.BindInt64(1, *seq));
      RETURN_IF_ERROR(retire.Run());
    }
    TagRecord primary = tag;
    primary.primary = true;
    RETURN_IF_ERROR(InsertTags(conn, *seq, {primary}, /*secondary=*/false));
    RETURN_IF_ERROR(SetTagColumns(conn, *seq));
    ASSIGN_OR_RETURN(stored, LookUpResponse(conn, "seq", *seq));
    if (!stored.has_value()) {
      return absl::InternalError(absl::StrCat("add manual tag: response \"",
                                              response_id, "\" vanished"));
    }
    return absl::OkStatus();
  }));
  return *std::move(stored);
}

absl::StatusOr<ResponseRecord> SqliteStore::GetResponse(
    absl::string_view response_id) {
  std::optional<ResponseRecord> response;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    return internal::InReadTransaction(conn, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(response,
                       LookUpResponse(conn, "response_id", response_id));
      return absl::OkStatus();
    });
  }));
  if (!response.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("get response: no response \"", response_id, "\""));
  }
  return *std::move(response);
}

absl::StatusOr<ResponseRecord> SqliteStore::GetResponseByPrompt(
    absl::string_view prompt_id) {
  std::optional<ResponseRecord> response;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    return internal::InReadTransaction(conn, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(response, LookUpResponse(conn, "prompt_id", prompt_id));
      return absl::OkStatus();
    });
  }));
  if (!response.has_value()) {
    return absl::NotFoundError(absl::StrCat("get response by prompt: prompt \"",
                                            prompt_id, "\" has no response"));
  }
  return *std::move(response);
}

absl::StatusOr<std::vector<ResponseRecord>> SqliteStore::ListResponses(
    const ResponseQuery& query, int64_t before_seq, size_t limit) {
  if (before_seq < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("list responses: before_seq ", before_seq,
                     " is negative; pass 0 for the newest responses"));
  }
  std::vector<ResponseRecord> responses;
  if (limit == 0) return responses;
  const ResponseTerms filter(query);
  // A page walks rows newest first and stops when it is full: along the
  // index of an equality filter (rule, definition, user, primary friction)
  // if there is one, else along the table in seq order, from the page
  // boundary. A time range alone would make that walk read every row newer
  // than the range first, so LocateTimeRange() bounds the walk to where
  // the range lies in seq order.
  const bool locate =
      !filter.indexed() && (query.from.has_value() || query.to.has_value());
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    // One snapshot for the page and the tags of its rows.
    return internal::InReadTransaction(conn, [&]() -> absl::Status {
      SeqBounds bounds;
      if (locate) {
        ASSIGN_OR_RETURN(bounds, LocateTimeRange(conn, query, before_seq));
        if (bounds.empty) return absl::OkStatus();
      }
      std::vector<std::string> terms = filter.terms();
      if (before_seq > 0) terms.push_back("seq < ?13");
      if (bounds.lo > 0) terms.push_back("seq >= ?15");
      if (bounds.hi > 0) terms.push_back("seq <= ?16");
      ASSIGN_OR_RETURN(
          Statement page,
          conn.Prepare(absl::StrCat("SELECT ", kResponseColumns,
                                    " FROM responses", WhereClause(terms),
                                    " ORDER BY seq DESC LIMIT ?14")));
      RETURN_IF_ERROR(filter.Bind(page));
      if (before_seq > 0) RETURN_IF_ERROR(page.BindInt64(13, before_seq));
      RETURN_IF_ERROR(page.BindInt64(14, SqlLimit(limit)));
      if (bounds.lo > 0) RETURN_IF_ERROR(page.BindInt64(15, bounds.lo));
      if (bounds.hi > 0) RETURN_IF_ERROR(page.BindInt64(16, bounds.hi));
      while (true) {
        ASSIGN_OR_RETURN(bool row, page.Step());
        if (!row) return absl::OkStatus();
        RETURN_IF_ERROR(ReadResponse(conn, page, /*history=*/false,
                                     responses.emplace_back()));
      }
    });
  }));
  return responses;
}

absl::StatusOr<ReportData> SqliteStore::GetReportData(
    const ResponseQuery& query) {
  const ResponseTerms filter(query);
  const std::string matches_sql = absl::StrCat(
      "SELECT rule_id, COUNT(*) FROM matches",
      WhereClause(RuleTimeTerms(query, "matched_at_us")), " GROUP BY rule_id");
  const std::string decisions_sql =
      absl::StrCat("SELECT rule_id, outcome, COUNT(*) FROM decisions",
                   WhereClause(RuleTimeTerms(query, "decided_at_us")),
                   " GROUP BY rule_id, outcome");
  const std::string prompts_sql = absl::StrCat(
      "SELECT rule_id, COUNT(delivered_us), COUNT(shown_us), "
      "COUNT(CASE WHEN state = 4 THEN 1 END) FROM prompts",
      WhereClause(RuleTimeTerms(query, "created_us")), " GROUP BY rule_id");
  // With the rule, primary friction and time filters alone (the usual
  // report), the covering index responses_by_rule_user has every column
  // read and filtered: the table rows (and their bodies) are not read.
  const std::string responses_sql = absl::StrCat(
      "SELECT rule_id, friction, hypothesis, submitted_us FROM responses",
      filter.in_rule_user_index() ? " INDEXED BY responses_by_rule_user" : "",
      WhereClause(filter.terms()));

  std::map<std::string, RuleReportData, std::less<>> rules;
  auto rule = [&](absl::string_view rule_id) -> RuleReportData& {
    auto it = rules.find(rule_id);
    if (it == rules.end()) {
      it = rules.emplace(std::string(rule_id), RuleReportData{}).first;
      it->second.rule_id = it->first;
    }
    return it->second;
  };
  std::map<absl::Time, std::map<std::string, int64_t>> weeks;
  RETURN_IF_ERROR(WithReader([&](Connection& conn) -> absl::Status {
    // One snapshot for all the figures, so that they add up.
    return internal::InReadTransaction(conn, [&]() -> absl::Status {
      {
        ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(matches_sql));
        RETURN_IF_ERROR(BindRuleTime(stmt, query));
        while (true) {
          ASSIGN_OR_RETURN(bool row, stmt.Step());
          if (!row) break;
          rule(stmt.ColumnText(0)).matches = stmt.ColumnInt64(1);
        }
      }
      {
        ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(decisions_sql));
        RETURN_IF_ERROR(BindRuleTime(stmt, query));
        while (true) {
          ASSIGN_OR_RETURN(bool row, stmt.Step());
          if (!row) break;
          rule(stmt.ColumnText(0)).decisions[std::string(stmt.ColumnText(1))] =
              stmt.ColumnInt64(2);
        }
      }
      {
        ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(prompts_sql));
        RETURN_IF_ERROR(BindRuleTime(stmt, query));
        while (true) {
          ASSIGN_OR_RETURN(bool row, stmt.Step());
          if (!row) break;
          RuleReportData& r = rule(stmt.ColumnText(0));
          r.delivered = stmt.ColumnInt64(1);
          r.shown = stmt.ColumnInt64(2);
          r.answered = stmt.ColumnInt64(3);
        }
      }
      // Responses are grouped here rather than by GROUP BY: one pass over
      // the rows both per rule and per week, with no sort of the rows.
      ASSIGN_OR_RETURN(Statement stmt, conn.Prepare(responses_sql));
      RETURN_IF_ERROR(filter.Bind(stmt));
      RuleReportData* last = nullptr;
      while (true) {
        ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        const absl::string_view rule_id = stmt.ColumnText(0);
        if (last == nullptr || last->rule_id != rule_id) last = &rule(rule_id);
        const absl::string_view friction = stmt.ColumnText(1);
        const absl::string_view hypothesis = stmt.ColumnText(2);
        ++last->friction[std::string(friction)];
        if (!hypothesis.empty()) {
          ++last->with_hypothesis;
          if (hypothesis != friction) ++last->hypothesis_mismatches;
        }
        const absl::Time week =
            WeekStart(absl::FromUnixMicros(stmt.ColumnInt64(3)));
        ++weeks[week][std::string(friction)];
      }
      return absl::OkStatus();
    });
  }));
  ReportData report;
  report.rules.reserve(rules.size());
  for (auto& [id, data] : rules) report.rules.push_back(std::move(data));
  report.trend.reserve(weeks.size());
  for (auto& [start, friction] : weeks) {
    report.trend.push_back(WeekReportData{start, std::move(friction)});
  }
  return report;
}

absl::Status SqliteStore::ScanRuleUsers(
    const ResponseQuery& query,
    absl::FunctionRef<void(const RuleUserRecord&)> fn) {
  // Two streams in (rule_id, user_id) order, merged here: the matches
  // (matches_by_rule_user; a user's matches of a rule are adjacent, so
  // grouping them is a comparison with the previous row) and the users
  // with a response (DISTINCT over responses_by_rule_user). Both are scans
  // of a covering index in its order, without a sort. A GROUP BY in SQL,
  // or a correlated EXISTS per pair (a B-tree search each), measured
  // slower at 1,500,000 matches.
  const std::string matches_sql =
      absl::StrCat("SELECT rule_id, user_id, matched_at_us FROM matches",
                   WhereClause(RuleTimeTerms(query, "matched_at_us")),
                   " ORDER BY rule_id, user_id");
  const std::string responded_sql =
      absl::StrCat("SELECT DISTINCT rule_id, user_id FROM responses",
                   query.rule_id.empty() ? "" : " WHERE rule_id = ?1",
                   " ORDER BY rule_id, user_id");
  return WithReader([&](Connection& conn) -> absl::Status {
    return internal::InReadTransaction(conn, [&]() -> absl::Status {
      ASSIGN_OR_RETURN(Statement matches, conn.Prepare(matches_sql));
      RETURN_IF_ERROR(BindRuleTime(matches, query));
      ASSIGN_OR_RETURN(Statement responded, conn.Prepare(responded_sql));
      if (!query.rule_id.empty()) {
        RETURN_IF_ERROR(responded.BindText(1, query.rule_id));
      }
      // The responded stream's current pair; views valid until its next
      // step. SQLite's BINARY collation orders as string_view compares
      // (bytes, then length), so the merge agrees with both ORDER BYs.
      bool more_responded = false;
      absl::string_view responded_rule;
      absl::string_view responded_user;
      const auto next_responded = [&]() -> absl::Status {
        ASSIGN_OR_RETURN(more_responded, responded.Step());
        if (more_responded) {
          responded_rule = responded.ColumnText(0);
          responded_user = responded.ColumnText(1);
        }
        return absl::OkStatus();
      };
      RETURN_IF_ERROR(next_responded());
      // The pair being grouped; reused, so its strings keep their capacity.
      RuleUserRecord record;
      bool open = false;
      const auto emit = [&]() -> absl::Status {
        while (more_responded) {
          const int by_rule = responded_rule.compare(record.rule_id);
          if (by_rule > 0 ||
              (by_rule == 0 && responded_user.compare(record.user_id) >= 0)) {
            break;
          }
          RETURN_IF_ERROR(next_responded());
        }
        record.responded = more_responded && responded_rule == record.rule_id &&
                           responded_user == record.user_id;
        fn(record);
        return absl::OkStatus();
      };
      while (true) {
        ASSIGN_OR_RETURN(bool row, matches.Step());
        if (!row) break;
        const absl::string_view rule_id = matches.ColumnText(0);
        const absl::string_view user_id = matches.ColumnText(1);
        const absl::Time at = absl::FromUnixMicros(matches.ColumnInt64(2));
        if (open && rule_id == record.rule_id && user_id == record.user_id) {
          record.first_matched_at = std::min(record.first_matched_at, at);
          continue;
        }
        if (open) RETURN_IF_ERROR(emit());
        Assign(record.rule_id, rule_id);
        Assign(record.user_id, user_id);
        record.first_matched_at = at;
        open = true;
      }
      if (open) RETURN_IF_ERROR(emit());
      return absl::OkStatus();
    });
  });
}

absl::Status SqliteStore::ScanEventsNamed(
    absl::string_view name,
    absl::FunctionRef<void(absl::string_view user_id, absl::Time time)> fn) {
  return WithReader([&](Connection& conn) -> absl::Status {
    // A sequential scan of the log (it has no index but its seq).
    ASSIGN_OR_RETURN(
        Statement scan,
        conn.Prepare(absl::StrCat("SELECT user_id, event_time_us FROM events "
                                  "WHERE name = ? AND ",
                                  kRealEvent, " ORDER BY seq")));
    RETURN_IF_ERROR(scan.BindText(1, name));
    while (true) {
      ASSIGN_OR_RETURN(bool row, scan.Step());
      if (!row) return absl::OkStatus();
      fn(scan.ColumnText(0), absl::FromUnixMicros(scan.ColumnInt64(1)));
    }
  });
}

// --- Deletion ---

absl::StatusOr<std::map<std::string, int64_t>> SqliteStore::DeleteUser(
    absl::string_view user_id) {
  if (user_id.empty()) {
    return absl::InvalidArgumentError("delete user: empty user_id");
  }
  // Each derived table is deleted from by its user index (response_tags by
  // the user's responses, matches rule by rule); the events by a scan of
  // the log.
  static const std::string* const kMatchesDelete = new std::string(
      absl::StrCat(kMatchRuleIdsCte,
                   "DELETE FROM matches WHERE match_id IN (SELECT match_id",
                   FromUserMatches("?1"), ")"));
  const std::pair<const char*, absl::string_view> deletes[] = {
      {"response_tags",
       "DELETE FROM response_tags WHERE response_seq IN "
       "(SELECT seq FROM responses WHERE user_id = ?)"},
      {"responses", "DELETE FROM responses WHERE user_id = ?"},
      {"prompts", "DELETE FROM prompts WHERE user_id = ?"},
      {"decisions", "DELETE FROM decisions WHERE user_id = ?"},
      {"matches", *kMatchesDelete},
      {"traits", "DELETE FROM traits WHERE user_id = ?"},
      {"users", "DELETE FROM users WHERE user_id = ?"},
      {"events", "DELETE FROM events WHERE user_id = ?"},
  };
  std::map<std::string, int64_t> removed;
  absl::MutexLock lock(&write_mu_);
  Connection& conn = *writer_;
  RETURN_IF_ERROR(internal::InTransaction(conn, [&]() -> absl::Status {
    removed.clear();  // nothing of a failed attempt counts
    ASSIGN_OR_RETURN(
        const int64_t max_seq_before,
        conn.QueryInt64("SELECT COALESCE(MAX(seq), 0) FROM events"));
    for (const auto& [table, sql] : deletes) {
      ASSIGN_OR_RETURN(Statement del, conn.Prepare(sql));
      RETURN_IF_ERROR(del.BindText(1, user_id));
      RETURN_IF_ERROR(del.Run());
      removed[table] = sqlite3_changes(conn.db());
    }
    // A tombstone keeps the largest seq given (see kRealEvent). Tombstones
    // have an empty user_id, so the delete above never removes one.
    ASSIGN_OR_RETURN(
        const int64_t max_seq_after,
        conn.QueryInt64("SELECT COALESCE(MAX(seq), 0) FROM events"));
    if (max_seq_after < max_seq_before) {
      ASSIGN_OR_RETURN(
          Statement tombstone,
          conn.Prepare("INSERT INTO events(seq, event_id, user_id, name, "
                       "event_time_us, received_us, payload) "
                       "VALUES(?, '', '', '', 0, 0, x'')"));
      RETURN_IF_ERROR(tombstone.BindInt64(1, max_seq_before));
      RETURN_IF_ERROR(tombstone.Run());
    }
    const std::pair<const char*, int64_t> deltas[] = {
        {"events", -removed["events"]},
        {"users", -removed["users"]},
    };
    for (const auto& [name, delta] : deltas) {
      RETURN_IF_ERROR(AddToCounter(conn, name, delta));
    }
    return absl::OkStatus();
  }));
  return removed;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const StoreOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer,
                   internal::OpenWriter(options.path, options.durability,
                                        options.busy_timeout));
  RETURN_IF_ERROR(internal::Migrate(*writer));
  std::unique_ptr<internal::WalCheckpointer> checkpointer;
  if (!writer->in_memory() && options.wal_checkpoint_pages > 0) {
    ASSIGN_OR_RETURN(checkpointer,
                     internal::WalCheckpointer::Start(
                         options.path, options.durability, options.busy_timeout,
                         options.wal_checkpoint_pages));
  }
  return std::make_unique<SqliteStore>(options, std::move(writer),
                                       std::move(checkpointer));
}

}  // namespace hark::store
