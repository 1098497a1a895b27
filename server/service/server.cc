#include "server/service/server.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "hark/status_macros.h"
#include "server/service/admin_service.h"
#include "server/service/ingest_service.h"
#include "server/service/pending_services.h"

namespace hark::service {

// Room for a 4 MiB batch plus envelope, so that a slightly larger batch
// gets the ingestor's clear error rather than gRPC's generic one.
constexpr int kMaxReceiveBytes = 5 << 20;

class Server::Services {
 public:
  Services(const auth::KeyRing* keys, ingest::Ingestor* ingestor,
           store::Store* store, const Clock* clock)
      : ingest(keys, ingestor),
        admin(keys, ingestor, store, clock),
        prompts(keys),
        rules(keys),
        review(keys) {}
  IngestService ingest;
  AdminService admin;
  PromptsService prompts;
  RulesService rules;
  ReviewService review;
};

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, bool* keys_created) {
  const Clock* clock = options.clock ? options.clock : RealClock::Get();
  std::unique_ptr<Server> server(new Server());
  ASSIGN_OR_RETURN(server->store_, store::OpenSqliteStore(options.store));
  ASSIGN_OR_RETURN(server->keys_,
                   auth::KeyRing::LoadOrCreate(options.keys, keys_created));
  ASSIGN_OR_RETURN(
      server->ingestor_,
      ingest::Ingestor::Start(server->store_.get(), clock, options.ingest));
  server->services_ =
      std::make_unique<Services>(server->keys_.get(), server->ingestor_.get(),
                                 server->store_.get(), clock);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  builder.RegisterService(&server->services_->ingest);
  builder.RegisterService(&server->services_->admin);
  builder.RegisterService(&server->services_->prompts);
  builder.RegisterService(&server->services_->rules);
  builder.RegisterService(&server->services_->review);
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->port_ == 0) {
    server->ingestor_->Shutdown();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen,
        ": the address is in use or invalid; pick another with --listen"));
  }
  server->grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

void Server::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  // In-flight calls finish as the writer keeps committing; the ingestor is
  // stopped only after gRPC has no call left that waits on it.
  grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  grpc_server_->Wait();
  ingestor_->Shutdown();
}

Server::~Server() {
  if (grpc_server_ != nullptr) Shutdown(absl::Seconds(5));
}

}  // namespace hark::service
