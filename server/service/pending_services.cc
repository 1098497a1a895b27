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

grpc::ServerUnaryReactor* RulesService::ValidateRules(
    grpc::CallbackServerContext* context, const hark::v1::ValidateRulesRequest*,
    hark::v1::ValidateRulesResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Rules/ValidateRules");
}

grpc::ServerUnaryReactor* RulesService::ApplyRules(
    grpc::CallbackServerContext* context, const hark::v1::ApplyRulesRequest*,
    hark::v1::ApplyRulesResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Rules/ApplyRules");
}

grpc::ServerUnaryReactor* RulesService::GetRules(
    grpc::CallbackServerContext* context, const hark::v1::GetRulesRequest*,
    hark::v1::GetRulesResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Rules/GetRules");
}

grpc::ServerUnaryReactor* RulesService::TestRules(
    grpc::CallbackServerContext* context, const hark::v1::TestRulesRequest*,
    hark::v1::TestRulesResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Rules/TestRules");
}

grpc::ServerUnaryReactor* RulesService::ListMatches(
    grpc::CallbackServerContext* context, const hark::v1::ListMatchesRequest*,
    hark::v1::ListMatchesResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Rules/ListMatches");
}

grpc::ServerUnaryReactor* RulesService::Backtest(
    grpc::CallbackServerContext* context, const hark::v1::BacktestRequest*,
    hark::v1::BacktestResponse*) {
  return UnimplementedUnary(*keys_, context, "/hark.v1.Rules/Backtest");
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
