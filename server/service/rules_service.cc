#include "server/service/rules_service.h"

#include <memory>
#include <string>
#include <vector>

#include "hark/proto_time.h"
#include "hark/status_macros.h"
#include "server/rules/rule_set.h"
#include "server/service/unary.h"

namespace hark::service {
namespace {

constexpr absl::string_view kValidateRules = "/hark.v1.Rules/ValidateRules";
constexpr absl::string_view kApplyRules = "/hark.v1.Rules/ApplyRules";
constexpr absl::string_view kGetRules = "/hark.v1.Rules/GetRules";
constexpr absl::string_view kTestRules = "/hark.v1.Rules/TestRules";
constexpr absl::string_view kListMatches = "/hark.v1.Rules/ListMatches";
constexpr absl::string_view kBacktest = "/hark.v1.Rules/Backtest";

std::vector<rules::SourceFile> ToSources(
    const google::protobuf::RepeatedPtrField<hark::v1::RuleFile>& files) {
  std::vector<rules::SourceFile> sources;
  sources.reserve(files.size());
  for (const hark::v1::RuleFile& f : files) {
    sources.push_back({f.path(), f.content()});
  }
  return sources;
}

void ToProto(const std::vector<rules::LoadError>& errors,
             google::protobuf::RepeatedPtrField<hark::v1::RuleError>* out) {
  for (const rules::LoadError& e : errors) {
    hark::v1::RuleError* error = out->Add();
    error->set_path(e.path);
    error->set_line(e.line);
    error->set_column(e.column);
    error->set_message(e.message);
    error->set_hint(e.hint);
  }
}

// Loads `files`, or fills `errors`. An empty set of files is an error: a
// researcher who applies nothing almost certainly pointed at the wrong
// folder.
std::shared_ptr<const rules::RuleSet> Load(
    const google::protobuf::RepeatedPtrField<hark::v1::RuleFile>& files,
    google::protobuf::RepeatedPtrField<hark::v1::RuleError>* errors) {
  if (files.empty()) {
    hark::v1::RuleError* error = errors->Add();
    error->set_message("no rule files were sent");
    error->set_hint("send the *.yaml files of a rules folder");
    return nullptr;
  }
  std::vector<rules::LoadError> load_errors;
  auto set = rules::LoadRuleSet(ToSources(files), &load_errors);
  ToProto(load_errors, errors);
  if (!set.ok()) {
    if (load_errors.empty()) {
      hark::v1::RuleError* error = errors->Add();
      error->set_message(std::string(set.status().message()));
    }
    return nullptr;
  }
  return *set;
}

}  // namespace

grpc::ServerUnaryReactor* RulesService::ValidateRules(
    grpc::CallbackServerContext* context,
    const hark::v1::ValidateRulesRequest* request,
    hark::v1::ValidateRulesResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kValidateRules);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  auto set = Load(request->files(), response->mutable_errors());
  response->set_valid(set != nullptr);
  if (set != nullptr) {
    for (const rules::Rule& rule : set->rules()) {
      response->add_rule_ids(rule.id);
    }
  }
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* RulesService::ApplyRules(
    grpc::CallbackServerContext* context,
    const hark::v1::ApplyRulesRequest* request,
    hark::v1::ApplyRulesResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kApplyRules);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  auto set = Load(request->files(), response->mutable_errors());
  if (set == nullptr) {
    // The serving set stays as it is.
    response->set_applied(false);
    return FinishUnary(context, absl::OkStatus());
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  runtime::RulesInfo info{set, absl::Now(), "ApplyRules"};
  runner_->Reload(std::move(info),
                  [reactor, response](engine::ReloadReport report) {
                    response->set_applied(true);
                    for (auto& id : report.kept) response->add_kept(id);
                    for (auto& id : report.reset) response->add_reset(id);
                    for (auto& id : report.dropped) response->add_dropped(id);
                    for (auto& id : report.added) response->add_added(id);
                    reactor->Finish(grpc::Status::OK);
                  });
  return reactor;
}

grpc::ServerUnaryReactor* RulesService::GetRules(
    grpc::CallbackServerContext* context, const hark::v1::GetRulesRequest*,
    hark::v1::GetRulesResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kGetRules);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  runtime::RulesInfo info = runner_->rules();
  for (const rules::Rule& rule : info.rules->rules()) {
    hark::v1::RuleInfo* out = response->add_rules();
    out->set_id(rule.id);
    out->set_version(rule.version);
    out->set_pattern_kind(std::string(rule.kind()));
    out->set_friction_hypothesis(rule.friction_hypothesis);
    out->set_path(rule.pos.path);
  }
  SetTimestamp(info.loaded_at, response->mutable_loaded_at());
  response->set_source(info.source);
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* RulesService::TestRules(
    grpc::CallbackServerContext* context,
    const hark::v1::TestRulesRequest* request,
    hark::v1::TestRulesResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kTestRules);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  auto set = Load(request->files(), response->mutable_errors());
  if (set != nullptr) {
    for (engine::TestOutcome& outcome : engine::RunRuleTests(*set, engine_)) {
      hark::v1::TestResult* result = response->add_results();
      result->set_path(outcome.path);
      result->set_name(outcome.name);
      result->set_passed(outcome.passed);
      for (auto& line : outcome.expected) result->add_expected(line);
      for (auto& line : outcome.actual) result->add_actual(line);
    }
  }
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* RulesService::ListMatches(
    grpc::CallbackServerContext* context,
    const hark::v1::ListMatchesRequest* request,
    hark::v1::ListMatchesResponse* response) {
  auto principal = AuthorizeCall(*keys_, context, kListMatches);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  // Answer once the engine has caught up with every acknowledged event, so
  // a caller sees the matches its events caused.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  runner_->AfterCaughtUp([this, reactor, request, response] {
    reactor->Finish(ToGrpcStatus(ListMatchesNow(*request, response)));
  });
  return reactor;
}

absl::Status RulesService::ListMatchesNow(
    const hark::v1::ListMatchesRequest& request,
    hark::v1::ListMatchesResponse* response) {
  store::MatchFilter filter;
  filter.rule_id = request.rule_id();
  filter.user_id = request.user_id();
  filter.page_size = request.page_size();
  filter.page_token = request.page_token();
  ASSIGN_OR_RETURN(store::MatchPage page, store_->ListMatches(filter));
  for (const store::MatchRecord& record : page.matches) {
    hark::v1::Match* match = response->add_matches();
    if (!match->ParseFromString(record.context)) {
      return absl::DataLossError(absl::StrCat(
          "match ", record.match_id, ": its stored context cannot be read"));
    }
  }
  response->set_next_page_token(page.next_page_token);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* RulesService::Backtest(
    grpc::CallbackServerContext* context, const hark::v1::BacktestRequest*,
    hark::v1::BacktestResponse*) {
  return UnimplementedUnary(*keys_, context, kBacktest);
}

}  // namespace hark::service
