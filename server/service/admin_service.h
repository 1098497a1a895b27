#ifndef HARK_SERVER_SERVICE_ADMIN_SERVICE_H_
#define HARK_SERVER_SERVICE_ADMIN_SERVICE_H_

#include <string>

#include "absl/time/time.h"
#include "hark/clock.h"
#include "hark/v1/admin.grpc.pb.h"
#include "server/auth/auth.h"
#include "server/ingest/ingestor.h"
#include "server/runtime/engine_runner.h"
#include "server/runtime/orchestrator.h"
#include "server/store/store.h"

namespace hark::service {

class AdminService final : public hark::v1::Admin::CallbackService {
 public:
  AdminService(const auth::KeyRing* keys, ingest::Ingestor* ingestor,
               runtime::EngineRunner* runner,
               const runtime::Orchestrator* orchestrator, store::Store* store,
               const Clock* clock)
      : keys_(keys),
        ingestor_(ingestor),
        runner_(runner),
        orchestrator_(orchestrator),
        store_(store),
        clock_(clock),
        started_at_(clock->Now()) {}

  grpc::ServerUnaryReactor* Explain(
      grpc::CallbackServerContext* context,
      const hark::v1::ExplainRequest* request,
      hark::v1::ExplainResponse* response) override;
  // Removes everything Hark holds about a person: the engine's state of
  // the user first (with a checkpoint), then every row (see
  // EngineRunner::DeleteUser for the order and why). The reply counts rows
  // by table plus "engine_states" and "engine_deadlines".
  grpc::ServerUnaryReactor* DeleteUser(
      grpc::CallbackServerContext* context,
      const hark::v1::DeleteUserRequest* request,
      hark::v1::DeleteUserResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(
      grpc::CallbackServerContext* context,
      const hark::v1::GetStatsRequest* request,
      hark::v1::GetStatsResponse* response) override;

 private:
  const auth::KeyRing* keys_;
  ingest::Ingestor* ingestor_;
  runtime::EngineRunner* runner_;
  const runtime::Orchestrator* orchestrator_;
  store::Store* store_;
  const Clock* clock_;
  const absl::Time started_at_;
};

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_ADMIN_SERVICE_H_
