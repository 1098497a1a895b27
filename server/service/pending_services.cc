#include "server/service/pending_services.h"

#include "server/service/unary.h"

namespace hark::service {

grpc::ServerUnaryReactor* PromptsService::GetPrompts(
    grpc::CallbackServerContext* context, const hark::v1::GetPromptsRequest*,
    hark::v1::GetPromptsResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Prompts/GetPrompts");
}

grpc::ServerWriteReactor<hark::v1::Prompt>* PromptsService::WatchPrompts(
    grpc::CallbackServerContext* context,
    const hark::v1::WatchPromptsRequest*) {
  return UnimplementedWriter<hark::v1::Prompt>(*keys_, context,
                                               "/hark.v1.Prompts/WatchPrompts");
}

grpc::ServerUnaryReactor* PromptsService::RecordPromptEvent(
    grpc::CallbackServerContext* context,
    const hark::v1::RecordPromptEventRequest*,
    hark::v1::RecordPromptEventResponse*) {
  return UnimplementedUnary(*keys_, context,
                            "/hark.v1.Prompts/RecordPromptEvent");
}

grpc::ServerUnaryReactor* PromptsService::SubmitResponse(
    grpc::CallbackServerContext* context,
    const hark::v1::SubmitResponseRequest*, hark::v1::SubmitResponseResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Prompts/SubmitResponse");
}

grpc::ServerUnaryReactor* PromptsService::RecordInterview(
    grpc::CallbackServerContext* context,
    const hark::v1::RecordInterviewRequest*,
    hark::v1::RecordInterviewResponse*) {
  return UnimplementedUnary(*keys_, context,
                            "/hark.v1.Prompts/RecordInterview");
}

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
