#ifndef HARK_SERVER_SERVICE_SERVER_H_
#define HARK_SERVER_SERVICE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "hark/clock.h"
#include "server/auth/auth.h"
#include "server/engine/engine.h"
#include "server/ingest/ingestor.h"
#include "server/responses/responses.h"
#include "server/runtime/engine_runner.h"
#include "server/runtime/orchestrator.h"
#include "server/store/store.h"

namespace hark::service {

struct ServerOptions {
  // host:port; port 0 picks a free one (see Server::port()).
  std::string listen = "127.0.0.1:50051";
  store::StoreOptions store;
  std::string rules_dir = "rules";
  auth::KeyFiles keys;
  ingest::IngestOptions ingest;
  runtime::RunnerOptions runner;
  runtime::OrchestratorOptions orchestrator;
  // Defaults to the wall clock.
  const Clock* clock = nullptr;
};

// harkd: the store, the ingestion pipeline and the gRPC services.
class Server {
 public:
  // Opens the database, loads (or creates) the API keys, loads the rules
  // folder (refusing to start on an invalid set, with every error in the
  // message), recovers the engine, starts the writer thread and listens.
  // `*keys_created` tells whether the keys were new.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, bool* keys_created);

  // Stops taking calls, lets in-flight calls finish (streams are cancelled
  // after `grace`), commits what is queued and closes the database.
  // Idempotent.
  void Shutdown(absl::Duration grace);

  ~Server();

  // Reloads the rules folder (SIGHUP). An invalid set is refused with its
  // errors and the serving set stays.
  absl::StatusOr<engine::ReloadReport> ReloadRulesFolder();

  // The bound port.
  int port() const { return port_; }
  const ingest::Ingestor& ingestor() const { return *ingestor_; }
  const runtime::EngineRunner& runner() const { return *runner_; }
  const runtime::Orchestrator& orchestrator() const { return *orchestrator_; }

 private:
  class Services;
  Server() = default;

  std::string rules_dir_;
  int port_ = 0;
  bool shut_down_ = false;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<auth::KeyRing> keys_;
  // Declared before the runner, which hands it matches until it is shut
  // down: destroyed after it.
  std::unique_ptr<runtime::Orchestrator> orchestrator_;
  std::unique_ptr<responses::Responses> responses_;
  std::unique_ptr<runtime::EngineRunner> runner_;
  std::unique_ptr<ingest::Ingestor> ingestor_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> grpc_server_;
};

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_SERVER_H_
