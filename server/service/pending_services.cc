#include "server/service/pending_services.h"

#include "server/service/unary.h"

namespace hark::service {

grpc::ServerUnaryReactor* ReviewService::ListResponses(
    grpc::CallbackServerContext* context, const hark::v1::ListResponsesRequest*,
    hark::v1::ListResponsesResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Review/ListResponses");
}

grpc::ServerUnaryReactor* ReviewService::GetResponse(
    grpc::CallbackServerContext* context, const hark::v1::GetResponseRequest*,
    hark::v1::Response*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Review/GetResponse");
}

grpc::ServerUnaryReactor* ReviewService::TagResponse(
    grpc::CallbackServerContext* context, const hark::v1::TagResponseRequest*,
    hark::v1::Response*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Review/TagResponse");
}

grpc::ServerUnaryReactor* ReviewService::GetReport(
    grpc::CallbackServerContext* context, const hark::v1::GetReportRequest*,
    hark::v1::Report*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Review/GetReport");
}

grpc::ServerWriteReactor<hark::v1::Response>* ReviewService::ExportResponses(
    grpc::CallbackServerContext* context,
    const hark::v1::ExportResponsesRequest*) {
  return UnimplementedWriter<hark::v1::Response>(
      *keys_, context, "/hark.v1.Review/ExportResponses");
}

}  // namespace hark::service
