// The responses core over an in-memory store and a fake clock: prompts are
// made by the real orchestrator (driven by RunOnce), answers go through
// Responses.

#include "server/responses/responses.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hark/proto_time.h"
#include "hark/v1/rules.pb.h"
#include "server/runtime/orchestrator.h"

namespace hark::responses {
namespace {

using hark::v1::Answer;
using hark::v1::Prompt;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kRules[] = R"(
rules:
  - id: downgrade
    friction_hypothesis: pricing
    pattern: { match: { event: downgraded } }
    action: { survey: why, expires: "1h" }
  - id: errors
    friction_hypothesis: product
    pattern: { match: { event: error } }
    action: { survey: why, delay: "10m", expires: "1h" }
  - id: plain
    pattern: { match: { event: plain } }
    action: { survey: why, expires: "1h" }
  - id: talk
    friction_hypothesis: perception
    pattern: { match: { event: cancelled } }
    action: { interview: chat, expires: "1h" }
contact_policy: { max_prompts_per_user: 100, per: "1d" }
surveys:
  - id: why
    title: "Why?"
    questions:
      - { id: score, type: rating, text: "How was it?", required: true }
      - id: reason
        type: single_choice
        text: "What got in the way?"
        choices:
          - { id: price, label: "The price", friction: pricing }
          - { id: bug, label: "A bug", friction: product }
          - { id: other, label: "Something else" }
      - { id: more, type: text, text: "Tell us more" }
interviews:
  - id: chat
    invitation: "Could we talk?"
    booking_url: "https://cal.example.com/book"
    duration: "30m"
taxonomy:
  pricing:
    description: "Cost and value for money"
    phrases: ["too expensive", "price"]
  product:
    description: "Bugs and missing features"
    phrases: ["crash", "bug"]
)";

class ResponsesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions options;
    options.path = ":memory:";
    auto opened = store::OpenSqliteStore(options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
    std::vector<rules::LoadError> errors;
    const rules::SourceFile file{"t.yaml", kRules};
    auto set = rules::LoadRuleSet({&file, 1}, &errors);
    for (const auto& e : errors) ADD_FAILURE() << e.ToString();
    ASSERT_TRUE(set.ok()) << set.status();
    rules_ = *set;
    runtime::OrchestratorOptions o;
    o.start_thread = false;
    auto orchestrator =
        runtime::Orchestrator::Start(store_.get(), &clock_, rules_, o);
    ASSERT_TRUE(orchestrator.ok()) << orchestrator.status();
    orchestrator_ = std::move(*orchestrator);
    responses_ = std::make_unique<Responses>(store_.get(), &clock_, rules_);
  }

  // Stores a match of `rule` for `user` and lets the orchestrator decide
  // it; returns the prompt id (the prompt is due unless the rule delays it).
  std::string PromptFor(const std::string& rule, const std::string& user,
                        const std::string& plan = "pro") {
    const std::string id = absl::StrCat("m", ++matches_);
    store::MatchRecord m;
    m.match_id = id;
    m.rule_id = rule;
    m.rule_version = rules_->Find(rule)->version;
    m.user_id = user;
    m.matched_at = clock_.Now();
    m.created_at = clock_.Now();
    hark::v1::Match context;
    context.set_match_id(id);
    context.set_rule_id(rule);
    context.set_user_id(user);
    SetTimestamp(m.matched_at, context.mutable_matched_at());
    (*context.mutable_traits())["plan"].set_string_value(plan);
    (*context.mutable_traits())["seats"].set_number_value(3);
    m.context = context.SerializeAsString();
    EXPECT_TRUE(store_->AppendMatches({&m, 1}).ok());
    orchestrator_->OnMatchesStored({m});
    orchestrator_->RunOnce();
    return runtime::PromptIdForMatch(id);
  }

  absl::StatusOr<hark::v1::SubmitResponseResponse> Submit(
      const std::string& prompt_id, std::vector<Answer> answers) {
    hark::v1::SubmitResponseRequest request;
    request.set_prompt_id(prompt_id);
    for (Answer& a : answers) *request.add_answers() = std::move(a);
    return responses_->Submit(request);
  }

  absl::StatusOr<hark::v1::RecordInterviewResponse> Interview(
      const std::string& prompt_id,
      hark::v1::RecordInterviewRequest::Status status,
      const std::string& notes = "") {
    hark::v1::RecordInterviewRequest request;
    request.set_prompt_id(prompt_id);
    request.set_status(status);
    request.set_notes(notes);
    return responses_->RecordInterview(request);
  }

  hark::v1::ListResponsesResponse List(hark::v1::ResponseFilter filter = {},
                                       uint32_t page_size = 0,
                                       std::string token = "") {
    hark::v1::ListResponsesRequest request;
    *request.mutable_filter() = filter;
    request.set_page_size(page_size);
    request.set_page_token(token);
    auto page = responses_->List(request);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? *page : hark::v1::ListResponsesResponse();
  }

  static Answer Score(int v) {
    Answer a;
    a.set_question_id("score");
    a.set_score(v);
    return a;
  }
  static Answer Reason(const std::string& id) {
    Answer a;
    a.set_question_id("reason");
    a.set_choice(id);
    return a;
  }
  static Answer More(const std::string& text) {
    Answer a;
    a.set_question_id("more");
    a.set_text(text);
    return a;
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<const rules::RuleSet> rules_;
  std::unique_ptr<runtime::Orchestrator> orchestrator_;
  std::unique_ptr<Responses> responses_;
  int matches_ = 0;
};

TEST_F(ResponsesTest, SubmitStoresTagsAndClosesThePrompt) {
  const std::string p = PromptFor("downgrade", "u1");
  auto r = Submit(p, {Score(2), Reason("bug")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->friction(), "product");
  auto prompt = store_->GetPrompt(p);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(prompt->state, store::PromptState::kAnswered);

  auto got = responses_->Get(r->response_id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->prompt_id(), p);
  EXPECT_EQ(got->user_id(), "u1");
  EXPECT_EQ(got->rule_id(), "downgrade");
  EXPECT_EQ(got->definition_id(), "why");
  EXPECT_EQ(got->answers_size(), 2);
  EXPECT_EQ(got->match().rule_id(), "downgrade");
  EXPECT_EQ(got->match().traits().at("plan").string_value(), "pro");
  EXPECT_EQ(got->prompt().prompt_id(), p);
  ASSERT_EQ(got->prompt().questions_size(), 3);
  EXPECT_EQ(got->prompt().questions(0).text(), "How was it?");
  ASSERT_GE(got->tags_size(), 1);
  EXPECT_EQ(got->tags(0).friction(), "product");
  EXPECT_EQ(got->tags(0).source(), "choice");
  EXPECT_TRUE(got->tags(0).primary());
  EXPECT_EQ(FromTimestamp(got->submitted_at()), clock_.Now());
}

TEST_F(ResponsesTest, InvalidAnswersNameTheQuestionAndStoreNothing) {
  const std::string p = PromptFor("downgrade", "u1");
  auto r = Submit(p, {Score(9)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("question \"score\""));
  EXPECT_EQ(store_->GetPrompt(p)->state, store::PromptState::kPending);
  EXPECT_EQ(List().responses_size(), 0);
  EXPECT_EQ(Submit("p_nope", {Score(3)}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Submit("", {Score(3)}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ResponsesTest, ResubmittingIsIdempotentDifferentAnswersAreRefused) {
  const std::string p = PromptFor("downgrade", "u1");
  auto first = Submit(p, {Score(2), Reason("price")});
  ASSERT_TRUE(first.ok()) << first.status();
  auto again = Submit(p, {Reason("price"), Score(2)});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->response_id(), first->response_id());
  EXPECT_EQ(again->friction(), "pricing");
  auto other = Submit(p, {Score(4)});
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(other.status().message(), HasSubstr("different answers"));
  EXPECT_EQ(List().responses_size(), 1);
}

TEST_F(ResponsesTest, DismissedExpiredAndNotYetDuePromptsAreRefused) {
  const std::string dismissed = PromptFor("downgrade", "u1");
  ASSERT_TRUE(orchestrator_
                  ->RecordPromptEvent(
                      dismissed, hark::v1::RecordPromptEventRequest::DISMISSED,
                      std::nullopt)
                  .ok());
  auto r = Submit(dismissed, {Score(3)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("dismissed"));

  const std::string later = PromptFor("errors", "u2");  // delay 10m
  r = Submit(later, {Score(3)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("not due until"));

  const std::string expiring = PromptFor("downgrade", "u3");
  clock_.Advance(absl::Hours(2));  // expires after 1h; no sweep ran yet
  r = Submit(expiring, {Score(3)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("expired"));
}

TEST_F(ResponsesTest, FrictionFromTextThenHypothesisThenUnknown) {
  auto text =
      Submit(PromptFor("downgrade", "u1"),
             {Score(2), Reason("other"), More("The app keeps crashing")});
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->friction(), "product");
  auto got = responses_->Get(text->response_id());
  EXPECT_EQ(got->tags(0).source(), "text");

  auto hypothesis =
      Submit(PromptFor("downgrade", "u2"), {Score(4), More("meh")});
  ASSERT_TRUE(hypothesis.ok());
  EXPECT_EQ(hypothesis->friction(), "pricing");
  EXPECT_EQ(responses_->Get(hypothesis->response_id())->tags(0).source(),
            "hypothesis");

  auto unknown = Submit(PromptFor("plain", "u3"), {Score(4)});
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->friction(), "unknown");
}

TEST_F(ResponsesTest, ManualTagWinsAndKeepsHistory) {
  auto r = Submit(PromptFor("downgrade", "u1"), {Score(2), Reason("price")});
  ASSERT_TRUE(r.ok());
  clock_.Advance(absl::Minutes(5));
  hark::v1::TagResponseRequest tag;
  tag.set_response_id(r->response_id());
  tag.set_friction("perception");
  tag.set_note("they did not see what pro adds");
  auto tagged = responses_->Tag(tag, "lead-anna");
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  EXPECT_EQ(tagged->tags(0).friction(), "perception");
  EXPECT_EQ(tagged->tags(0).source(), "manual");
  EXPECT_TRUE(tagged->tags(0).primary());
  EXPECT_EQ(tagged->tags(0).tagged_by(), "lead-anna");
  ASSERT_EQ(tagged->tag_history_size(), 2);
  EXPECT_EQ(tagged->tag_history(0).source(), "choice");
  EXPECT_EQ(tagged->tag_history(1).note(), "they did not see what pro adds");
  EXPECT_EQ(FromTimestamp(tagged->tag_history(1).tagged_at()), clock_.Now());

  hark::v1::ResponseFilter manual;
  manual.set_source("manual");
  EXPECT_EQ(List(manual).responses_size(), 1);
  hark::v1::ResponseFilter pricing;
  pricing.set_friction("pricing");
  EXPECT_EQ(List(pricing).responses_size(), 0);
  pricing.set_any_tag(true);
  EXPECT_EQ(List(pricing).responses_size(), 1);

  tag.set_friction("money");
  EXPECT_EQ(responses_->Tag(tag, "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  tag.set_friction("pricing");
  tag.set_response_id("r_nope");
  EXPECT_EQ(responses_->Tag(tag, "x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ResponsesTest, InterviewMovesAlongAndTagsCompletedNotes) {
  using S = hark::v1::RecordInterviewRequest;
  const std::string p = PromptFor("talk", "u1");
  auto accepted = Interview(p, S::ACCEPTED);
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_EQ(store_->GetPrompt(p)->state, store::PromptState::kAnswered);
  ASSERT_TRUE(Interview(p, S::BOOKED).ok());
  auto back = Interview(p, S::ACCEPTED);
  EXPECT_EQ(back.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(back.status().message(), HasSubstr("is booked"));
  auto done = Interview(p, S::COMPLETED, "Said it is too expensive for a team");
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->response_id(), accepted->response_id());
  auto got = responses_->Get(done->response_id());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->interview_status(), "completed");
  EXPECT_EQ(got->interview_notes(), "Said it is too expensive for a team");
  EXPECT_EQ(got->tags(0).friction(), "pricing");
  EXPECT_EQ(got->tags(0).source(), "text");
  EXPECT_EQ(Interview(p, S::NO_SHOW).status().code(),
            absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(Interview(p, S::STATUS_UNSPECIFIED).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string survey = PromptFor("downgrade", "u2");
  EXPECT_THAT(Interview(survey, S::ACCEPTED).status().message(),
              HasSubstr("is a survey"));
  EXPECT_THAT(Submit(p, {Score(3)}).status().message(),
              HasSubstr("interview invitation"));
}

TEST_F(ResponsesTest, FiltersAndPagesDoNotSkipOrRepeatWhileNewOnesArrive) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Submit(PromptFor("downgrade", absl::StrCat("u", i),
                                 i % 2 ? "pro" : "free"),
                       {Score(i % 5 + 1), More(i == 3 ? "Price!" : "ok")})
                    .ok());
    clock_.Advance(absl::Minutes(1));
  }
  auto page1 = List({}, 2);
  ASSERT_EQ(page1.responses_size(), 2);
  EXPECT_EQ(page1.responses(0).user_id(), "u4");  // newest first
  ASSERT_FALSE(page1.next_page_token().empty());
  // New responses arrive while the reviewer pages.
  ASSERT_TRUE(Submit(PromptFor("downgrade", "u9"), {Score(1)}).ok());
  std::vector<std::string> seen;
  for (auto& r : page1.responses()) seen.push_back(r.user_id());
  std::string token = page1.next_page_token();
  for (int guard = 0; !token.empty() && guard < 10; ++guard) {
    auto page = List({}, 2, token);
    for (auto& r : page.responses()) seen.push_back(r.user_id());
    token = page.next_page_token();
  }
  EXPECT_THAT(seen, ElementsAre("u4", "u3", "u2", "u1", "u0"));

  hark::v1::ResponseFilter f;
  f.set_trait("plan=pro");
  EXPECT_EQ(List(f).responses_size(), 3);  // u1, u3, u9
  f.Clear();
  f.set_text_contains("PRICE");
  ASSERT_EQ(List(f).responses_size(), 1);
  EXPECT_EQ(List(f).responses(0).user_id(), "u3");
  f.Clear();
  f.set_min_score(4);
  f.set_max_score(5);
  EXPECT_EQ(List(f).responses_size(), 2);  // scores 4 (u3) and 5 (u4)
  f.Clear();
  f.set_rule_id("errors");
  EXPECT_EQ(List(f).responses_size(), 0);

  hark::v1::ListResponsesRequest bad;
  bad.set_page_token("zzz");
  EXPECT_EQ(responses_->List(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ToQuery, RejectsBadFiltersNamingTheField) {
  hark::v1::ResponseFilter f;
  f.set_friction("money");
  EXPECT_THAT(ToQuery(f).status().message(), HasSubstr("filter.friction"));
  f.Clear();
  f.set_any_tag(true);
  EXPECT_THAT(ToQuery(f).status().message(), HasSubstr("filter.any_tag"));
  f.Clear();
  f.set_source("robot");
  EXPECT_THAT(ToQuery(f).status().message(), HasSubstr("filter.source"));
  f.Clear();
  f.set_trait("plan");
  EXPECT_THAT(ToQuery(f).status().message(), HasSubstr("key=value"));
  f.Clear();
  f.set_min_score(5);
  f.set_max_score(1);
  EXPECT_THAT(ToQuery(f).status().message(), HasSubstr("filter.min_score"));
  f.Clear();
  f.set_min_score(0);
  f.set_max_score(6);
  auto q = ToQuery(f);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->min_score, 0);
  EXPECT_EQ(q->max_score, 6);
  f.Clear();
  SetTimestamp(absl::FromUnixSeconds(100), f.mutable_from());
  SetTimestamp(absl::FromUnixSeconds(50), f.mutable_to());
  EXPECT_THAT(ToQuery(f).status().message(), HasSubstr("filter.from"));
}

// Figures computed by hand:
//   downgrade (hypothesis pricing): 4 matches → 4 prompts, all delivered
//   (GetPrompts), 3 answered: pricing (choice), product (choice), pricing
//   (hypothesis: text without phrases) → mismatch 1 of 3; response rate
//   3/4. Outcome (subscription_cancelled within 30 days of the match):
//   responders u1 (cancelled after 2 days), u2 (cancelled 40 days later:
//   outside), u3 (none) → 1 of 3; non-responder u4 cancelled after 1 day →
//   1 of 1. An outcome event before the match does not count (u3).
TEST_F(ResponsesTest, ReportFiguresMatchAHandComputedFixture) {
  const absl::Time t0 = clock_.Now();
  std::vector<std::string> prompts;
  for (const char* user : {"u1", "u2", "u3", "u4"}) {
    prompts.push_back(PromptFor("downgrade", user));
    ASSERT_TRUE(orchestrator_->GetPrompts(user, 1).ok());
  }
  ASSERT_TRUE(Submit(prompts[0], {Score(1), Reason("price")}).ok());
  ASSERT_TRUE(Submit(prompts[1], {Score(2), Reason("bug")}).ok());
  ASSERT_TRUE(Submit(prompts[2], {Score(3), More("no comment")}).ok());

  store::WriteBatch batch;
  batch.now = t0;
  auto outcome = [&](const char* user, absl::Time at, const char* name) {
    store::EventRecord e;
    e.event_id = absl::StrCat(user, name, absl::ToUnixSeconds(at));
    e.user_id = user;
    e.name = name;
    e.event_time = at;
    e.received_at = at;
    batch.events.push_back(e);
  };
  outcome("u3", t0 - absl::Hours(24), "subscription_cancelled");
  outcome("u1", t0 + absl::Hours(48), "subscription_cancelled");
  outcome("u2", t0 + absl::Hours(24 * 40), "subscription_cancelled");
  outcome("u4", t0 + absl::Hours(24), "subscription_cancelled");
  outcome("u3", t0 + absl::Hours(24), "page_viewed");
  ASSERT_TRUE(store_->Write(batch).ok());

  hark::v1::GetReportRequest request;
  auto report = responses_->Report(request);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->outcome_event(), "subscription_cancelled");
  EXPECT_EQ(report->outcome_days(), 30u);
  const hark::v1::Report::RuleRow* row = nullptr;
  for (const auto& r : report->rules()) {
    if (r.rule_id() == "downgrade") row = &r;
  }
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->friction_hypothesis(), "pricing");
  EXPECT_EQ(row->matches(), 4u);
  EXPECT_EQ(row->decisions().at("sent"), 4u);
  EXPECT_EQ(row->delivered(), 4u);
  EXPECT_EQ(row->answered(), 3u);
  EXPECT_DOUBLE_EQ(row->response_rate(), 0.75);
  EXPECT_EQ(row->friction().at("pricing"), 2u);
  EXPECT_EQ(row->friction().at("product"), 1u);
  EXPECT_EQ(row->hypothesis_compared(), 3u);
  EXPECT_DOUBLE_EQ(row->hypothesis_mismatch(), 1.0 / 3);
  EXPECT_EQ(row->matched_users(), 4u);
  EXPECT_EQ(row->responders(), 3u);
  EXPECT_EQ(row->non_responders(), 1u);
  EXPECT_DOUBLE_EQ(row->outcome_rate_responders(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(row->outcome_rate_non_responders(), 1.0);
  EXPECT_EQ(report->responses(), 3u);
  ASSERT_EQ(report->trend_size(), 1);
  EXPECT_EQ(report->trend(0).friction().at("pricing"), 2u);
  // Rules without matches are listed with zeros.
  EXPECT_EQ(report->rules_size(), 4);

  // A longer window counts u2 too.
  request.set_outcome_days(60);
  report = responses_->Report(request);
  ASSERT_TRUE(report.ok());
  for (const auto& r : report->rules()) {
    if (r.rule_id() == "downgrade") {
      EXPECT_DOUBLE_EQ(r.outcome_rate_responders(), 2.0 / 3);
    }
  }
  request.set_outcome_days(400);
  EXPECT_EQ(responses_->Report(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hark::responses
