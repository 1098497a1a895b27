#ifndef HARK_SERVER_STORE_STORE_H_
#define HARK_SERVER_STORE_STORE_H_

// The storage interface. Only server/store/ knows SQL; the rest of Hark talks
// to this interface so that another backend (PostgreSQL) can follow.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
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
};

// One event as appended to the event log.
struct EventRecord {
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
  std::vector<MatchRecord> matches;
  // Empty on the last page.
  std::string next_page_token;
};

// The persisted engine state of one shard: `state` (opaque to the store)
// reflects every event of the log up to and including `last_seq`.
struct Checkpoint {
  int64_t last_seq = 0;
  absl::Time saved_at;
  std::string state;
};

struct StoreStats {
  uint64_t events = 0;
  uint64_t users = 0;
};

// Thread safety: every method may be called from any thread. The writing
// methods (Write, AppendMatches, SaveCheckpoint) are serialized: they share
// one writer connection under one mutex, so each runs as its own
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
  // nothing of the batch is stored.
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

  // Replaces the checkpoint of engine shard `shard`, in one transaction.
  virtual absl::Status SaveCheckpoint(int shard, int64_t last_seq,
                                      absl::Time saved_at,
                                      absl::string_view state);

  // The last checkpoint saved for `shard`, or nullopt if none was.
  virtual absl::StatusOr<std::optional<Checkpoint>> LoadCheckpoint(int shard);

  // Calls `fn` with every stored trait (the latest value of each user and
  // key), ordered by user_id then key. Used at start to fill the in-memory
  // trait cache.
  virtual absl::Status ScanTraits(
      absl::FunctionRef<void(const TraitRecord&)> fn);

  // The database's location as given.
  virtual const std::string& path() const = 0;
};

// The defaults (see Store): inline because the interface is header-only
// (target hark_store_iface).
inline absl::StatusOr<std::vector<EventRecord>> Store::GetEventsBySeq(
    absl::Span<const int64_t>) {
  return absl::UnimplementedError("Store::GetEventsBySeq");
}
inline absl::Status Store::AppendMatches(absl::Span<const MatchRecord>) {
  return absl::UnimplementedError("Store::AppendMatches");
}
inline absl::StatusOr<MatchPage> Store::ListMatches(const MatchFilter&) {
  return absl::UnimplementedError("Store::ListMatches");
}
inline absl::Status Store::SaveCheckpoint(int, int64_t, absl::Time,
                                          absl::string_view) {
  return absl::UnimplementedError("Store::SaveCheckpoint");
}
inline absl::StatusOr<std::optional<Checkpoint>> Store::LoadCheckpoint(int) {
  return absl::UnimplementedError("Store::LoadCheckpoint");
}
inline absl::Status Store::ScanTraits(
    absl::FunctionRef<void(const TraitRecord&)>) {
  return absl::UnimplementedError("Store::ScanTraits");
}

// Opens (creating if needed) and migrates a SQLite database. Fails with
// FAILED_PRECONDITION if the file was written by a newer Hark.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const StoreOptions& options);

}  // namespace hark::store

#endif  // HARK_SERVER_STORE_STORE_H_
