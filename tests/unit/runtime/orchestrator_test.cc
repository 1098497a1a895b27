// The orchestrator over an in-memory store and a fake clock, driven by
// RunOnce() (no thread).

#include "server/runtime/orchestrator.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hark/proto_time.h"
#include "hark/v1/rules.pb.h"
#include "server/runtime/explain.h"

namespace hark::runtime {
namespace {

using hark::v1::Prompt;
using hark::v1::RecordPromptEventRequest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kRules[] = R"(
rules:
  - id: errors
    pattern:
      count: { event: error, group_by: [props.code], at_least: 2, within: "10m" }
    action: { survey: pulse, expires: "1h" }
    cooldown: "1d"
    priority: 5
  - id: cancel
    pattern: { match: { event: cancelled } }
    action: { survey: pulse, delay: "10m", expires: "1h" }
    priority: 1
  - id: talk
    pattern: { match: { event: downgraded } }
    action: { interview: chat }
  - id: quiet
    pattern: { match: { event: seen } }
contact_policy: { max_prompts_per_user: 5, per: "7d", priority_window: PRIORITY }
surveys:
  - id: pulse
    title: "Hi {{user.first_name | default: \"there\"}}"
    questions:
      - { id: q1, type: rating, text: "Error {{match.props.code | default: \"?\"}}: how bad?", required: true }
      - id: q2
        type: single_choice
        text: "What got in the way?"
        choices:
          - { id: price, label: "The price", friction: pricing }
          - { id: bug, label: "A bug", friction: product }
interviews:
  - id: chat
    invitation: "Could we talk for 30 minutes?"
    booking_url: "https://cal.example.com/book?token={{token}}"
    duration: "30m"
    incentive: "$50 gift card"
    quota: { max: 5, per: "7d" }
)";

std::shared_ptr<const rules::RuleSet> LoadRules(
    const std::string& priority_window = "\"0s\"") {
  std::string text = kRules;
  text.replace(text.find("PRIORITY"), 8, priority_window);
  std::vector<rules::LoadError> errors;
  const rules::SourceFile file{"t.yaml", text};
  auto set = rules::LoadRuleSet({&file, 1}, &errors);
  for (const auto& e : errors) ADD_FAILURE() << e.ToString();
  return set.ok() ? *set : nullptr;
}

class OrchestratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions options;
    options.path = ":memory:";
    auto opened = store::OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
    rules_ = LoadRules();
    ASSERT_NE(rules_, nullptr);
  }

  void Start() {
    OrchestratorOptions options;
    options.start_thread = false;
    auto o = Orchestrator::Start(store_.get(), &clock_, rules_, options);
    ASSERT_TRUE(o.ok()) << o.status();
    orchestrator_ = std::move(*o);
  }

  // A stored match of `rule` for `user` whose last event has `props`.
  store::MatchRecord Match(
      const std::string& id, const std::string& rule, const std::string& user,
      std::vector<std::pair<std::string, std::string>> props = {},
      absl::Duration age = absl::ZeroDuration()) {
    store::MatchRecord m;
    m.match_id = id;
    m.rule_id = rule;
    m.rule_version = rules_->Find(rule)->version;
    m.user_id = user;
    m.matched_at = clock_.Now() - age;
    m.created_at = clock_.Now();
    hark::v1::Match context;
    context.set_match_id(id);
    context.set_rule_id(rule);
    context.set_user_id(user);
    SetTimestamp(m.matched_at, context.mutable_matched_at());
    hark::v1::MatchedEvent* ev = context.add_events();
    ev->set_event_id(absl::StrCat(id, "-ev"));
    ev->set_name(rule);
    SetTimestamp(m.matched_at, ev->mutable_timestamp());
    for (auto& [k, v] : props)
      (*ev->mutable_properties())[k].set_string_value(v);
    for (auto& [k, v] : traits_[user]) {
      (*context.mutable_traits())[k].set_string_value(v);
    }
    m.context = context.SerializeAsString();
    return m;
  }

  // Stores matches and hands them over, like the engine runner does.
  void Deliver(std::vector<store::MatchRecord> matches) {
    ASSERT_TRUE(store_->AppendMatches(matches).ok());
    orchestrator_->OnMatchesStored(std::move(matches));
    orchestrator_->RunOnce();
  }

  std::vector<std::string> Outcomes(const std::string& user) {
    auto decisions = store_->ListUserDecisions(user);
    EXPECT_TRUE(decisions.ok());
    std::vector<std::string> out;
    for (const auto& d : *decisions) {
      out.push_back(absl::StrCat(d.rule_id, ":", d.outcome));
    }
    return out;
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<const rules::RuleSet> rules_;
  std::unique_ptr<Orchestrator> orchestrator_;
  std::map<std::string, std::map<std::string, std::string>> traits_;
};

TEST_F(OrchestratorTest, SentMatchBecomesRenderedPromptDeliveredOnce) {
  traits_["u1"]["first_name"] = "Ada";
  Start();
  Deliver({Match("m1", "errors", "u1", {{"code", "E42"}})});
  EXPECT_THAT(Outcomes("u1"), ElementsAre("errors:sent"));
  auto prompts = orchestrator_->GetPrompts("u1", 5);
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  ASSERT_EQ(prompts->size(), 1u);
  const Prompt& p = (*prompts)[0];
  EXPECT_EQ(p.prompt_id(), PromptIdForMatch("m1"));
  EXPECT_EQ(p.match_id(), "m1");
  EXPECT_EQ(p.state(), Prompt::DELIVERED);
  EXPECT_EQ(p.title(), "Hi Ada");
  ASSERT_EQ(p.questions_size(), 2);
  EXPECT_EQ(p.questions(0).text(), "Error E42: how bad?");
  EXPECT_EQ(p.questions(1).choices_size(), 2);
  EXPECT_EQ(p.priority(), 5);
  EXPECT_EQ(p.expires_at().seconds() - p.due_at().seconds(), 3600);
  // The same match again (a replay) changes nothing.
  Deliver({Match("m1", "errors", "u1", {{"code", "E42"}})});
  EXPECT_THAT(Outcomes("u1"), ElementsAre("errors:sent"));
  auto user_prompts = store_->ListUserPrompts("u1");
  ASSERT_TRUE(user_prompts.ok());
  EXPECT_EQ(user_prompts->size(), 1u);
}

TEST_F(OrchestratorTest, MissingTemplateValuesUseDefaults) {
  Start();
  Deliver({Match("m1", "errors", "u1")});
  auto prompts = orchestrator_->GetPrompts("u1", 1);
  ASSERT_TRUE(prompts.ok());
  ASSERT_EQ(prompts->size(), 1u);
  EXPECT_EQ((*prompts)[0].title(), "Hi there");
  EXPECT_EQ((*prompts)[0].questions(0).text(), "Error ?: how bad?");
}

TEST_F(OrchestratorTest, MatchStoredBeforeACrashIsDecidedAtStart) {
  ASSERT_TRUE(store_->AppendMatches({Match("m1", "errors", "u1")}).ok());
  Start();
  EXPECT_THAT(Outcomes("u1"), ElementsAre("errors:sent"));
  EXPECT_EQ(orchestrator_->stats().recovered_matches, 1u);
  // A second start finds nothing left to decide.
  orchestrator_.reset();
  Start();
  EXPECT_EQ(orchestrator_->stats().recovered_matches, 0u);
  EXPECT_THAT(Outcomes("u1"), ElementsAre("errors:sent"));
}

TEST_F(OrchestratorTest, DelayedPromptIsFedWhenDue) {
  Start();
  int notified = 0;
  orchestrator_->Subscribe([&] { ++notified; });
  auto end = orchestrator_->FeedEnd();
  ASSERT_TRUE(end.ok());
  Deliver({Match("m1", "cancel", "u1")});
  EXPECT_THAT(Outcomes("u1"), ElementsAre("cancel:sent"));
  std::string next;
  auto feed = orchestrator_->ReadFeed(*end, 10, {}, &next);
  ASSERT_TRUE(feed.ok());
  EXPECT_TRUE(feed->empty());
  EXPECT_TRUE(orchestrator_->GetPrompts("u1", 1)->empty());
  // RunOnce asks to run again when the prompt is due.
  clock_.Advance(absl::Minutes(5));
  EXPECT_EQ(orchestrator_->RunOnce(), clock_.Now() + absl::Seconds(1));
  EXPECT_EQ(notified, 0);
  clock_.Advance(absl::Minutes(5));
  orchestrator_->RunOnce();
  EXPECT_EQ(notified, 1);
  feed = orchestrator_->ReadFeed(*end, 10, {}, &next);
  ASSERT_TRUE(feed.ok());
  ASSERT_EQ(feed->size(), 1u);
  EXPECT_EQ((*feed)[0].state(), Prompt::DELIVERED);
  EXPECT_EQ((*feed)[0].cursor(), next);
  // Reading on from the returned cursor gives nothing twice.
  auto again = orchestrator_->ReadFeed(next, 10, {}, &next);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_F(OrchestratorTest, FeedFiltersKindsAndRefusesForeignCursors) {
  Start();
  auto end = orchestrator_->FeedEnd();
  ASSERT_TRUE(end.ok());
  Deliver({Match("m1", "errors", "u1"), Match("m2", "talk", "u2")});
  std::string next;
  const int interviews[] = {Prompt::INTERVIEW};
  auto feed = orchestrator_->ReadFeed(*end, 10, interviews, &next);
  ASSERT_TRUE(feed.ok());
  ASSERT_EQ(feed->size(), 1u);
  EXPECT_EQ((*feed)[0].kind(), Prompt::INTERVIEW);
  EXPECT_THAT((*feed)[0].booking_url(),
              HasSubstr("https://cal.example.com/book?token="));
  EXPECT_EQ((*feed)[0].incentive(), "$50 gift card");
  EXPECT_EQ((*feed)[0].duration_minutes(), 30u);
  // The survey was skipped, not marked delivered.
  auto survey = store_->GetPrompt(PromptIdForMatch("m1"));
  ASSERT_TRUE(survey.ok());
  EXPECT_EQ(survey->state, store::PromptState::kPending);
  auto bad = orchestrator_->ReadFeed("x17", 10, {}, &next);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("after_cursor"));
}

TEST_F(OrchestratorTest, PromptStateMachine) {
  Start();
  Deliver({Match("m1", "errors", "u1"), Match("m2", "cancel", "u2")});
  const std::string p1 = PromptIdForMatch("m1");
  const std::string p2 = PromptIdForMatch("m2");
  // Not due yet: showing it is refused.
  auto early = orchestrator_->RecordPromptEvent(
      p2, RecordPromptEventRequest::SHOWN, std::nullopt);
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(early.status().message(), HasSubstr("not due until"));

  auto shown = orchestrator_->RecordPromptEvent(
      p1, RecordPromptEventRequest::SHOWN, std::nullopt);
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_EQ(*shown, Prompt::SHOWN);
  // Past expires_at (1h): any change is refused, naming the state.
  clock_.Advance(absl::Hours(2));
  auto late = orchestrator_->RecordPromptEvent(
      p1, RecordPromptEventRequest::DISMISSED, std::nullopt);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.status().message(), HasSubstr("expired"));
  auto record = store_->GetPrompt(p1);
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, store::PromptState::kExpired);

  auto missing = orchestrator_->RecordPromptEvent(
      "p_nope", RecordPromptEventRequest::SHOWN, std::nullopt);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(orchestrator_->GetPrompts("", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(orchestrator_->GetPrompts("u1", 11).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(OrchestratorTest, SweepExpiresUnansweredPrompts) {
  Start();
  Deliver({Match("m1", "errors", "u1")});
  clock_.Advance(absl::Hours(1));
  orchestrator_->RunOnce();
  auto record = store_->GetPrompt(PromptIdForMatch("m1"));
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->state, store::PromptState::kExpired);
  EXPECT_EQ(orchestrator_->stats().prompts_expired, 1u);
  EXPECT_TRUE(orchestrator_->GetPrompts("u1", 1)->empty());
}

TEST_F(OrchestratorTest, PriorityWindowHoldsMatchesSoTheyCompete) {
  rules_ = LoadRules("\"5s\"");
  Start();
  Deliver({Match("m1", "cancel", "u1")});
  EXPECT_TRUE(Outcomes("u1").empty()) << "held for the window";
  clock_.Advance(absl::Seconds(2));
  Deliver({Match("m2", "errors", "u1")});
  EXPECT_TRUE(Outcomes("u1").empty());
  clock_.Advance(absl::Seconds(3));
  orchestrator_->RunOnce();
  auto outcomes = Outcomes("u1");
  std::sort(outcomes.begin(), outcomes.end());
  EXPECT_THAT(outcomes, ElementsAre("cancel:lower_priority", "errors:sent"));
}

TEST_F(OrchestratorTest, MatchesOfRulesWithoutActionOrRuleAreNotDecided) {
  Start();
  Deliver({Match("m1", "quiet", "u1")});
  EXPECT_TRUE(Outcomes("u1").empty());
  store::MatchRecord gone = Match("m2", "errors", "u2");
  gone.rule_id = "removed_rule";
  Deliver({gone});
  EXPECT_TRUE(Outcomes("u2").empty());
  EXPECT_EQ(orchestrator_->stats().matches_without_rule, 1u);
}

TEST_F(OrchestratorTest, ExplainTellsTheWholeStory) {
  Start();
  Deliver({Match("m1", "errors", "u1", {{"code", "E42"}})});
  clock_.Advance(absl::Minutes(1));
  Deliver({Match("m2", "errors", "u1", {{"code", "E7"}})});
  ASSERT_TRUE(orchestrator_->GetPrompts("u1", 1).ok());
  auto timeline = Explain(*store_, "u1");
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  std::vector<std::string> kinds;
  std::string text;
  for (const auto& e : timeline->entries()) {
    kinds.push_back(e.kind());
    text += e.summary() + "\n";
  }
  EXPECT_THAT(kinds, ElementsAre("event", "match", "decision", "prompt",
                                 "event", "match", "decision", "prompt"))
      << text;
  EXPECT_THAT(text, HasSubstr("code=\"E42\""));
  EXPECT_THAT(text, HasSubstr("not asked (cooldown)"));
  EXPECT_THAT(text, HasSubstr("delivered"));
  EXPECT_EQ(Explain(*store_, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto nobody = Explain(*store_, "nobody");
  ASSERT_TRUE(nobody.ok());
  EXPECT_EQ(nobody->entries_size(), 0);
}

}  // namespace
}  // namespace hark::runtime
