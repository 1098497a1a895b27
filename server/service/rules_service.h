#ifndef HARK_SERVER_SERVICE_RULES_SERVICE_H_
#define HARK_SERVER_SERVICE_RULES_SERVICE_H_

#include "hark/v1/rules.grpc.pb.h"
#include "server/auth/auth.h"
#include "server/engine/engine.h"
#include "server/runtime/engine_runner.h"
#include "server/store/store.h"

namespace hark::service {

// hark.v1.Rules: validation, hot reload, tests and matches.
class RulesService final : public hark::v1::Rules::CallbackService {
 public:
  RulesService(const auth::KeyRing* keys, runtime::EngineRunner* runner,
               store::Store* store, const engine::EngineOptions& engine)
      : keys_(keys), runner_(runner), store_(store), engine_(engine) {}

  grpc::ServerUnaryReactor* ValidateRules(
      grpc::CallbackServerContext* context,
      const hark::v1::ValidateRulesRequest* request,
      hark::v1::ValidateRulesResponse* response) override;
  grpc::ServerUnaryReactor* ApplyRules(
      grpc::CallbackServerContext* context,
      const hark::v1::ApplyRulesRequest* request,
      hark::v1::ApplyRulesResponse* response) override;
  grpc::ServerUnaryReactor* GetRules(
      grpc::CallbackServerContext* context,
      const hark::v1::GetRulesRequest* request,
      hark::v1::GetRulesResponse* response) override;
  grpc::ServerUnaryReactor* TestRules(
      grpc::CallbackServerContext* context,
      const hark::v1::TestRulesRequest* request,
      hark::v1::TestRulesResponse* response) override;
  grpc::ServerUnaryReactor* ListMatches(
      grpc::CallbackServerContext* context,
      const hark::v1::ListMatchesRequest* request,
      hark::v1::ListMatchesResponse* response) override;
  grpc::ServerUnaryReactor* Backtest(
      grpc::CallbackServerContext* context,
      const hark::v1::BacktestRequest* request,
      hark::v1::BacktestResponse* response) override;

 private:
  absl::Status ListMatchesNow(const hark::v1::ListMatchesRequest& request,
                              hark::v1::ListMatchesResponse* response);

  const auth::KeyRing* keys_;
  runtime::EngineRunner* runner_;
  store::Store* store_;
  const engine::EngineOptions engine_;
};

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_RULES_SERVICE_H_
