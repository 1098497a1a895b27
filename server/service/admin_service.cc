#include "server/service/admin_service.h"

#include <map>
#include <string>
#include <utility>

#include "hark/proto_time.h"
#include "server/runtime/explain.h"
#include "server/service/unary.h"

namespace hark::service {
namespace {

constexpr absl::string_view kExplain = "/hark.v1.Admin/Explain";
constexpr absl::string_view kDeleteUser = "/hark.v1.Admin/DeleteUser";
constexpr absl::string_view kGetStats = "/hark.v1.Admin/GetStats";

}  // namespace

grpc::ServerUnaryReactor* AdminService::Explain(
    grpc::CallbackServerContext* context,
    const hark::v1::ExplainRequest* request,
    hark::v1::ExplainResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kExplain);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  // Reads of the small derived tables, by index.
  absl::StatusOr<hark::v1::ExplainResponse> timeline =
      runtime::Explain(*store_, request->user_id());
  if (!timeline.ok()) return FinishUnary(context, timeline.status());
  *response = std::move(*timeline);
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* AdminService::DeleteUser(
    grpc::CallbackServerContext* context,
    const hark::v1::DeleteUserRequest* request,
    hark::v1::DeleteUserResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kDeleteUser);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  if (request->user_id().empty()) {
    return FinishUnary(context, absl::InvalidArgumentError(
                                    "user_id: required (the user to delete)"));
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::string user_id = request->user_id();
  // Both callbacks run on the engine thread; the reply is finished there.
  runner_->DeleteUser(
      user_id,
      [this, user_id, response](const engine::DropReport&) -> absl::Status {
        absl::StatusOr<std::map<std::string, int64_t>> rows =
            store_->DeleteUser(user_id);
        if (!rows.ok()) return rows.status();
        for (const auto& [table, count] : *rows) {
          (*response->mutable_deleted())[table] = static_cast<uint64_t>(count);
        }
        ingestor_->ForgetUser(user_id);
        return absl::OkStatus();
      },
      [reactor, response](absl::StatusOr<engine::DropReport> dropped) {
        if (dropped.ok()) {
          (*response->mutable_deleted())["engine_states"] = dropped->slots;
          (*response->mutable_deleted())["engine_deadlines"] =
              dropped->deadlines;
        }
        reactor->Finish(ToGrpcStatus(dropped.status()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::GetStats(
    grpc::CallbackServerContext* context, const hark::v1::GetStatsRequest*,
    hark::v1::GetStatsResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kGetStats);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  // Two counter reads on the read connection; cheap enough for a reaction.
  absl::StatusOr<store::StoreStats> stored = store_->GetStats();
  if (!stored.ok()) return FinishUnary(context, stored.status());
  const ingest::IngestStats ingested = ingestor_->stats();
  response->set_events_stored(stored->events);
  response->set_users(stored->users);
  response->set_accepted(ingested.accepted);
  response->set_duplicates(ingested.duplicates);
  response->set_rejected(ingested.rejected);
  response->set_queue_depth(ingested.queue_depth_events);
  response->set_queue_capacity(ingested.queue_capacity_events);
  response->set_queue_full_rejections(ingested.queue_full_rejections);
  response->set_dedup_window_size(ingested.dedup_size);
  response->set_dedup_window_capacity(ingested.dedup_capacity);
  const absl::Duration uptime = clock_->Now() - started_at_;
  const int64_t uptime_ms = absl::ToInt64Milliseconds(uptime);
  response->mutable_uptime()->set_seconds(uptime_ms / 1000);
  response->mutable_uptime()->set_nanos(static_cast<int32_t>(uptime_ms % 1000) *
                                        1000000);
  SetTimestamp(started_at_, response->mutable_started_at());
  const runtime::RunnerStats run = runner_->stats();
  hark::v1::EngineStats* engine = response->mutable_engine();
  engine->set_rules(
      static_cast<uint32_t>(runner_->rules().rules->rules().size()));
  engine->set_live_states(run.engine.live_states);
  engine->set_state_bytes(run.engine.state_bytes);
  engine->set_events(run.engine.events);
  engine->set_late_events(run.engine.late_events);
  engine->set_matches(run.matches_stored);
  engine->set_type_mismatches(run.engine.type_mismatches);
  engine->set_pending_deadlines(run.engine.pending_deadlines);
  if (run.engine.watermark != absl::InfinitePast()) {
    SetTimestamp(run.engine.watermark, engine->mutable_watermark());
  }
  engine->set_queued_events(run.queued_events);
  engine->set_checkpoint_seq(run.checkpoint_seq);
  engine->set_replayed_events(run.replayed_events);
  engine->set_checkpoints(run.checkpoints);
  engine->set_checkpoint_deltas(run.checkpoint_deltas);
  engine->set_checkpoint_bytes(run.checkpoint_bytes);
  engine->set_checkpoint_stored_bytes(run.checkpoint_stored_bytes);
  const runtime::OrchestratorStats orch = orchestrator_->stats();
  hark::v1::OrchestrationStats* o = response->mutable_orchestration();
  for (const auto& [outcome, count] : orch.decisions) {
    (*o->mutable_decisions())[outcome] = count;
  }
  o->set_prompts_fed(orch.prompts_fed);
  o->set_prompts_expired(orch.prompts_expired);
  o->set_recovered_matches(orch.recovered_matches);
  o->set_matches_without_rule(orch.matches_without_rule);
  response->set_database(store_->path());
  response->set_version(HARK_VERSION);
  return FinishUnary(context, absl::OkStatus());
}

}  // namespace hark::service
