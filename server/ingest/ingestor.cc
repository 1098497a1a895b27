#include "server/ingest/ingestor.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hark/proto_time.h"
#include "hark/status_macros.h"
#include "hark/thread_name.h"
#include "server/ingest/dedup_window.h"
#include "server/ingest/validate.h"

namespace hark::ingest {
namespace {

// The Impl whose writer loop runs on this thread, if any. Lets Shutdown()
// called from a callback avoid joining its own thread.
thread_local const void* current_writer = nullptr;

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      absl::StrCat(context, ": ", status.message()));
}

// What the callers of a failed commit are told. Transient store failures
// stay UNAVAILABLE so that clients retry (event ids make that safe); any
// other failure is INTERNAL.
absl::Status CommitError(const absl::Status& status, size_t events,
                         size_t calls) {
  const std::string message =
      absl::StrCat("committing ", events, " events of ", calls,
                   " calls to the event log failed, nothing of this call was "
                   "stored: ",
                   status.message());
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

// A valid event waiting for the writer. Everything but the dedup decision and
// `received_at` is prepared on the caller's thread.
struct PendingEvent {
  // Index of the event in the call (and in the response's results).
  int index;
  DedupWindow::Key key;
  store::EventRecord record;
};

// One queued call.
struct Job {
  // Events of a Track call (valid or not), or 1 for Identify; what the call
  // counts against queue_capacity_events and max_commit_events.
  size_t weight = 0;
  bool identify = false;

  // Track: results of rejected events are already filled in.
  Ingestor::TrackDone track_done;
  hark::v1::TrackEventsResponse response;
  std::vector<PendingEvent> pending;

  // Identify.
  Ingestor::IdentifyDone identify_done;
  std::string user_id;
  std::vector<store::TraitRecord> traits;
};

}  // namespace

class Ingestor::Impl {
 public:
  Impl(store::Store* store, const Clock* clock, const IngestOptions& options)
      : store_(store),
        clock_(clock),
        options_(options),
        window_(options.dedup_window) {}

  ~Impl() { Shutdown(); }

  // Fills the dedup window and the known users from the store. Runs before
  // the writer thread exists.
  absl::Status Rebuild() {
    RETURN_IF_ERROR(
        Annotate(store_->ScanRecentEventIds(
                     options_.dedup_window,
                     [this](absl::string_view id) { window_.Insert(id); }),
                 "rebuilding the duplicate window from the event log"));
    RETURN_IF_ERROR(
        Annotate(store_->ScanUsers([this](absl::string_view user_id) {
          known_users_.emplace(user_id);
        }),
                 "loading the known users"));
    absl::MutexLock lock(&mu_);
    dedup_size_ = window_.size();
    return absl::OkStatus();
  }

  void StartWriter() {
    absl::MutexLock lock(&join_mu_);
    writer_ = std::thread([this] {
      SetThreadName("hark-ingest");
      WriterLoop();
    });
  }

  absl::Status Track(const Events& events, TrackDone done);
  absl::Status Identify(const hark::v1::IdentifyUserRequest& request,
                        IdentifyDone done);
  void NotifyWhenSpace(absl::AnyInvocable<void()> ready);
  void ForgetUser(absl::string_view user_id) {
    absl::MutexLock lock(&mu_);
    forgotten_users_.emplace_back(user_id);
  }
  void Shutdown();
  IngestStats stats() const;

 private:
  // Admits `job` to the queue or says why not.
  absl::Status Enqueue(std::unique_ptr<Job> job);

  bool HasRoomLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queued_events_ == 0 || queued_events_ + options_.max_batch_events <=
                                      options_.queue_capacity_events;
  }
  bool WriterHasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  }

  void WriterLoop();
  // Decides duplicates, writes one transaction for `group` and completes its
  // calls in order. Writer thread only.
  void Commit(std::vector<std::unique_ptr<Job>>& group);

  store::Store* const store_;
  const Clock* const clock_;
  const IngestOptions options_;

  // Writer-thread state (also touched by Rebuild(), before the thread
  // starts). Updated only after a successful commit, so a failed commit
  // leaves no trace and a retry of its events is ACCEPTED.
  DedupWindow window_;
  absl::flat_hash_set<std::string> known_users_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Job>> queue_ ABSL_GUARDED_BY(mu_);
  // Sum of the weights of `queue_` (jobs taken by the writer no longer
  // count).
  size_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<absl::AnyInvocable<void()>> space_waiters_ ABSL_GUARDED_BY(mu_);
  // Users to erase from known_users_ (ForgetUser). known_users_ belongs to
  // the writer thread, which applies these when it takes its next group,
  // so the per-event lookups in Commit() need no lock.
  std::vector<std::string> forgotten_users_ ABSL_GUARDED_BY(mu_);
  uint64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rejected_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t queue_full_rejections_ ABSL_GUARDED_BY(mu_) = 0;
  // A copy of window_.size() for stats(), which may run on any thread.
  uint64_t dedup_size_ ABSL_GUARDED_BY(mu_) = 0;

  // Serializes joining the writer among concurrent Shutdown() calls.
  absl::Mutex join_mu_;
  std::thread writer_ ABSL_GUARDED_BY(join_mu_);
};

absl::Status Ingestor::Impl::Track(const Events& events, TrackDone done) {
  if (events.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the batch is empty; send 1 to ",
                     options_.max_batch_events, " events per call"));
  }
  const size_t count = static_cast<size_t>(events.size());
  if (count > options_.max_batch_events) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the batch has ", count, " events; the limit is ",
        options_.max_batch_events, " per call, split it into smaller batches"));
  }
  size_t bytes = 0;
  for (const hark::v1::Event& event : events) bytes += event.ByteSizeLong();
  if (bytes > options_.max_batch_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the batch's events take ", bytes, " bytes; the limit is ",
                     options_.max_batch_bytes,
                     " bytes per call, split it into smaller "
                     "batches"));
  }

  // Validation and serialization happen here, on the caller's thread, so
  // that the single writer thread only decides duplicates and commits.
  auto job = std::make_unique<Job>();
  job->weight = count;
  job->track_done = std::move(done);
  job->pending.reserve(count);
  const absl::Time now = clock_->Now();
  uint32_t rejected = 0;
  for (int i = 0; i < events.size(); ++i) {
    const hark::v1::Event& event = events[i];
    hark::v1::EventResult* result = job->response.add_results();
    // Echoing invalid UTF-8 would make the response unserializable.
    if (IsValidUtf8(event.event_id())) result->set_event_id(event.event_id());
    if (std::optional<hark::v1::FieldError> error =
            ValidateEvent(event, now, options_.max_future)) {
      result->set_status(hark::v1::EventResult::REJECTED);
      *result->mutable_error() = *std::move(error);
      ++rejected;
      continue;
    }
    PendingEvent& pending = job->pending.emplace_back();
    pending.index = i;
    pending.key = DedupWindow::KeyOf(event.event_id());
    pending.record.event_id = event.event_id();
    pending.record.user_id = event.user_id();
    pending.record.name = event.name();
    pending.record.event_time = FromTimestamp(event.timestamp());
    pending.record.payload = event.SerializeAsString();
  }
  job->response.set_rejected(rejected);
  return Enqueue(std::move(job));
}

absl::Status Ingestor::Impl::Identify(
    const hark::v1::IdentifyUserRequest& request, IdentifyDone done) {
  if (std::optional<hark::v1::FieldError> error = ValidateTraits(request)) {
    return absl::InvalidArgumentError(
        absl::StrCat(error->field(), ": ", error->reason()));
  }
  auto job = std::make_unique<Job>();
  job->weight = 1;
  job->identify = true;
  job->identify_done = std::move(done);
  job->user_id = request.user_id();
  job->traits.reserve(request.traits_size());
  for (const auto& [key, value] : request.traits()) {
    store::TraitRecord& trait = job->traits.emplace_back();
    trait.user_id = request.user_id();
    trait.key = key;
    trait.value = value.SerializeAsString();
  }
  // A stable order makes the store's input independent of map iteration.
  std::sort(job->traits.begin(), job->traits.end(),
            [](const store::TraitRecord& a, const store::TraitRecord& b) {
              return a.key < b.key;
            });
  return Enqueue(std::move(job));
}

absl::Status Ingestor::Impl::Enqueue(std::unique_ptr<Job> job) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::UnavailableError(
        "the server is shutting down and takes no more events; retry "
        "against a running server");
  }
  // An empty queue admits any call, so a call larger than the capacity
  // cannot be refused forever.
  if (queued_events_ > 0 &&
      queued_events_ + job->weight > options_.queue_capacity_events) {
    ++queue_full_rejections_;
    return absl::ResourceExhaustedError(absl::StrCat(
        "the write queue is full (", queued_events_, " of ",
        options_.queue_capacity_events,
        " events waiting); retry with backoff, resending is safe because "
        "event ids make it idempotent"));
  }
  queued_events_ += job->weight;
  queue_.push_back(std::move(job));
  return absl::OkStatus();
}

void Ingestor::Impl::NotifyWhenSpace(absl::AnyInvocable<void()> ready) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_ && !HasRoomLocked()) {
      space_waiters_.push_back(std::move(ready));
      return;
    }
  }
  ready();
}

void Ingestor::Impl::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // On the writer thread (inside a callback) joining would deadlock; the
  // writer drains the queue and exits on its own.
  if (current_writer == this) return;
  absl::MutexLock lock(&join_mu_);
  if (writer_.joinable()) writer_.join();
}

IngestStats Ingestor::Impl::stats() const {
  absl::MutexLock lock(&mu_);
  IngestStats stats;
  stats.accepted = accepted_;
  stats.duplicates = duplicates_;
  stats.rejected = rejected_;
  stats.queue_depth_events = queued_events_;
  stats.queue_capacity_events = options_.queue_capacity_events;
  stats.queue_full_rejections = queue_full_rejections_;
  stats.dedup_size = dedup_size_;
  stats.dedup_capacity = window_.capacity();
  return stats;
}

void Ingestor::Impl::WriterLoop() {
  current_writer = this;
  while (true) {
    std::vector<std::unique_ptr<Job>> group;
    std::vector<absl::AnyInvocable<void()>> ready;
    std::vector<std::string> forgotten;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Impl::WriterHasWork));
      if (queue_.empty()) break;  // stopping, and everything is committed
      forgotten.swap(forgotten_users_);
      // Group commit: whole calls, up to max_commit_events events, but
      // always at least one call.
      size_t events = 0;
      while (!queue_.empty() &&
             (group.empty() ||
              events + queue_.front()->weight <= options_.max_commit_events)) {
        events += queue_.front()->weight;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_events_ -= events;
      if (HasRoomLocked()) ready.swap(space_waiters_);
    }
    // Taken with the group: a call queued after ForgetUser() returned sees
    // the user as new.
    for (const std::string& user_id : forgotten) known_users_.erase(user_id);
    // Waiters refill the queue while this group commits.
    for (auto& callback : ready) callback();
    Commit(group);
  }
  std::vector<absl::AnyInvocable<void()>> ready;
  {
    absl::MutexLock lock(&mu_);
    ready.swap(space_waiters_);
  }
  // They find the ingestor stopped (UNAVAILABLE) and end their streams.
  for (auto& callback : ready) callback();
}

void Ingestor::Impl::Commit(std::vector<std::unique_ptr<Job>>& group) {
  const absl::Time now = clock_->Now();
  store::WriteBatch batch;
  batch.now = now;
  // Keys accepted in this group, in order; they enter the window only once
  // the commit succeeded.
  std::vector<DedupWindow::Key> new_keys;
  absl::flat_hash_set<DedupWindow::Key> group_keys;
  absl::flat_hash_set<std::string> group_users;
  auto note_user = [&](const std::string& user_id) {
    if (known_users_.contains(user_id)) return;
    if (group_users.insert(user_id).second) batch.new_users.push_back(user_id);
  };

  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  for (std::unique_ptr<Job>& job : group) {
    if (job->identify) {
      note_user(job->user_id);
      for (store::TraitRecord& trait : job->traits) {
        trait.set_at = now;
        batch.traits.push_back(std::move(trait));
      }
      continue;
    }
    hark::v1::TrackEventsResponse& response = job->response;
    uint32_t job_accepted = 0;
    uint32_t job_duplicates = 0;
    for (PendingEvent& pending : job->pending) {
      hark::v1::EventResult* result = response.mutable_results(pending.index);
      // Duplicates of the window, of earlier calls in this group and of
      // earlier events of the same call are all caught here.
      if (window_.Contains(pending.key) ||
          !group_keys.insert(pending.key).second) {
        result->set_status(hark::v1::EventResult::DUPLICATE);
        ++job_duplicates;
        continue;
      }
      result->set_status(hark::v1::EventResult::ACCEPTED);
      ++job_accepted;
      new_keys.push_back(pending.key);
      note_user(pending.record.user_id);
      pending.record.received_at = now;
      batch.events.push_back(std::move(pending.record));
    }
    response.set_accepted(job_accepted);
    response.set_duplicates(job_duplicates);
    accepted += job_accepted;
    duplicates += job_duplicates;
    rejected += response.rejected();
  }

  // A group of only rejected events has nothing to store.
  const bool empty =
      batch.events.empty() && batch.traits.empty() && batch.new_users.empty();
  absl::StatusOr<store::WriteResult> write_result =
      empty ? store::WriteResult{} : store_->Write(batch);
  const absl::Status written = write_result.status();
  if (written.ok()) {
    for (const DedupWindow::Key& key : new_keys) window_.Insert(key);
    for (std::string& user_id : batch.new_users) {
      known_users_.insert(std::move(user_id));
    }
    absl::MutexLock lock(&mu_);
    accepted_ += accepted;
    duplicates_ += duplicates;
    rejected_ += rejected;
    dedup_size_ = window_.size();
  }
  // Hand the committed batch on (to the engine) before any call is
  // answered, so whatever an acknowledged event causes is already under way.
  if (written.ok() && !empty && options_.on_commit) {
    options_.on_commit(std::move(batch), *write_result);
  }

  const absl::Status error =
      written.ok() ? absl::OkStatus()
                   : CommitError(written, batch.events.size(), group.size());
  for (std::unique_ptr<Job>& job : group) {
    if (job->identify) {
      if (!error.ok()) {
        job->identify_done(error);
        continue;
      }
      hark::v1::IdentifyUserResponse response;
      response.set_traits_set(static_cast<uint32_t>(job->traits.size()));
      SetTimestamp(now, response.mutable_set_at());
      job->identify_done(std::move(response));
    } else if (!error.ok()) {
      job->track_done(error);
    } else {
      job->track_done(std::move(job->response));
    }
  }
}

absl::StatusOr<std::unique_ptr<Ingestor>> Ingestor::Start(
    store::Store* store, const Clock* clock, const IngestOptions& options) {
  if (store == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("Ingestor needs a store and a clock");
  }
  if (options.max_batch_events == 0 || options.max_batch_bytes == 0 ||
      options.queue_capacity_events == 0 || options.max_commit_events == 0) {
    return absl::InvalidArgumentError(
        "IngestOptions: max_batch_events, max_batch_bytes, "
        "queue_capacity_events and max_commit_events must be positive");
  }
  if (options.max_future < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max-future must not be negative, got ",
                     absl::FormatDuration(options.max_future)));
  }
  auto impl = std::make_unique<Impl>(store, clock, options);
  RETURN_IF_ERROR(impl->Rebuild());
  impl->StartWriter();
  return std::unique_ptr<Ingestor>(new Ingestor(std::move(impl)));
}

Ingestor::Ingestor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Ingestor::~Ingestor() { Shutdown(); }

absl::Status Ingestor::Track(const Events& events, TrackDone done) {
  return impl_->Track(events, std::move(done));
}

absl::Status Ingestor::Identify(const hark::v1::IdentifyUserRequest& request,
                                IdentifyDone done) {
  return impl_->Identify(request, std::move(done));
}

void Ingestor::NotifyWhenSpace(absl::AnyInvocable<void()> ready) {
  impl_->NotifyWhenSpace(std::move(ready));
}

void Ingestor::ForgetUser(absl::string_view user_id) {
  impl_->ForgetUser(user_id);
}

void Ingestor::Shutdown() { impl_->Shutdown(); }

IngestStats Ingestor::stats() const { return impl_->stats(); }

}  // namespace hark::ingest
