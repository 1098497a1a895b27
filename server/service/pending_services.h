#ifndef HARK_SERVER_SERVICE_PENDING_SERVICES_H_
#define HARK_SERVER_SERVICE_PENDING_SERVICES_H_

// Services whose RPCs are declared in the public API but built by later
// work: every call is authenticated and then answered UNIMPLEMENTED with
// the RPC's name.

#include "hark/v1/review.grpc.pb.h"
#include "server/auth/auth.h"

namespace hark::service {

class ReviewService final : public hark::v1::Review::CallbackService {
 public:
  explicit ReviewService(const auth::KeyRing* keys) : keys_(keys) {}
  grpc::ServerUnaryReactor* ListResponses(
      grpc::CallbackServerContext* context,
      const hark::v1::ListResponsesRequest*,
      hark::v1::ListResponsesResponse*) override;
  grpc::ServerUnaryReactor* GetResponse(grpc::CallbackServerContext* context,
                                        const hark::v1::GetResponseRequest*,
                                        hark::v1::Response*) override;
  grpc::ServerUnaryReactor* TagResponse(grpc::CallbackServerContext* context,
                                        const hark::v1::TagResponseRequest*,
                                        hark::v1::Response*) override;
  grpc::ServerUnaryReactor* GetReport(grpc::CallbackServerContext* context,
                                      const hark::v1::GetReportRequest*,
                                      hark::v1::Report*) override;
  grpc::ServerWriteReactor<hark::v1::Response>* ExportResponses(
      grpc::CallbackServerContext* context,
      const hark::v1::ExportResponsesRequest*) override;

 private:
  const auth::KeyRing* keys_;
};

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_PENDING_SERVICES_H_
