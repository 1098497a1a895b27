#ifndef HARK_SERVER_SERVICE_PROMPTS_SERVICE_H_
#define HARK_SERVER_SERVICE_PROMPTS_SERVICE_H_

// hark.v1.Prompts: thin adapter over runtime::Orchestrator (delivery and
// prompt states) and responses::Responses (answers and interview outcomes).

#include "hark/v1/prompts.grpc.pb.h"
#include "server/auth/auth.h"
#include "server/responses/responses.h"
#include "server/runtime/orchestrator.h"

namespace hark::service {

class PromptsService final : public hark::v1::Prompts::CallbackService {
 public:
  PromptsService(const auth::KeyRing* keys, runtime::Orchestrator* orchestrator,
                 responses::Responses* responses)
      : keys_(keys), orchestrator_(orchestrator), responses_(responses) {}
  grpc::ServerUnaryReactor* GetPrompts(
      grpc::CallbackServerContext* context,
      const hark::v1::GetPromptsRequest* request,
      hark::v1::GetPromptsResponse* response) override;
  // Resumable: every prompt that entered the feed after the request's
  // cursor, once, then new ones as they become due, until the client
  // cancels or the server shuts down.
  grpc::ServerWriteReactor<hark::v1::Prompt>* WatchPrompts(
      grpc::CallbackServerContext* context,
      const hark::v1::WatchPromptsRequest* request) override;
  grpc::ServerUnaryReactor* RecordPromptEvent(
      grpc::CallbackServerContext* context,
      const hark::v1::RecordPromptEventRequest* request,
      hark::v1::RecordPromptEventResponse* response) override;
  grpc::ServerUnaryReactor* SubmitResponse(
      grpc::CallbackServerContext* context,
      const hark::v1::SubmitResponseRequest* request,
      hark::v1::SubmitResponseResponse* response) override;
  grpc::ServerUnaryReactor* RecordInterview(
      grpc::CallbackServerContext* context,
      const hark::v1::RecordInterviewRequest* request,
      hark::v1::RecordInterviewResponse* response) override;

 private:
  const auth::KeyRing* keys_;
  runtime::Orchestrator* orchestrator_;
  responses::Responses* responses_;
};

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_PROMPTS_SERVICE_H_
