#include "server/store/schema.h"

#include <iterator>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hark/status_macros.h"
#include "spdlog/spdlog.h"

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
// - events: see kCreateEventsTableSql. Rows were never deleted up to
//   version 3; since version 4 DeleteUser() deletes a user's events.
//   Without AUTOINCREMENT SQLite gives the next row max(seq) + 1, so it
//   would reuse the sequence numbers of deleted rows at the end of the log,
//   and replay past a checkpoint would skip the new events that got them.
//   DeleteUser() prevents it with a tombstone: when it removes the event
//   holding the largest seq, it inserts in its place a row with that seq,
//   an empty event_id, user_id, name and payload and times 0, and the next
//   append continues after it. Every read of the log skips tombstones
//   (event_id = ''; Write() refuses real events without an id) and no
//   counter counts them (sqlite_store.cc, kRealEvent). Switching to
//   AUTOINCREMENT instead would mean copying the whole log into a new table.
// - users: every user ever seen, with the time of its first event.
// - traits: the latest value of each (user, key) and when it was set.
// - store_counters: exact row counts maintained by Write() (and, since
//   version 4, DeleteUser()) in the same transaction, so GetStats() is O(1) on
//   a log of any size (COUNT(*) scans the whole table, and MAX(seq) stops being
//   a count once rows are deleted).
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
// and switching would mean copying the whole log into a new table. Version
// 4 deletes events (DeleteUser()); the note of version 1 says how seqs
// still only grow.
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

// Version 3: orchestration (DESIGN.md, Orchestration): the contact
// policy's decisions and the prompts of sent decisions. Both are written once
// per match, so they are small next to the event log and indexes are
// affordable; still, each index below is there for one query of the Store
// (named in its comment) and every such query is served by an index.
// - decisions: at most one per match (primary key match_id, which makes
//   AppendDecisions() idempotent across retries and restarts, and which
//   ListUndecidedMatches() probes with NOT EXISTS). `kind` is a
//   hark.v1.Prompt.Kind number, `outcome` "sent" or a suppression reason.
//   - decisions_by_user: ListUserDecisions() in order, without a sort.
//   - sent_decisions_by_user / _by_rule / _by_target: CountSentDecisions()
//     filtered by user, rule or target (the contact cap, the rule's quota,
//     the survey's quota) with the `since` bound as a range. Partial indexes
//     (WHERE outcome = 'sent', which the queries repeat verbatim so that
//     SQLite can use them) hold only sent decisions: suppressed ones, which
//     outnumber them, cost nothing there, and a count visits only the sent
//     decisions of its window, which the very caps it checks keep few. A
//     kind filter is checked on those rows. A query with none of the three
//     filters scans the table; the policy never asks one.
// - prompts: one per sent decision (match_id UNIQUE). `state` is a
//   hark.v1.Prompt.State number (1 pending, 2 delivered, 3 shown,
//   4 answered, 5 dismissed, 6 expired); delivered_us, shown_us and
//   closed_us are NULL until the state change that sets them; feed_seq is
//   NULL until FeedDuePrompts() puts the prompt into the feed. `body` is
//   opaque to the store (a serialized hark.v1.Prompt).
//   - prompts_by_user: ListUserPrompts() in order; ListShowablePrompts()
//     finds the user's prompts with it and sorts the few that are showable.
//   - unfed_prompts_by_due: FeedDuePrompts() and NextUnfedDue() in due
//     order. Partial (pending and not yet fed), so it holds only the
//     prompts still waiting for their due time.
//   - prompts_by_feed_seq: ReadFeed() in feed order; UNIQUE because a feed
//     position is given once. Partial (feed_seq IS NOT NULL) so that unfed
//     prompts take no entry.
//   - open_prompts_by_expiry: ExpirePrompts(). Partial (pending, delivered,
//     shown), so it holds only prompts that can still expire.
// - store_counters 'feed_seq': the last feed sequence number given.
//   FeedDuePrompts() advances it in the transaction that assigns numbers,
//   so numbers only grow even after the prompts holding the highest ones are
//   deleted (DeleteUser(), version 4). MAX(feed_seq) would go back after such a
//   deletion, and an AUTOINCREMENT rowid does not fit because the number is
//   given when a prompt is fed, not when it is inserted.
constexpr const char* kSchemaV3[] = {
    "CREATE TABLE decisions("
    "match_id TEXT PRIMARY KEY, "
    "user_id TEXT NOT NULL, "
    "rule_id TEXT NOT NULL, "
    "rule_version TEXT NOT NULL, "
    "kind INTEGER NOT NULL, "
    "target TEXT NOT NULL, "
    "outcome TEXT NOT NULL, "
    "reason TEXT NOT NULL, "
    "matched_at_us INTEGER NOT NULL, "
    "decided_at_us INTEGER NOT NULL)",
    "CREATE INDEX decisions_by_user ON decisions(user_id, decided_at_us, "
    "match_id)",
    "CREATE INDEX sent_decisions_by_user ON decisions(user_id, "
    "decided_at_us) WHERE outcome = 'sent'",
    "CREATE INDEX sent_decisions_by_rule ON decisions(rule_id, "
    "decided_at_us) WHERE outcome = 'sent'",
    "CREATE INDEX sent_decisions_by_target ON decisions(target, "
    "decided_at_us) WHERE outcome = 'sent'",
    "CREATE TABLE prompts("
    "prompt_id TEXT PRIMARY KEY, "
    "match_id TEXT NOT NULL UNIQUE, "
    "user_id TEXT NOT NULL, "
    "kind INTEGER NOT NULL, "
    "rule_id TEXT NOT NULL, "
    "definition_id TEXT NOT NULL, "
    "priority INTEGER NOT NULL, "
    "created_us INTEGER NOT NULL, "
    "due_us INTEGER NOT NULL, "
    "expires_us INTEGER NOT NULL, "
    "state INTEGER NOT NULL, "
    "delivered_us INTEGER, "
    "shown_us INTEGER, "
    "closed_us INTEGER, "
    "feed_seq INTEGER, "
    "body BLOB NOT NULL)",
    "CREATE INDEX prompts_by_user ON prompts(user_id, created_us, prompt_id)",
    "CREATE INDEX unfed_prompts_by_due ON prompts(due_us, prompt_id) "
    "WHERE feed_seq IS NULL AND state = 1",
    "CREATE UNIQUE INDEX prompts_by_feed_seq ON prompts(feed_seq) "
    "WHERE feed_seq IS NOT NULL",
    "CREATE INDEX open_prompts_by_expiry ON prompts(expires_us) "
    "WHERE state IN (1, 2, 3)",
    "INSERT INTO store_counters(name, value) VALUES('feed_seq', 0)",
};

// Version 4: responses and their friction tags (DESIGN.md, Responses and
// friction), the report's indexes, the feed of delivered prompts, and user
// deletion. Responses come at the pace of people answering, so their
// inserts can afford the indexes below; each serves a named Store query,
// and the figures quoted were measured with 1,000,000 responses and
// 1,500,000 matches on the 2-core machine of DESIGN.md.
// - responses: at most one per prompt (prompt_id UNIQUE, which
//   InsertResponse() probes for ALREADY_EXISTS and GetResponseByPrompt()
//   reads by); response_id UNIQUE serves GetResponse(). `seq` is
//   AUTOINCREMENT so that a number is never given twice, not even after
//   DeleteUser() removed the newest responses: ListResponses() pages by
//   seq, and a reused number would put another response behind a client's
//   page boundary. Columns copied out of the response for the filters:
//   `traits` (a JSON object of trait key to display string, filtered with
//   json_extract), `friction` and `source` (the primary tag's, '' without
//   one), `frictions` (the friction types of all current tags, each between
//   spaces: ' pricing product ', for the any_tag filter). `score` is NULL
//   for a response without one. `body` is opaque to the store (a serialized
//   hark.v1.Response).
//   ListResponses() returns newest first (seq descending) and stops after a
//   page, so the index of each equality filter continues with seq: a page
//   walks it backwards from the page boundary, O(log n + page) however many
//   responses there are. submitted_us (and source) come last so that a time
//   range (or a primary source) combined with the filter is checked in the
//   index, without reading the rows it rejects (a rule and an old week:
//   7 ms instead of 140 ms). The filters without an index (trait, score,
//   text, any_tag; source alone) are checked on the rows of such a walk, or
//   of a walk of the table itself in seq order, which stops as soon as the
//   page is full.
//   - responses_by_friction / _by_rule / _by_definition / _by_user: the
//     primary friction, rule, survey or interview, and user filters. A
//     user has few responses: responses_by_user has no source; it also
//     serves DeleteUser().
//   - responses_by_submitted: ListResponses() with a submitted_at range and
//     no equality filter finds with it where the range lies in seq order
//     (see ListResponses()).
//   - responses_by_rule_user: GetReportData() reads the response figures
//     from it alone (covering: rule, primary friction, hypothesis, time),
//     and ScanRuleUsers() merges it with matches_by_rule_user to tell who
//     responded; both in one pass in index order, without a sort.
// - response_tags: every tag a response ever had, in the order set (`id`,
//   AUTOINCREMENT for the same reason as responses.seq): the history.
//   is_current marks the tags in force; is_primary whether the tag was
//   stored as the primary one (a current manual tag outranks it).
//   - response_tags_by_response: a response's tags and history in order
//     (GetResponse(), ListResponses(), the tag changes) and DeleteUser().
// - The report (GetReportData(), ScanRuleUsers()) aggregates per rule with
//   GROUP BY over covering indexes in their order, so each figure is one
//   scan of an index, with no sort and no read of the table rows (which
//   carry the bodies):
//   - matches_by_rule_user: ScanRuleUsers() (each user's first match of a
//     rule in the time range); matches_by_rule (version 2) the match counts.
//   - decisions_by_rule: decisions by rule and outcome.
//   - prompts_by_rule: prompts delivered, shown and answered by rule; the
//     state columns change with the prompt (a few times per prompt).
// - prompts: unfed_prompts_by_due is replaced to hold every open prompt not
//   yet fed (pending, delivered or shown): FeedDuePrompts() also feeds a
//   prompt that GetPrompts() delivered before it was fed, which version 3
//   left out of the feed for good.
// - events: DeleteUser() deletes rows of the log; see the note of version 1
//   on how sequence numbers stay unique (a tombstone row).
constexpr const char* kSchemaV4[] = {
    "CREATE TABLE responses("
    "seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "response_id TEXT NOT NULL UNIQUE, "
    "prompt_id TEXT NOT NULL UNIQUE, "
    "match_id TEXT NOT NULL, "
    "user_id TEXT NOT NULL, "
    "rule_id TEXT NOT NULL, "
    "rule_version TEXT NOT NULL, "
    "definition_id TEXT NOT NULL, "
    "kind INTEGER NOT NULL, "
    "hypothesis TEXT NOT NULL, "
    "submitted_us INTEGER NOT NULL, "
    "updated_us INTEGER NOT NULL, "
    "score INTEGER, "
    "text TEXT NOT NULL, "
    "interview_status TEXT NOT NULL, "
    "traits TEXT NOT NULL, "
    "friction TEXT NOT NULL, "
    "source TEXT NOT NULL, "
    "frictions TEXT NOT NULL, "
    "body BLOB NOT NULL)",
    "CREATE INDEX responses_by_friction ON responses(friction, seq, "
    "submitted_us, source)",
    "CREATE INDEX responses_by_rule ON responses(rule_id, seq, submitted_us, "
    "source)",
    "CREATE INDEX responses_by_definition ON responses(definition_id, seq, "
    "submitted_us, source)",
    "CREATE INDEX responses_by_user ON responses(user_id, seq, submitted_us)",
    "CREATE INDEX responses_by_submitted ON responses(submitted_us)",
    "CREATE INDEX responses_by_rule_user ON responses(rule_id, user_id, "
    "friction, hypothesis, submitted_us)",
    "CREATE TABLE response_tags("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "response_seq INTEGER NOT NULL, "
    "friction TEXT NOT NULL, "
    "source TEXT NOT NULL, "
    "confidence REAL NOT NULL, "
    "is_primary INTEGER NOT NULL, "
    "is_current INTEGER NOT NULL, "
    "tagged_by TEXT NOT NULL, "
    "note TEXT NOT NULL, "
    "tagged_us INTEGER NOT NULL)",
    "CREATE INDEX response_tags_by_response ON response_tags(response_seq, "
    "id)",
    "CREATE INDEX matches_by_rule_user ON matches(rule_id, user_id, "
    "matched_at_us)",
    "CREATE INDEX decisions_by_rule ON decisions(rule_id, outcome, "
    "decided_at_us)",
    "CREATE INDEX prompts_by_rule ON prompts(rule_id, created_us, state, "
    "delivered_us, shown_us)",
    "DROP INDEX unfed_prompts_by_due",
    "CREATE INDEX unfed_prompts_by_due ON prompts(due_us, prompt_id) "
    "WHERE feed_seq IS NULL AND state IN (1, 2, 3)",
};

// Version 5: engine checkpoints in parts. A checkpoint is tens of MB for
// a million users; written as one row, it held the writer connection (and
// so every commit of events) for the whole write. SaveCheckpoint() now
// writes it as parts of 1 MiB of a new generation, each part its own
// transaction, then switches engine_checkpoints to the new generation in
// one small transaction and drops the old parts. A crash before the switch
// leaves the previous checkpoint in force (the next save deletes the
// unfinished parts). Rows of version 4 keep their state in
// engine_checkpoints.state (parts = 0) and are read as before.
constexpr const char* kSchemaV5[] = {
    "CREATE TABLE engine_checkpoint_parts("
    "shard INTEGER NOT NULL, "
    "generation INTEGER NOT NULL, "
    "part INTEGER NOT NULL, "
    "data BLOB NOT NULL, "
    "PRIMARY KEY(shard, generation, part))",
    "ALTER TABLE engine_checkpoints ADD COLUMN generation INTEGER NOT NULL "
    "DEFAULT 0",
    "ALTER TABLE engine_checkpoints ADD COLUMN parts INTEGER NOT NULL "
    "DEFAULT 0",
};

// Version 6: two indexes of matches instead of four. Every index entry of
// a match is a B-tree insert at its own place and a 4 KiB page written to
// the WAL (and copied back by the checkpointer), on the writer that event
// commits wait for: with 100 rules, four secondary indexes cost ~34 us of
// writer time per match, two ~23 us (hark-bench ingest, BENCHMARKS.md).
// - matches_by_time gains rule_id: ListMatches() with only a rule filter
//   walks it newest first and checks the rule on the index entry, a
//   bounded number of entries per call (a page may come back short, with a
//   token to go on). It replaces matches_by_rule, whose order only that
//   listing needed; the report counts per rule on matches_by_rule_user.
// - matches_by_rule_user gains match_id, so that it pages a rule and a
//   user in (matched_at_us, match_id) order. It replaces matches_by_user:
//   a user's matches are found rule by rule (a skip over the distinct
//   rule_ids of the index, one B-tree search each).
constexpr const char* kSchemaV6[] = {
    "DROP INDEX matches_by_rule",
    "DROP INDEX matches_by_user",
    "DROP INDEX matches_by_rule_user",
    "DROP INDEX matches_by_time",
    "CREATE INDEX matches_by_time ON matches(matched_at_us, match_id, "
    "rule_id)",
    "CREATE INDEX matches_by_rule_user ON matches(rule_id, user_id, "
    "matched_at_us, match_id)",
};

// Version 7: incremental engine checkpoints. A full checkpoint costs its
// whole size (tens of MB for a million users) every time, however few
// users changed; a delta holds only the users that did. The checkpoint in
// force is now a chain of generations: a full one (base_generation) and
// the deltas saved after it, up to `generation`; each generation's parts
// are counted in engine_checkpoint_segments, so that a part missing from
// any of them is told apart from the end. A full save switches
// base_generation and generation to its own and drops the older ones; a
// delta save only moves `generation`. Existing rows become chains of one
// full generation.
constexpr const char* kSchemaV7[] = {
    "CREATE TABLE engine_checkpoint_segments("
    "shard INTEGER NOT NULL, "
    "generation INTEGER NOT NULL, "
    "parts INTEGER NOT NULL, "
    "PRIMARY KEY(shard, generation))",
    "ALTER TABLE engine_checkpoints ADD COLUMN base_generation INTEGER NOT "
    "NULL DEFAULT 0",
    "UPDATE engine_checkpoints SET base_generation = generation",
    "INSERT INTO engine_checkpoint_segments(shard, generation, parts) "
    "SELECT shard, generation, parts FROM engine_checkpoints",
};

// Version 8: match ids that grow with the log. A match id was a hash (16
// hex digits), so every match put its primary-key entry at a random page of
// sqlite_autoindex_matches_1, one more page written to the WAL (and copied
// back) per match or so. The engine now begins an id with the highest seq
// of the match's events (engine::EngineOptions::legacy_match_ids_through),
// so new entries go to the end of the index. A match that a replay finds
// again must get the id it was stored with, so the log's last seq at the
// upgrade is kept (store_counters "legacy_match_ids_through", 0 in a new
// store): matches of events at or before it keep the old form.
constexpr const char* kSchemaV8[] = {
    "INSERT INTO store_counters(name, value) "
    "SELECT 'legacy_match_ids_through', IFNULL(MAX(seq), 0) FROM events",
};

// Version 9: compressed engine checkpoints. The engine's state repeats
// itself (an event's time and seq in the record of every rule it counts
// for), so a checkpoint shrinks ~9 times under zstd: one of 200,000 users
// went from 92.9 MB to 10.7 MB, written to the WAL, copied back by the
// checkpointer and read at start. Each generation says how its parts are
// encoded (sqlite_store.cc, CheckpointEncoding); those saved before stay
// raw and load as they are.
constexpr const char* kSchemaV9[] = {
    "ALTER TABLE engine_checkpoint_segments ADD COLUMN encoding INTEGER NOT "
    "NULL DEFAULT 0",
};

// Ordered by version, numbered 1, 2, 3, ...; append new steps at the end.
constexpr Migration kMigrations[] = {
    {1, kSchemaV1}, {2, kSchemaV2}, {3, kSchemaV3},
    {4, kSchemaV4}, {5, kSchemaV5}, {6, kSchemaV6},
    {7, kSchemaV7}, {8, kSchemaV8}, {9, kSchemaV9},
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
      // A fresh file is not news; an upgrade of a filled one may take a
      // while (version 6 rebuilds two indexes of matches: seconds per
      // million matches).
      if (current > 0) {
        spdlog::info("sqlite store {}: upgrading the schema to version {}",
                     conn.path(), step.version);
      }
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
