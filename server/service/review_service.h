#ifndef HARK_SERVER_SERVICE_REVIEW_SERVICE_H_
#define HARK_SERVER_SERVICE_REVIEW_SERVICE_H_

// hark.v1.Review: thin adapter over responses::Responses. Reading requires
// role research or review (or admin); TagResponse requires review (or
// admin), see server/auth.

#include "hark/v1/review.grpc.pb.h"
#include "server/auth/auth.h"
#include "server/responses/responses.h"

namespace hark::service {

class ReviewService final : public hark::v1::Review::CallbackService {
 public:
  ReviewService(const auth::KeyRing* keys, responses::Responses* responses)
      : keys_(keys), responses_(responses) {}
  grpc::ServerUnaryReactor* ListResponses(
      grpc::CallbackServerContext* context,
      const hark::v1::ListResponsesRequest* request,
      hark::v1::ListResponsesResponse* response) override;
  grpc::ServerUnaryReactor* GetResponse(
      grpc::CallbackServerContext* context,
      const hark::v1::GetResponseRequest* request,
      hark::v1::Response* response) override;
  grpc::ServerUnaryReactor* TagResponse(
      grpc::CallbackServerContext* context,
      const hark::v1::TagResponseRequest* request,
      hark::v1::Response* response) override;
  grpc::ServerUnaryReactor* GetReport(grpc::CallbackServerContext* context,
                                      const hark::v1::GetReportRequest* request,
                                      hark::v1::Report* response) override;
  // Every response matching the filter, newest first, read page by page as
  // the client takes them (memory stays bounded whatever the count).
  grpc::ServerWriteReactor<hark::v1::Response>* ExportResponses(
      grpc::CallbackServerContext* context,
      const hark::v1::ExportResponsesRequest* request) override;

 private:
  const auth::KeyRing* keys_;
  responses::Responses* responses_;
};

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_REVIEW_SERVICE_H_
