#include "server/service/server.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "hark/status_macros.h"
#include "server/rules/rule_set.h"
#include "server/service/admin_service.h"
#include "server/service/ingest_service.h"
#include "server/service/prompts_service.h"
#include "server/service/review_service.h"
#include "server/service/rules_service.h"

namespace hark::service {
namespace {

// Room for a 4 MiB batch plus envelope, so that a slightly larger batch
// gets the ingestor's clear error rather than gRPC's generic one.
constexpr int kMaxReceiveBytes = 5 << 20;

// The rule set of a folder; an empty set if the folder does not exist.
// INVALID_ARGUMENT with every error, one per line, if it does not load.
absl::StatusOr<std::shared_ptr<const rules::RuleSet>> LoadRulesFolder(
    const std::string& dir) {
  absl::StatusOr<std::vector<rules::SourceFile>> files =
      rules::ReadRuleDir(dir);
  if (absl::IsNotFound(files.status())) return rules::RuleSetBuilder().Build();
  if (!files.ok()) return files.status();
  std::vector<rules::LoadError> errors;
  auto set = rules::LoadRuleSet(*files, &errors);
  if (set.ok()) return set;
  std::vector<std::string> lines;
  for (const rules::LoadError& e : errors) lines.push_back(e.ToString());
  return absl::InvalidArgumentError(absl::StrCat(
      "the rules in ", dir, " do not load (", errors.size(), " errors):\n",
      absl::StrJoin(lines, "\n"), "\ncheck them with: hark rules check ", dir));
}

}  // namespace

class Server::Services {
 public:
  Services(const auth::KeyRing* keys, ingest::Ingestor* ingestor,
           runtime::EngineRunner* runner, runtime::Orchestrator* orchestrator,
           responses::Responses* responses, store::Store* store,
           const Clock* clock, const engine::EngineOptions& engine)
      : ingest(keys, ingestor),
        admin(keys, ingestor, runner, orchestrator, store, clock),
        prompts(keys, orchestrator, responses),
        rules(keys, runner, store, engine),
        review(keys, responses) {}
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
  server->rules_dir_ = options.rules_dir;
  ASSIGN_OR_RETURN(std::shared_ptr<const rules::RuleSet> rule_set,
                   LoadRulesFolder(options.rules_dir));
  // The orchestrator first: the runner hands it the matches it stores while
  // replaying, and every reloaded rule set.
  ASSIGN_OR_RETURN(server->orchestrator_, runtime::Orchestrator::Start(
                                              server->store_.get(), clock,
                                              rule_set, options.orchestrator));
  server->responses_ = std::make_unique<responses::Responses>(
      server->store_.get(), clock, rule_set);
  runtime::RunnerOptions runner_options = options.runner;
  runtime::Orchestrator* orchestrator = server->orchestrator_.get();
  responses::Responses* responses = server->responses_.get();
  runner_options.on_matches =
      [orchestrator](std::vector<store::MatchRecord> matches) {
        orchestrator->OnMatchesStored(std::move(matches));
      };
  runner_options.on_rules =
      [orchestrator,
       responses](const std::shared_ptr<const rules::RuleSet>& set) {
        orchestrator->SetRules(set);
        responses->SetRules(set);
      };
  ASSIGN_OR_RETURN(
      server->runner_,
      runtime::EngineRunner::Start(
          server->store_.get(), clock,
          runtime::RulesInfo{rule_set, clock->Now(), options.rules_dir},
          runner_options));
  ingest::IngestOptions ingest_options = options.ingest;
  runtime::EngineRunner* runner = server->runner_.get();
  ingest_options.on_commit = [runner](store::WriteBatch&& batch,
                                      const store::WriteResult& result) {
    runner->OnCommitted(std::move(batch), result);
  };
  ASSIGN_OR_RETURN(
      server->ingestor_,
      ingest::Ingestor::Start(server->store_.get(), clock, ingest_options));
  server->services_ = std::make_unique<Services>(
      server->keys_.get(), server->ingestor_.get(), server->runner_.get(),
      server->orchestrator_.get(), server->responses_.get(),
      server->store_.get(), clock, options.runner.engine);

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
    server->runner_->Shutdown();
    server->orchestrator_->Shutdown();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options.listen,
        ": the address is in use or invalid; pick another with --listen"));
  }
  server->grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

absl::StatusOr<engine::ReloadReport> Server::ReloadRulesFolder() {
  ASSIGN_OR_RETURN(std::shared_ptr<const rules::RuleSet> rule_set,
                   LoadRulesFolder(rules_dir_));
  absl::Notification done;
  engine::ReloadReport report;
  runner_->Reload(runtime::RulesInfo{rule_set, absl::Now(), rules_dir_},
                  [&](engine::ReloadReport r) {
                    report = std::move(r);
                    done.Notify();
                  });
  done.WaitForNotification();
  return report;
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
  // Nothing feeds the engine any more: its final checkpoint covers every
  // committed event.
  runner_->Shutdown();
  // Decides the matches the runner stored last.
  orchestrator_->Shutdown();
}

Server::~Server() {
  if (grpc_server_ != nullptr) Shutdown(absl::Seconds(5));
}

}  // namespace hark::service
