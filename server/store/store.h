#ifndef HARK_SERVER_STORE_STORE_H_
#define HARK_SERVER_STORE_STORE_H_

// The storage interface. Only server/store/ knows SQL; the rest of Hark talks
// to this interface so that another backend (PostgreSQL) can follow.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

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

struct StoreStats {
  uint64_t events = 0;
  uint64_t users = 0;
};

// Thread-compatibility: Write() is called by one writer thread at a time;
// the read methods may be called from any thread concurrently with Write().
// Each read sees a consistent snapshot: a batch is visible entirely or not
// at all. The callbacks of the Scan methods run on the caller's thread while
// the scan is in progress and must not call back into the Store (for an
// in-memory database that would deadlock).
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

  // The database's location as given.
  virtual const std::string& path() const = 0;
};

// Opens (creating if needed) and migrates a SQLite database. Fails with
// FAILED_PRECONDITION if the file was written by a newer Hark.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const StoreOptions& options);

}  // namespace hark::store

#endif  // HARK_SERVER_STORE_STORE_H_
