#ifndef HARK_SERVER_INGEST_INGESTOR_H_
#define HARK_SERVER_INGEST_INGESTOR_H_

// The ingestion pipeline: validation, duplicate detection and the single
// writer thread that commits many calls' events per transaction.

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "hark/clock.h"
#include "hark/v1/ingest.pb.h"
#include "server/store/store.h"

namespace hark::ingest {

struct IngestOptions {
  // How far in the server's future an event timestamp may be.
  absl::Duration max_future = absl::Minutes(5);
  // Limits of one TrackEvents call or one stream batch.
  size_t max_batch_events = 1000;
  size_t max_batch_bytes = 4u << 20;
  // Events waiting for the writer thread; beyond it Track() answers
  // RESOURCE_EXHAUSTED. Bounds the memory held by queued calls.
  size_t queue_capacity_events = 100000;
  // Upper bound of events committed in one transaction (group commit).
  size_t max_commit_events = 10000;
  // How many of the most recent event ids are remembered for duplicate
  // detection; rebuilt from the event log at start.
  size_t dedup_window = 4000000;
  // Called on the writer thread after each successful commit, before the
  // committed calls are answered, with the batch (moved; its new_users may
  // be empty) and where its events landed. It may wait (to push back); it
  // must not call into the Ingestor.
  std::function<void(store::WriteBatch&&, const store::WriteResult&)> on_commit;
};

struct IngestStats {
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t queue_depth_events = 0;
  uint64_t queue_capacity_events = 0;
  uint64_t queue_full_rejections = 0;
  uint64_t dedup_size = 0;
  uint64_t dedup_capacity = 0;
};

class Ingestor {
 public:
  using Events = google::protobuf::RepeatedPtrField<hark::v1::Event>;
  // Called exactly once per accepted call, on the writer thread, after the
  // call's events are committed; calls complete in submission order. A
  // non-OK status means the commit failed and nothing of the call is stored.
  using TrackDone =
      absl::AnyInvocable<void(absl::StatusOr<hark::v1::TrackEventsResponse>)>;
  using IdentifyDone =
      absl::AnyInvocable<void(absl::StatusOr<hark::v1::IdentifyUserResponse>)>;

  // Rebuilds the duplicate window and the set of known users from `store`
  // and starts the writer thread. `store` and `clock` must outlive the
  // Ingestor.
  static absl::StatusOr<std::unique_ptr<Ingestor>> Start(
      store::Store* store, const Clock* clock, const IngestOptions& options);

  // Shuts down (see Shutdown()).
  ~Ingestor();

  // Validates each event and queues the call. Returns OK if the call was
  // queued: `done` will be called once with one result per event (invalid
  // events REJECTED with the field and reason, the others ACCEPTED or
  // DUPLICATE). Otherwise `done` is never called and nothing is stored:
  // INVALID_ARGUMENT for an empty or oversized call, RESOURCE_EXHAUSTED when
  // the queue is full, UNAVAILABLE after Shutdown().
  absl::Status Track(const Events& events, TrackDone done);

  // Validates and queues a trait upsert; same contract as Track(). The
  // request is a single item, so an invalid one is refused as a whole:
  // INVALID_ARGUMENT with the message "<field path>: <reason>", for example
  // `traits["tz"].string_value: is not valid UTF-8 ...`.
  absl::Status Identify(const hark::v1::IdentifyUserRequest& request,
                        IdentifyDone done);

  // Calls `ready` once, as soon as the queue has room again (immediately,
  // on the calling thread, if it has room now or after Shutdown()). Used by
  // streams, which stop reading while the queue is full. "Room" means that a
  // call of max_batch_events events would be admitted: the queue is empty or
  // holds at most queue_capacity_events - max_batch_events events. (Another
  // caller may take the room first; then Track() answers RESOURCE_EXHAUSTED
  // again and the stream waits again.) Runs on the writer thread when the
  // room appears, before that group's commit, with no lock held.
  void NotifyWhenSpace(absl::AnyInvocable<void()> ready);

  // Forgets that `user_id` is known, after the store deleted the user
  // (Admin.DeleteUser), so that the user's next accepted event or trait
  // inserts the user row again (WriteBatch::new_users). Thread-safe; never
  // blocks on a commit. Takes effect for every group the writer takes
  // after this call returns, i.e. for all calls queued later and those
  // still waiting in the queue; a group already being committed is not
  // affected. The duplicate window keeps the user's event ids, so a client
  // retrying an event sent before the deletion gets DUPLICATE and the
  // deleted event is not stored again.
  void ForgetUser(absl::string_view user_id);

  // Stops taking calls (they get UNAVAILABLE), commits everything queued,
  // runs its callbacks, runs pending NotifyWhenSpace callbacks and joins
  // the writer thread. Idempotent and thread-safe. Called from a callback
  // (on the writer thread) it only stops taking calls and returns; the
  // writer still drains the queue, and the destructor joins it. The
  // destructor itself must not run inside a callback.
  void Shutdown();

  // Counters: accepted/duplicates/rejected count the results delivered to
  // successful calls; queue_full_rejections counts RESOURCE_EXHAUSTED
  // answers.
  IngestStats stats() const;

 private:
  class Impl;
  explicit Ingestor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hark::ingest

#endif  // HARK_SERVER_INGEST_INGESTOR_H_
