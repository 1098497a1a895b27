#include "server/service/review_service.h"

#include <deque>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "server/service/unary.h"

namespace hark::service {
namespace {

constexpr absl::string_view kListResponses = "/hark.v1.Review/ListResponses";
constexpr absl::string_view kGetResponse = "/hark.v1.Review/GetResponse";
constexpr absl::string_view kTagResponse = "/hark.v1.Review/TagResponse";
constexpr absl::string_view kGetReport = "/hark.v1.Review/GetReport";
constexpr absl::string_view kExportResponses =
    "/hark.v1.Review/ExportResponses";

// Responses read per store read while exporting.
constexpr uint32_t kExportPage = 500;

// Streams every response of a filter: one write at a time, the next page
// read when the buffer is empty, so memory holds at most one page.
class ExportReactor final
    : public grpc::ServerWriteReactor<hark::v1::Response> {
 public:
  ExportReactor(responses::Responses* responses,
                const hark::v1::ExportResponsesRequest& request)
      : responses_(responses) {
    *page_request_.mutable_filter() = request.filter();
    page_request_.set_page_size(kExportPage);
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(ToGrpcStatus(absl::CancelledError("the client went away")));
      return;
    }
    buffer_.pop_front();
    Next();
  }

  void OnDone() override { delete this; }

 private:
  // Writes the next response, reading a page first if needed; finishes at
  // the end or on error. Only one call runs at a time (from the
  // constructor, then from OnWriteDone after each write).
  void Next() {
    if (buffer_.empty() && !last_page_) {
      absl::StatusOr<hark::v1::ListResponsesResponse> page =
          responses_->List(page_request_);
      if (!page.ok()) {
        Finish(ToGrpcStatus(page.status()));
        return;
      }
      for (hark::v1::Response& r : *page->mutable_responses()) {
        buffer_.push_back(std::move(r));
      }
      last_page_ = page->next_page_token().empty();
      page_request_.set_page_token(page->next_page_token());
    }
    if (buffer_.empty()) {
      Finish(grpc::Status::OK);
      return;
    }
    StartWrite(&buffer_.front());
  }

  responses::Responses* const responses_;
  hark::v1::ListResponsesRequest page_request_;
  std::deque<hark::v1::Response> buffer_;
  bool last_page_ = false;
};

}  // namespace

grpc::ServerUnaryReactor* ReviewService::ListResponses(
    grpc::CallbackServerContext* context,
    const hark::v1::ListResponsesRequest* request,
    hark::v1::ListResponsesResponse* response) {
  return ServeUnary(
      *keys_, context, kListResponses, response,
      [&](const auth::Principal&) { return responses_->List(*request); });
}

grpc::ServerUnaryReactor* ReviewService::GetResponse(
    grpc::CallbackServerContext* context,
    const hark::v1::GetResponseRequest* request, hark::v1::Response* response) {
  return ServeUnary(*keys_, context, kGetResponse, response,
                    [&](const auth::Principal&) {
                      return responses_->Get(request->response_id());
                    });
}

grpc::ServerUnaryReactor* ReviewService::TagResponse(
    grpc::CallbackServerContext* context,
    const hark::v1::TagResponseRequest* request, hark::v1::Response* response) {
  return ServeUnary(*keys_, context, kTagResponse, response,
                    [&](const auth::Principal& principal) {
                      return responses_->Tag(*request, principal.key_name);
                    });
}

grpc::ServerUnaryReactor* ReviewService::GetReport(
    grpc::CallbackServerContext* context,
    const hark::v1::GetReportRequest* request, hark::v1::Report* response) {
  return ServeUnary(
      *keys_, context, kGetReport, response,
      [&](const auth::Principal&) { return responses_->Report(*request); });
}

grpc::ServerWriteReactor<hark::v1::Response>* ReviewService::ExportResponses(
    grpc::CallbackServerContext* context,
    const hark::v1::ExportResponsesRequest* request) {
  auto principal = AuthorizeCall(*keys_, context, kExportResponses);
  if (!principal.ok()) {
    return new FinishedWriter<hark::v1::Response>(principal.status());
  }
  // A bad filter fails before the stream starts.
  absl::StatusOr<store::ResponseQuery> query =
      responses::ToQuery(request->filter());
  if (!query.ok()) {
    return new FinishedWriter<hark::v1::Response>(query.status());
  }
  return new ExportReactor(responses_, *request);
}

}  // namespace hark::service
