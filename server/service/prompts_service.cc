#include "server/service/prompts_service.h"

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "hark/proto_time.h"
#include "server/service/unary.h"

namespace hark::service {
namespace {

constexpr absl::string_view kGetPrompts = "/hark.v1.Prompts/GetPrompts";
constexpr absl::string_view kWatchPrompts = "/hark.v1.Prompts/WatchPrompts";
constexpr absl::string_view kRecordPromptEvent =
    "/hark.v1.Prompts/RecordPromptEvent";
constexpr absl::string_view kSubmitResponse = "/hark.v1.Prompts/SubmitResponse";
constexpr absl::string_view kRecordInterview =
    "/hark.v1.Prompts/RecordInterview";

// Prompts read from the feed per store read.
constexpr size_t kFeedPage = 100;

// Streams the feed from a cursor: writes one prompt at a time, reads the
// next page when the buffer is empty, and waits for the orchestrator's
// "feed grew" notification when the feed is exhausted.
class WatchReactor final : public grpc::ServerWriteReactor<hark::v1::Prompt> {
 public:
  WatchReactor(runtime::Orchestrator* orchestrator,
               const hark::v1::WatchPromptsRequest& request)
      : orchestrator_(orchestrator) {
    for (int kind : request.kinds()) kinds_.push_back(kind);
    absl::StatusOr<std::string> start =
        request.after_cursor().empty()
            ? orchestrator_->FeedEnd()
            : absl::StatusOr<std::string>(request.after_cursor());
    if (!start.ok()) {
      FinishOnce(start.status());
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      cursor_ = *start;
    }
    subscription_ = orchestrator_->Subscribe([this] { Pump(); });
    // Tells the client that its starting point is fixed: everything that
    // enters the feed from now on reaches this stream.
    StartSendInitialMetadata();
    Pump();
  }

  void OnSendInitialMetadataDone(bool /*ok*/) override {}

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!buffer_.empty()) buffer_.pop_front();
    }
    if (!ok) {
      FinishOnce(absl::CancelledError("the client went away"));
      return;
    }
    Pump();
  }

  void OnCancel() override {
    FinishOnce(absl::CancelledError("WatchPrompts cancelled"));
  }

  void OnDone() override {
    if (subscription_ != 0) orchestrator_->Unsubscribe(subscription_);
    delete this;
  }

 private:
  // Starts the next write if none is in flight and there is something to
  // write. Called from gRPC threads and the orchestrator's thread.
  void Pump() {
    absl::MutexLock lock(&mu_);
    if (writing_ || finished_) return;
    while (buffer_.empty()) {
      std::string next;
      const std::string cursor_before = cursor_;
      absl::StatusOr<std::vector<hark::v1::Prompt>> page =
          orchestrator_->ReadFeed(cursor_, kFeedPage, kinds_, &next);
      if (!page.ok()) {
        finished_ = true;
        Finish(ToGrpcStatus(page.status()));
        return;
      }
      cursor_ = next;
      for (hark::v1::Prompt& p : *page) buffer_.push_back(std::move(p));
      if (next == cursor_before) break;
    }
    if (buffer_.empty()) return;
    writing_ = true;
    StartWrite(&buffer_.front());
  }

  void FinishOnce(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    Finish(ToGrpcStatus(status));
  }

  runtime::Orchestrator* const orchestrator_;
  std::vector<int> kinds_;
  int subscription_ = 0;
  absl::Mutex mu_;
  std::string cursor_ ABSL_GUARDED_BY(mu_);
  std::deque<hark::v1::Prompt> buffer_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

grpc::ServerUnaryReactor* PromptsService::GetPrompts(
    grpc::CallbackServerContext* context,
    const hark::v1::GetPromptsRequest* request,
    hark::v1::GetPromptsResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kGetPrompts);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  absl::StatusOr<std::vector<hark::v1::Prompt>> prompts =
      orchestrator_->GetPrompts(request->user_id(), request->limit());
  if (!prompts.ok()) return FinishUnary(context, prompts.status());
  for (hark::v1::Prompt& p : *prompts) *response->add_prompts() = std::move(p);
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerWriteReactor<hark::v1::Prompt>* PromptsService::WatchPrompts(
    grpc::CallbackServerContext* context,
    const hark::v1::WatchPromptsRequest* request) {
  auto principal = AuthorizeCall(*keys_, context, kWatchPrompts);
  if (!principal.ok()) {
    return new FinishedWriter<hark::v1::Prompt>(principal.status());
  }
  for (int kind : request->kinds()) {
    if (kind != hark::v1::Prompt::SURVEY &&
        kind != hark::v1::Prompt::INTERVIEW) {
      return new FinishedWriter<hark::v1::Prompt>(absl::InvalidArgumentError(
          "kinds: each must be SURVEY or INTERVIEW"));
    }
  }
  return new WatchReactor(orchestrator_, *request);
}

grpc::ServerUnaryReactor* PromptsService::RecordPromptEvent(
    grpc::CallbackServerContext* context,
    const hark::v1::RecordPromptEventRequest* request,
    hark::v1::RecordPromptEventResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kRecordPromptEvent);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  std::optional<absl::Time> at;
  if (request->has_at()) at = FromTimestamp(request->at());
  absl::StatusOr<hark::v1::Prompt::State> state =
      orchestrator_->RecordPromptEvent(request->prompt_id(), request->type(),
                                       at);
  if (!state.ok()) return FinishUnary(context, state.status());
  response->set_state(*state);
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* PromptsService::SubmitResponse(
    grpc::CallbackServerContext* context,
    const hark::v1::SubmitResponseRequest* request,
    hark::v1::SubmitResponseResponse* response) {
  return ServeUnary(
      *keys_, context, kSubmitResponse, response,
      [&](const auth::Principal&) { return responses_->Submit(*request); });
}

grpc::ServerUnaryReactor* PromptsService::RecordInterview(
    grpc::CallbackServerContext* context,
    const hark::v1::RecordInterviewRequest* request,
    hark::v1::RecordInterviewResponse* response) {
  return ServeUnary(*keys_, context, kRecordInterview, response,
                    [&](const auth::Principal&) {
                      return responses_->RecordInterview(*request);
                    });
}

}  // namespace hark::service
