#include "server/service/ingest_service.h"

#include <deque>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "server/service/unary.h"

namespace hark::service {
namespace {

using hark::v1::BatchAck;
using hark::v1::EventBatch;

constexpr absl::string_view kTrackEvents = "/hark.v1.Ingest/TrackEvents";
constexpr absl::string_view kStreamEvents = "/hark.v1.Ingest/StreamEvents";
constexpr absl::string_view kIdentifyUser = "/hark.v1.Ingest/IdentifyUser";

// One StreamEvents call. Reads one batch at a time and submits it to the
// ingestor; while the ingestor's queue is full it does not read, so gRPC
// flow control pushes back on the sender. Acks are written in the order the
// batches arrived, each only after its batch is committed.
//
// Lifetime: the ingestor holds callbacks that point at this reactor, so the
// call is finished only when no batch is pending; OnDone deletes it.
class EventStream final : public grpc::ServerBidiReactor<EventBatch, BatchAck> {
 public:
  EventStream(ingest::Ingestor* ingestor, const absl::Status& auth_status)
      : ingestor_(ingestor) {
    if (!auth_status.ok()) {
      Finish(ToGrpcStatus(auth_status));
      return;
    }
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed or the call ended: answer what is pending.
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    Submit();
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      // The client is gone; nothing more can be written.
      broken_ = true;
    } else {
      acks_.pop_front();
      ++acks_base_;
    }
    PumpLocked();
    MaybeFinishLocked();
  }

  void OnDone() override { delete this; }

 private:
  // Submits `incoming_` to the ingestor (again, after a full queue).
  void Submit() {
    uint64_t slot;
    {
      absl::MutexLock lock(&mu_);
      slot = acks_base_ + acks_.size();
      acks_.emplace_back();
      ++pending_;
    }
    const uint64_t sequence = incoming_.sequence();
    absl::Status status = ingestor_->Track(
        incoming_.events(),
        [this, slot,
         sequence](absl::StatusOr<hark::v1::TrackEventsResponse> result) {
          OnCommitted(slot, sequence, std::move(result));
        });
    if (status.ok()) {
      StartRead(&incoming_);
      return;
    }
    if (absl::IsResourceExhausted(status)) {
      // Stop reading until the writer drains; then submit the same batch.
      {
        absl::MutexLock lock(&mu_);
        --pending_;
        acks_.pop_back();
      }
      ingestor_->NotifyWhenSpace([this] { Submit(); });
      return;
    }
    bool read_next = false;
    {
      absl::MutexLock lock(&mu_);
      --pending_;
      if (absl::IsInvalidArgument(status)) {
        // The whole batch is refused (empty, too large); the stream goes on.
        BatchAck& ack = acks_[slot - acks_base_].emplace();
        ack.set_sequence(sequence);
        ack.set_batch_error(std::string(status.message()));
        PumpLocked();
        read_next = true;
      } else {
        acks_.pop_back();
        error_ = status;
        MaybeFinishLocked();
      }
    }
    if (read_next) StartRead(&incoming_);
  }

  void OnCommitted(uint64_t slot, uint64_t sequence,
                   absl::StatusOr<hark::v1::TrackEventsResponse> result) {
    absl::MutexLock lock(&mu_);
    --pending_;
    if (!result.ok()) {
      // Nothing of this batch is stored. Acks before it are still sent; the
      // call then ends with the error so the client resends from here.
      if (error_.ok()) error_ = result.status();
    } else {
      BatchAck& ack = acks_[slot - acks_base_].emplace();
      ack.set_sequence(sequence);
      ack.set_accepted(result->accepted());
      ack.set_duplicates(result->duplicates());
      ack.set_rejected(result->rejected());
      *ack.mutable_results() = std::move(*result->mutable_results());
    }
    PumpLocked();
    MaybeFinishLocked();
  }

  // Starts writing the oldest ack if it is ready and stops at the first
  // batch that failed, so no ack overtakes a failure.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || broken_ || finished_ || acks_.empty() ||
        !acks_.front().has_value()) {
      return;
    }
    writing_ = true;
    StartWrite(&*acks_.front());
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || pending_ > 0 || writing_) return;
    const bool all_written =
        acks_.empty() || (!error_.ok() && !acks_.front().has_value());
    if (broken_ || (!error_.ok() && all_written) ||
        (reads_done_ && acks_.empty())) {
      finished_ = true;
      Finish(broken_ ? grpc::Status(grpc::StatusCode::CANCELLED,
                                    "the client stopped reading acks")
                     : ToGrpcStatus(error_));
    }
  }

  ingest::Ingestor* const ingestor_;
  // Only touched by the read path (one read or submit at a time).
  EventBatch incoming_;

  absl::Mutex mu_;
  // Acks in arrival order of their batches; empty optional = still pending.
  std::deque<std::optional<BatchAck>> acks_ ABSL_GUARDED_BY(mu_);
  uint64_t acks_base_ ABSL_GUARDED_BY(mu_) = 0;
  int pending_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
};

// The ingestor's completion for a unary call: moves the result into
// `response` and finishes the call (on the writer thread).
template <typename Response>
auto FinishWhenDone(grpc::ServerUnaryReactor* reactor, Response* response) {
  return [reactor, response](absl::StatusOr<Response> result) {
    if (!result.ok()) {
      reactor->Finish(ToGrpcStatus(result.status()));
      return;
    }
    *response = *std::move(result);
    reactor->Finish(grpc::Status::OK);
  };
}

}  // namespace

grpc::ServerUnaryReactor* IngestService::TrackEvents(
    grpc::CallbackServerContext* context,
    const hark::v1::TrackEventsRequest* request,
    hark::v1::TrackEventsResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kTrackEvents);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status =
      ingestor_->Track(request->events(), FinishWhenDone(reactor, response));
  if (!status.ok()) reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerBidiReactor<EventBatch, BatchAck>* IngestService::StreamEvents(
    grpc::CallbackServerContext* context) {
  auto principal = AuthorizeCall(*keys_, context, kStreamEvents);
  return new EventStream(ingestor_, principal.status());
}

grpc::ServerUnaryReactor* IngestService::IdentifyUser(
    grpc::CallbackServerContext* context,
    const hark::v1::IdentifyUserRequest* request,
    hark::v1::IdentifyUserResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kIdentifyUser);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status =
      ingestor_->Identify(*request, FinishWhenDone(reactor, response));
  if (!status.ok()) reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace hark::service
