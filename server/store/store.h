#ifndef HARK_SERVER_STORE_STORE_H_
#define HARK_SERVER_STORE_STORE_H_

// The storage interface. Only server/store/ knows SQL; the rest of Hark talks
// to this interface so that another backend (PostgreSQL) can follow.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace hark::store {

// What a commit survives. kNormal (synchronous=NORMAL in WAL mode): every
// committed transaction survives a crash of the process; the last
// transactions before a power loss or OS crash may be lost, the file stays
// consistent. kFull (synchronous=FULL): committed transactions also survive
// power loss, at the price of an fsync per commit.
enum class Durability { kNormal, kFull };

struct StoreOptions {
  // A file path, or ":memory:" for a private in-memory database (tests).
  std::string path;
  Durability durability = Durability::kNormal;
  // How long a statement waits for a lock held by another connection (for
  // example another process on the same file) before failing UNAVAILABLE.
  absl::Duration busy_timeout = absl::Seconds(5);
  // File databases: once the WAL holds this many pages (4 KiB each) after
  // a commit, a background thread checkpoints it (copies the pages back
  // into the database file), so that commits never do that work or wait for
  // its fsyncs. 0: SQLite's default instead, a checkpoint inside the commit
  // that crosses 1000 pages. A checkpoint copies each page once however
  // many commits wrote it since the last one, so a larger WAL copies fewer:
  // index pages that many commits touch (matches' index entries land at
  // random pages) are copied once per 64 MiB rather than once per 16
  // (BENCHMARKS.md: ~0.2 us less copying per event with 100 rules).
  int wal_checkpoint_pages = 16384;
  // ListMatches() with a rule filter alone walks all matches newest first
  // and returns what it found once it has passed over this many of other
  // rules (a short page, with a token to go on), so that a call on a rare
  // rule stays short.
  int list_matches_scan_limit = 20000;
  // Engine checkpoints are stored zstd-compressed (schema.cc, version 9);
  // off, as they come (tests of the parts themselves).
  bool compress_checkpoints = true;
};

// One event as appended to the event log.
struct EventRecord {
  // Not empty (Write() refuses an event without one).
  std::string event_id;
  std::string user_id;
  std::string name;
  absl::Time event_time;
  absl::Time received_at;
  // The whole hark.v1.Event, serialized.
  std::string payload;
  // The event's position in the log (> 0). Filled by the reads
  // (ScanEvents, GetEventsBySeq); ignored by Write(), where the log assigns
  // it (see WriteResult).
  int64_t seq = 0;
};

// One trait of a user: `value` is a serialized hark.v1.Value.
struct TraitRecord {
  std::string user_id;
  std::string key;
  std::string value;
  absl::Time set_at;
};

// Everything one writer transaction commits.
struct WriteBatch {
  std::vector<EventRecord> events;
  std::vector<TraitRecord> traits;
  // Users not seen before (first_seen is the batch's time).
  std::vector<std::string> new_users;
  absl::Time now;
};

// Where the events of one committed batch landed in the log. The events of
// a batch get consecutive sequence numbers in batch order: event i of the
// batch has first_event_seq + i, and last_event_seq - first_event_seq + 1 is
// the number of events. Both are 0 when the batch had no events. Sequence
// numbers grow with every batch committed later.
struct WriteResult {
  int64_t first_event_seq = 0;
  int64_t last_event_seq = 0;
};

// One match of a trigger rule (DESIGN.md, "Engine semantics"). Times are
// stored with microsecond precision.
struct MatchRecord {
  // Deterministic (the same match found again has the same id): the key
  // that makes AppendMatches() idempotent. Not empty.
  std::string match_id;
  std::string rule_id;
  std::string rule_version;
  std::string user_id;
  // Values of the rule's group_by keys joined with "|"; empty without.
  std::string group_key;
  // The moment of the match: the last event's time or the deadline.
  absl::Time matched_at;
  // True if an absence deadline completed the match.
  bool at_deadline = false;
  // When the match was first stored (replays do not change it).
  absl::Time created_at;
  // Opaque to the store: the caller's serialized hark.v1.Match (matched
  // events with ids, names, times and properties; the user's traits then).
  std::string context;
};

// Which matches ListMatches() returns: an empty rule_id or user_id matches
// every rule or user.
struct MatchFilter {
  std::string rule_id;
  std::string user_id;
  // 0 means the default (50); larger than 1000 means 1000.
  uint32_t page_size = 0;
  // Empty for the first page, else a next_page_token that ListMatches()
  // returned for the same rule_id and user_id.
  std::string page_token;
};

struct MatchPage {
  // At most the page size; fewer (even none) before the last page when
  // only a rule filter is set (StoreOptions::list_matches_scan_limit).
  std::vector<MatchRecord> matches;
  // Empty on the last page.
  std::string next_page_token;
};

// The persisted engine state of one shard: `state` (opaque to the store), a
// full checkpoint, with the deltas saved after it applied in order,
// reflects every event of the log up to and including `last_seq`.
struct Checkpoint {
  int64_t last_seq = 0;
  absl::Time saved_at;
  std::string state;
  // Oldest first; empty right after a full save.
  std::vector<std::string> deltas;
};

enum class CheckpointKind {
  // Replaces the checkpoint in force (and its deltas).
  kFull,
  // Adds to the checkpoint in force, which must exist.
  kDelta,
};

// The decision of the contact policy about one match (DESIGN.md,
// "Orchestration"). At most one per match.
struct DecisionRecord {
  std::string match_id;
  std::string user_id;
  std::string rule_id;
  std::string rule_version;
  // hark.v1.Prompt.Kind numbers: 1 survey, 2 interview.
  int kind = 1;
  // The survey or interview id.
  std::string target;
  // "sent" or a suppression reason (policy::OutcomeName).
  std::string outcome;
  // One readable sentence.
  std::string reason;
  absl::Time matched_at;
  absl::Time decided_at;
};

// Which decisions CountSentDecisions() counts: outcome "sent" and
// decided_at >= since; empty strings and kind 0 match anything.
struct DecisionQuery {
  std::string user_id;
  std::string rule_id;
  std::string target;
  int kind = 0;
  absl::Time since;
};

// hark.v1.Prompt.State numbers.
enum class PromptState {
  kPending = 1,
  kDelivered = 2,
  kShown = 3,
  kAnswered = 4,
  kDismissed = 5,
  kExpired = 6,
};

// "pending", "delivered", "shown", "answered", "dismissed", "expired".
inline absl::string_view PromptStateName(PromptState state) {
  switch (state) {
    case PromptState::kPending:
      return "pending";
    case PromptState::kDelivered:
      return "delivered";
    case PromptState::kShown:
      return "shown";
    case PromptState::kAnswered:
      return "answered";
    case PromptState::kDismissed:
      return "dismissed";
    case PromptState::kExpired:
      return "expired";
  }
  return "in an unknown state";
}

// A prompt created by a sent decision. Times with microsecond precision.
struct PromptRecord {
  std::string prompt_id;
  // Unique: one prompt per match.
  std::string match_id;
  std::string user_id;
  // hark.v1.Prompt.Kind numbers: 1 survey, 2 interview.
  int kind = 1;
  std::string rule_id;
  std::string definition_id;
  int priority = 0;
  absl::Time created_at;
  absl::Time due_at;
  absl::Time expires_at;
  PromptState state = PromptState::kPending;
  // Set by the state changes (nullopt until they happen).
  std::optional<absl::Time> delivered_at;
  std::optional<absl::Time> shown_at;
  // When it became answered, dismissed or expired (expired: expires_at).
  std::optional<absl::Time> closed_at;
  // Its position in the feed of due prompts (WatchPrompts cursors); 0
  // until FeedDuePrompts() put it there.
  int64_t feed_seq = 0;
  // Opaque to the store: the rendered hark.v1.Prompt, serialized.
  std::string body;
};

// --- Responses (DESIGN.md, "Responses and friction") ----------------------

// One friction tag of a response. Times with microsecond precision.
struct TagRecord {
  // product, process, pricing, perception or unknown: one word, not empty.
  std::string friction;
  // choice, text, hypothesis or manual.
  std::string source;
  // 0..1.
  double confidence = 0;
  // Among the current tags (ResponseRecord::tags): the primary one, a
  // current manual tag if there is one. In the history: as the tag was
  // stored.
  bool primary = false;
  // Manual tags: the API key's name and why.
  std::string tagged_by;
  std::string note;
  absl::Time tagged_at;
};

// The answer to one prompt (a survey's answers, or an interview
// invitation's outcome). At most one per prompt.
struct ResponseRecord {
  // Position in the responses table, given by the store on insert (> 0,
  // only grows, never reused). Newest first means seq descending.
  int64_t seq = 0;
  std::string response_id;
  // Unique: one response per prompt.
  std::string prompt_id;
  std::string match_id;
  std::string user_id;
  std::string rule_id;
  std::string rule_version;
  // The survey or interview id.
  std::string definition_id;
  // hark.v1.Prompt.Kind numbers: 1 survey, 2 interview.
  int kind = 1;
  // The rule's friction_hypothesis when the response was stored (may be
  // empty): the report compares it with the primary tag.
  std::string hypothesis;
  absl::Time submitted_at;
  // When the response last changed (an interview's later status).
  absl::Time updated_at;
  // The first RATING/NPS/CES answer (the score range filter).
  std::optional<int> score;
  // The free-text answers and interview notes, joined by "\n" (the
  // text_contains filter).
  std::string text;
  // Interviews: accepted, declined, booked, completed or no_show; empty for
  // surveys.
  std::string interview_status;
  // The user's traits at match time as key and display value (strings as
  // they are, numbers like 3 or 2.5, booleans true/false): the trait filter.
  std::vector<std::pair<std::string, std::string>> traits;
  // The current tags, primary first (at most one primary), the others in
  // the order they were set.
  std::vector<TagRecord> tags;
  // Every tag ever set, oldest first. Filled by the methods that return one
  // response (GetResponse(), GetResponseByPrompt() and the changes), not by
  // ListResponses(); ignored by the writes.
  std::vector<TagRecord> tag_history;
  // Opaque to the store: a serialized hark.v1.Response (answers, match
  // context); its tags are not read from here.
  std::string body;
};

// Which responses ListResponses() and GetReportData() consider. Empty
// strings and unset optionals match anything.
struct ResponseQuery {
  // The primary tag's friction type; with any_tag, any current tag's.
  std::string friction;
  bool any_tag = false;
  // The primary tag's source (choice, text, hypothesis, manual).
  std::string source;
  std::string rule_id;
  std::string definition_id;
  std::string user_id;
  // submitted_at in [from, to).
  std::optional<absl::Time> from;
  std::optional<absl::Time> to;
  // A trait at match time: key and display value (exact match). Applies
  // when trait_key is not empty; trait_value is then compared exactly (an
  // empty one matches an empty display value, not any value).
  std::string trait_key;
  std::string trait_value;
  // score within [min_score, max_score]; a response without score never
  // matches a score bound.
  std::optional<int> min_score;
  std::optional<int> max_score;
  // Case-insensitive (ASCII) substring of `text`.
  std::string text_contains;
};

// The figures GetReportData() aggregates per rule (DESIGN.md, "Responses
// and friction"). Matches, decisions and prompts are filtered by the
// query's rule_id and time range only (matched_at, decided_at, created_at);
// the response figures use the whole query.
struct RuleReportData {
  std::string rule_id;
  int64_t matches = 0;
  // Decisions by outcome ("sent", "cooldown", ...).
  std::map<std::string, int64_t> decisions;
  // Prompts ever delivered (delivered_at set), shown, answered.
  int64_t delivered = 0;
  int64_t shown = 0;
  int64_t answered = 0;
  // Responses by primary friction type ("" for one without a primary tag).
  std::map<std::string, int64_t> friction;
  // Responses whose stored hypothesis is not empty, and those of them
  // whose primary friction differs from it.
  int64_t with_hypothesis = 0;
  int64_t hypothesis_mismatches = 0;
};

struct WeekReportData {
  // Monday 00:00 UTC.
  absl::Time week_start;
  std::map<std::string, int64_t> friction;
};

struct ReportData {
  // By rule_id.
  std::vector<RuleReportData> rules;
  // Responses by week of submitted_at, oldest first; weeks without
  // responses are left out.
  std::vector<WeekReportData> trend;
};

// A matched user of a rule (the outcome linkage of the report).
struct RuleUserRecord {
  std::string rule_id;
  std::string user_id;
  // The user's first match of the rule within the query's time range.
  absl::Time first_matched_at;
  // The user has a response to a prompt of this rule (at any time: the
  // time range selects matches only).
  bool responded = false;
};

struct StoreStats {
  uint64_t events = 0;
  uint64_t users = 0;
};

// Thread safety: every method may be called from any thread. The writing
// methods (Write, AppendMatches, WriteCheckpoint, AppendDecisions, the prompt
// and response changes, DeleteUser) are serialized: they share one writer
// connection under one mutex, so each runs as its own
// transaction and a call may wait for another thread's write to commit. The
// read methods run concurrently with writes and with each other (file
// databases). Each read statement sees a consistent snapshot: a
// transaction is visible entirely or not at all. The callbacks of the Scan
// methods run on the caller's thread while the scan is in progress and must
// not call back into the Store (for an in-memory database that would
// deadlock).
//
// The methods after GetStats() have default implementations that fail
// UNIMPLEMENTED, so that test fakes implement only what they use; a real
// backend overrides them all.
class Store {
 public:
  virtual ~Store() = default;

  // Appends and upserts everything in `batch` in one transaction and returns
  // the sequence numbers its events got (see WriteResult; the store checks
  // that they are consecutive and fails the whole write otherwise). On error
  // nothing of the batch is stored. INVALID_ARGUMENT, storing nothing, if an
  // event has an empty event_id.
  virtual absl::StatusOr<WriteResult> Write(const WriteBatch& batch) = 0;

  // Calls `fn` with the event ids of the newest `max_events` events of the
  // log, oldest first. Used to rebuild the duplicate window at start.
  virtual absl::Status ScanRecentEventIds(
      size_t max_events, absl::FunctionRef<void(absl::string_view)> fn) = 0;

  // Calls `fn` with every known user id, in no particular order. Used to
  // rebuild the set of known users at start.
  virtual absl::Status ScanUsers(
      absl::FunctionRef<void(absl::string_view)> fn) = 0;

  // Calls `fn` with every event of the log in append order whose sequence
  // number is greater than `after_seq`; `fn` gets the sequence and record.
  virtual absl::Status ScanEvents(
      int64_t after_seq,
      absl::FunctionRef<void(int64_t, const EventRecord&)> fn) = 0;

  // The user's traits (latest value per key), ordered by key; empty if the
  // user has none.
  virtual absl::StatusOr<std::vector<TraitRecord>> GetTraits(
      absl::string_view user_id) = 0;

  // Exact counts, O(1) regardless of the size of the log.
  virtual absl::StatusOr<StoreStats> GetStats() = 0;

  // The events at the sequence numbers `seqs`, in the order asked (a seq
  // asked twice is returned twice); seqs not in the log are skipped. Each
  // lookup is by primary key, O(log n).
  virtual absl::StatusOr<std::vector<EventRecord>> GetEventsBySeq(
      absl::Span<const int64_t> seqs);

  // Stores `matches` in one transaction. Idempotent by match_id: a match
  // whose id is already stored (a replay after a crash) is skipped and the
  // stored row keeps its first values, so storing the same matches twice
  // stores them once. INVALID_ARGUMENT, storing nothing, if a match_id is
  // empty. On error nothing is stored.
  virtual absl::Status AppendMatches(absl::Span<const MatchRecord> matches);

  // Stored matches, newest first (matched_at descending, then match_id
  // descending), filtered by `filter` and paged. Paging is by position
  // (the last row's matched_at and match_id), not offset: rows inserted
  // while a client pages (typically newer matches, which sort before the
  // position) never make a later page skip or repeat a row; a row inserted
  // behind the position shows up on a later page. INVALID_ARGUMENT for a
  // page_token that ListMatches() did not return for the same rule_id and
  // user_id.
  virtual absl::StatusOr<MatchPage> ListMatches(const MatchFilter& filter);

  // The stored match `match_id`. NOT_FOUND if there is none.
  virtual absl::StatusOr<MatchRecord> GetMatch(absl::string_view match_id);

  // The log's last seq when the store began to hold match ids that grow
  // with the log (engine::EngineOptions::legacy_match_ids_through): 0 for
  // a store created since, the last seq of its log for one upgraded then.
  // The engine keeps the first form of id for matches of events at or
  // before it, which the store may hold already.
  virtual absl::StatusOr<int64_t> LegacyMatchIdsThrough();

  // Saves a checkpoint of engine shard `shard` covering the log through
  // `last_seq`: a full one replaces what was in force, a delta is added to
  // it. Either takes effect at once, or not at all (a failure or a crash
  // leaves the checkpoint in force as it was). FAILED_PRECONDITION for a
  // delta when the shard has no checkpoint.
  //
  // The checkpoint comes in pieces: `write` is called once, with a `put`
  // function, and calls `put` with each piece in order (the pieces put
  // together are the checkpoint). Each piece is stored as it comes, so the
  // caller never needs the whole checkpoint in memory. `write` should stop
  // and return the error when `put` fails; any error from `write` fails
  // the save.
  using CheckpointPieces = absl::FunctionRef<absl::Status(
      absl::FunctionRef<absl::Status(absl::string_view piece)> put)>;
  virtual absl::Status WriteCheckpoint(int shard, CheckpointKind kind,
                                       int64_t last_seq, absl::Time saved_at,
                                       CheckpointPieces write);
  // WriteCheckpoint() of a checkpoint held whole.
  absl::Status SaveCheckpoint(int shard, CheckpointKind kind, int64_t last_seq,
                              absl::Time saved_at, absl::string_view state) {
    return WriteCheckpoint(
        shard, kind, last_seq, saved_at,
        [state](absl::FunctionRef<absl::Status(absl::string_view)> put) {
          return put(state);
        });
  }

  // The checkpoint in force for `shard` (the last full one saved and the
  // deltas after it), or nullopt if none was saved.
  virtual absl::StatusOr<std::optional<Checkpoint>> LoadCheckpoint(int shard);
  // The bytes the checkpoint in force for `shard` takes in the store (the
  // full one and its deltas, compressed as stored; LoadCheckpoint() gives
  // them back larger), or 0 if none was saved.
  virtual absl::StatusOr<uint64_t> CheckpointStoredBytes(int shard);

  // Calls `fn` with every stored trait (the latest value of each user and
  // key), ordered by user_id then key. Used at start to fill the in-memory
  // trait cache.
  virtual absl::Status ScanTraits(
      absl::FunctionRef<void(const TraitRecord&)> fn);

  // --- Orchestration (decisions and prompts) -----------------------------

  // Stores `decisions` and `prompts` (the prompts of sent decisions,
  // matched by match_id) in one transaction. Idempotent by match_id: a
  // decision whose match already has one is skipped together with its
  // prompt. So is a decision whose match is not stored: DeleteUser() removed
  // it while it was being decided (the user's data must not come back).
  // Returns one flag per decision, in order: true if it was stored by this
  // call. INVALID_ARGUMENT (storing nothing) if a prompt has no
  // decision in `decisions`. On error nothing is stored.
  virtual absl::StatusOr<std::vector<bool>> AppendDecisions(
      absl::Span<const DecisionRecord> decisions,
      absl::Span<const PromptRecord> prompts);

  // The number of sent decisions matching `query` (indexed: by user, by
  // rule, by target).
  virtual absl::StatusOr<int64_t> CountSentDecisions(
      const DecisionQuery& query);

  // Up to `limit` stored matches without a decision, oldest stored first.
  // Used at start to decide matches stored just before a crash.
  virtual absl::StatusOr<std::vector<MatchRecord>> ListUndecidedMatches(
      size_t limit);

  // The user's decisions, oldest first (decided_at, then match_id).
  virtual absl::StatusOr<std::vector<DecisionRecord>> ListUserDecisions(
      absl::string_view user_id);

  // Puts up to `limit` prompts that are due (due_at <= now), still open
  // (pending, delivered or shown: a prompt GetPrompts() delivered before it
  // was fed is fed too) and not yet in the feed into the feed, in one
  // transaction: they get the next feed sequence numbers in due_at order
  // (then prompt_id). Returns them with feed_seq set. Feed sequence numbers
  // only grow, also across deletions.
  virtual absl::StatusOr<std::vector<PromptRecord>> FeedDuePrompts(
      absl::Time now, size_t limit);

  // The earliest due_at of an open prompt not yet in the feed.
  virtual absl::StatusOr<std::optional<absl::Time>> NextUnfedDue();

  // Up to `limit` prompts with feed_seq > after_feed_seq, by feed_seq.
  virtual absl::StatusOr<std::vector<PromptRecord>> ReadFeed(
      int64_t after_feed_seq, size_t limit);

  // The largest feed_seq given so far (0 if none).
  virtual absl::StatusOr<int64_t> LastFeedSeq();

  // NOT_FOUND if there is no such prompt.
  virtual absl::StatusOr<PromptRecord> GetPrompt(absl::string_view prompt_id);

  // The user's prompts, newest first (created_at, then prompt_id).
  virtual absl::StatusOr<std::vector<PromptRecord>> ListUserPrompts(
      absl::string_view user_id);

  // Up to `limit` of the user's prompts that can be shown now: state
  // pending or delivered, due_at <= now < expires_at; highest priority
  // first, then earliest due_at, then prompt_id.
  virtual absl::StatusOr<std::vector<PromptRecord>> ListShowablePrompts(
      absl::string_view user_id, absl::Time now, size_t limit);

  // Compare-and-set: moves the prompt to state `to` at time `at` if its
  // current state is one of `from`, setting delivered_at (kDelivered),
  // shown_at (kShown) or closed_at (kAnswered, kDismissed, kExpired).
  // Returns the prompt as stored afterwards, changed or not: the caller
  // compares its state with `to`. NOT_FOUND if there is no such prompt.
  virtual absl::StatusOr<PromptRecord> UpdatePromptState(
      absl::string_view prompt_id, absl::Span<const PromptState> from,
      PromptState to, absl::Time at);

  // Every prompt in state pending, delivered or shown whose expires_at <=
  // now becomes expired (closed_at = its expires_at). Returns how many.
  virtual absl::StatusOr<int64_t> ExpirePrompts(absl::Time now);

  // --- Responses ------------------------------------------------------------

  // Stores `response` (its tags become the current tags and the first
  // history entries) and moves its prompt to answered at
  // response.submitted_at, in one transaction, if the prompt's state is one
  // of `from`. Returns the stored record with seq set. FAILED_PRECONDITION
  // (storing nothing) if the prompt is in another state, ALREADY_EXISTS if
  // the prompt has a response (the caller reads it with
  // GetResponseByPrompt()), NOT_FOUND if there is no such prompt. The checks
  // come in this order: NOT_FOUND, ALREADY_EXISTS (also for a response_id
  // that another prompt's response has), FAILED_PRECONDITION, so that a
  // retry of a stored response gets ALREADY_EXISTS although its prompt is
  // answered. INVALID_ARGUMENT for an empty response_id or prompt_id, tags
  // with more than one primary or manual tag, or a friction that is not one
  // word.
  virtual absl::StatusOr<ResponseRecord> InsertResponse(
      const ResponseRecord& response, absl::Span<const PromptState> from);

  // Replaces the stored response's interview_status, text, score, body and
  // updated_at (found by response_id) and its automatic tags by
  // `response.tags` (which hold no manual tag): the old automatic tags stop
  // being current, the new ones are appended to the history. While a manual
  // tag is current it stays primary and the new tags are stored as
  // secondary. New tags equal to the current automatic ones (friction,
  // source, confidence, primary as it would be stored) are not a change:
  // the tags and the history stay as they are. The other fields (traits,
  // hypothesis, submitted_at, ...) keep their stored values. Returns the
  // record as stored. NOT_FOUND if there is none; INVALID_ARGUMENT for a
  // manual tag among the tags.
  virtual absl::StatusOr<ResponseRecord> UpdateResponse(
      const ResponseRecord& response);

  // Adds a manual tag (tag.source == "manual"): it becomes the primary tag
  // and replaces an earlier manual tag; automatic tags stay current as
  // secondary ones. Appended to the history; updated_at does not change
  // (the tag has its own time). Returns the record with its history.
  // NOT_FOUND if there is no such response; INVALID_ARGUMENT if the tag's
  // source is not "manual".
  virtual absl::StatusOr<ResponseRecord> AddManualTag(
      absl::string_view response_id, const TagRecord& tag);

  // With tag_history. NOT_FOUND if there is no such response.
  virtual absl::StatusOr<ResponseRecord> GetResponse(
      absl::string_view response_id);
  virtual absl::StatusOr<ResponseRecord> GetResponseByPrompt(
      absl::string_view prompt_id);

  // Up to `limit` responses matching `query` with seq < before_seq (0: from
  // the newest), newest first (seq descending), with their current tags
  // (no history). Paging by seq never skips or repeats a response while new
  // ones arrive (they get larger seqs). INVALID_ARGUMENT for a negative
  // before_seq.
  // Cost: with a rule, definition, user or primary friction filter, a page
  // reads O(log n + page) index entries past the rows it rejects for the
  // other filters. Otherwise it walks the responses newest first from
  // before_seq until the page is full (bounded to where the time range
  // lies, if there is one), so a rare match of the other filters (source,
  // trait, score, text, any_tag) reads much of the table; combine them with
  // one of the indexed filters.
  virtual absl::StatusOr<std::vector<ResponseRecord>> ListResponses(
      const ResponseQuery& query, int64_t before_seq, size_t limit);

  // The report's aggregates over `query` (see RuleReportData), ordered by
  // rule_id, all from one snapshot of the database. A rule appears if it has
  // any figure in the query's range.
  virtual absl::StatusOr<ReportData> GetReportData(const ResponseQuery& query);

  // Calls `fn` with each (rule, user) pair of the stored matches within the
  // query's rule_id and time range (matched_at), ordered by rule then user.
  virtual absl::Status ScanRuleUsers(
      const ResponseQuery& query,
      absl::FunctionRef<void(const RuleUserRecord&)> fn);

  // Calls `fn` with the user and event_time of every event named `name` in
  // the log, in log order (a sequential scan of the log).
  virtual absl::Status ScanEventsNamed(
      absl::string_view name,
      absl::FunctionRef<void(absl::string_view user_id, absl::Time time)> fn);

  // Removes every row about `user_id` in one transaction: events, traits,
  // the user, matches, decisions, prompts, responses and their tags.
  // Returns the rows removed by table name (every table, 0 included).
  // Counters (GetStats) follow; event sequence numbers and feed sequence
  // numbers are never reused afterwards. Scans the event log (not indexed
  // by user), holding the writer meanwhile. Engine checkpoints are left as
  // they are (their state is opaque to the store). INVALID_ARGUMENT for an
  // empty user_id.
  virtual absl::StatusOr<std::map<std::string, int64_t>> DeleteUser(
      absl::string_view user_id);

  // The database's location as given.
  virtual const std::string& path() const = 0;
};

// The defaults (see Store): inline because the interface is header-only
// (target hark_store_iface).
inline absl::StatusOr<std::vector<EventRecord>> Store::GetEventsBySeq(
    absl::Span<const int64_t>) {
  return absl::UnimplementedError("Store::GetEventsBySeq");
}
inline absl::StatusOr<int64_t> Store::LegacyMatchIdsThrough() { return 0; }
inline absl::Status Store::AppendMatches(absl::Span<const MatchRecord>) {
  return absl::UnimplementedError("Store::AppendMatches");
}
inline absl::StatusOr<MatchPage> Store::ListMatches(const MatchFilter&) {
  return absl::UnimplementedError("Store::ListMatches");
}
inline absl::StatusOr<MatchRecord> Store::GetMatch(absl::string_view) {
  return absl::UnimplementedError("Store::GetMatch");
}
inline absl::Status Store::WriteCheckpoint(int, CheckpointKind, int64_t,
                                           absl::Time, CheckpointPieces) {
  return absl::UnimplementedError("Store::WriteCheckpoint");
}
inline absl::StatusOr<std::optional<Checkpoint>> Store::LoadCheckpoint(int) {
  return absl::UnimplementedError("Store::LoadCheckpoint");
}
inline absl::StatusOr<uint64_t> Store::CheckpointStoredBytes(int) {
  return absl::UnimplementedError("Store::CheckpointStoredBytes");
}
inline absl::Status Store::ScanTraits(
    absl::FunctionRef<void(const TraitRecord&)>) {
  return absl::UnimplementedError("Store::ScanTraits");
}

inline absl::StatusOr<std::vector<bool>> Store::AppendDecisions(
    absl::Span<const DecisionRecord>, absl::Span<const PromptRecord>) {
  return absl::UnimplementedError("Store::AppendDecisions");
}
inline absl::StatusOr<int64_t> Store::CountSentDecisions(const DecisionQuery&) {
  return absl::UnimplementedError("Store::CountSentDecisions");
}
inline absl::StatusOr<std::vector<MatchRecord>> Store::ListUndecidedMatches(
    size_t) {
  return absl::UnimplementedError("Store::ListUndecidedMatches");
}
inline absl::StatusOr<std::vector<DecisionRecord>> Store::ListUserDecisions(
    absl::string_view) {
  return absl::UnimplementedError("Store::ListUserDecisions");
}
inline absl::StatusOr<std::vector<PromptRecord>> Store::FeedDuePrompts(
    absl::Time, size_t) {
  return absl::UnimplementedError("Store::FeedDuePrompts");
}
inline absl::StatusOr<std::optional<absl::Time>> Store::NextUnfedDue() {
  return absl::UnimplementedError("Store::NextUnfedDue");
}
inline absl::StatusOr<std::vector<PromptRecord>> Store::ReadFeed(int64_t,
                                                                 size_t) {
  return absl::UnimplementedError("Store::ReadFeed");
}
inline absl::StatusOr<int64_t> Store::LastFeedSeq() {
  return absl::UnimplementedError("Store::LastFeedSeq");
}
inline absl::StatusOr<PromptRecord> Store::GetPrompt(absl::string_view) {
  return absl::UnimplementedError("Store::GetPrompt");
}
inline absl::StatusOr<std::vector<PromptRecord>> Store::ListUserPrompts(
    absl::string_view) {
  return absl::UnimplementedError("Store::ListUserPrompts");
}
inline absl::StatusOr<std::vector<PromptRecord>> Store::ListShowablePrompts(
    absl::string_view, absl::Time, size_t) {
  return absl::UnimplementedError("Store::ListShowablePrompts");
}
inline absl::StatusOr<PromptRecord> Store::UpdatePromptState(
    absl::string_view, absl::Span<const PromptState>, PromptState, absl::Time) {
  return absl::UnimplementedError("Store::UpdatePromptState");
}
inline absl::StatusOr<int64_t> Store::ExpirePrompts(absl::Time) {
  return absl::UnimplementedError("Store::ExpirePrompts");
}

inline absl::StatusOr<ResponseRecord> Store::InsertResponse(
    const ResponseRecord&, absl::Span<const PromptState>) {
  return absl::UnimplementedError("Store::InsertResponse");
}
inline absl::StatusOr<ResponseRecord> Store::UpdateResponse(
    const ResponseRecord&) {
  return absl::UnimplementedError("Store::UpdateResponse");
}
inline absl::StatusOr<ResponseRecord> Store::AddManualTag(absl::string_view,
                                                          const TagRecord&) {
  return absl::UnimplementedError("Store::AddManualTag");
}
inline absl::StatusOr<ResponseRecord> Store::GetResponse(absl::string_view) {
  return absl::UnimplementedError("Store::GetResponse");
}
inline absl::StatusOr<ResponseRecord> Store::GetResponseByPrompt(
    absl::string_view) {
  return absl::UnimplementedError("Store::GetResponseByPrompt");
}
inline absl::StatusOr<std::vector<ResponseRecord>> Store::ListResponses(
    const ResponseQuery&, int64_t, size_t) {
  return absl::UnimplementedError("Store::ListResponses");
}
inline absl::StatusOr<ReportData> Store::GetReportData(const ResponseQuery&) {
  return absl::UnimplementedError("Store::GetReportData");
}
inline absl::Status Store::ScanRuleUsers(
    const ResponseQuery&, absl::FunctionRef<void(const RuleUserRecord&)>) {
  return absl::UnimplementedError("Store::ScanRuleUsers");
}
inline absl::Status Store::ScanEventsNamed(
    absl::string_view, absl::FunctionRef<void(absl::string_view, absl::Time)>) {
  return absl::UnimplementedError("Store::ScanEventsNamed");
}
inline absl::StatusOr<std::map<std::string, int64_t>> Store::DeleteUser(
    absl::string_view) {
  return absl::UnimplementedError("Store::DeleteUser");
}

// Opens (creating if needed) and migrates a SQLite database. Fails with
// FAILED_PRECONDITION if the file was written by a newer Hark.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const StoreOptions& options);

}  // namespace hark::store

#endif  // HARK_SERVER_STORE_STORE_H_
