// End-to-end: the full loop for each shipped rule — events in, a prompt,
// shown, answers in, the response listed with its friction type and source,
// counted by the report — plus user deletion, over gRPC against the real
// harkd.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "hark/v1/review.grpc.pb.h"
#include "tests/e2e/prompts_fixture.h"

namespace hark::testing {
namespace {

using hark::v1::Answer;

class ResponsesE2ETest : public PromptsE2ETest {
 protected:
  // The shipped rules, with the cancellation survey's 10-minute delay cut
  // to nothing so that the test does not wait for it.
  void StartWithShippedRules() {
    harkd_.CopyShippedRules();
    std::ifstream in(harkd_.dir() + "/rules/triggers.yaml");
    std::stringstream text;
    text << in.rdbuf();
    std::string rules = text.str();
    const std::string delayed =
        "action: { survey: cancel_exit, delay: \"10m\" }";
    ASSERT_NE(rules.find(delayed), std::string::npos)
        << "the shipped cancellation rule changed; update this test";
    absl::StrReplaceAll({{delayed, "action: { survey: cancel_exit }"}}, &rules);
    harkd_.WriteFile("rules/triggers.yaml", rules);
    StartWith();
  }

  Prompt WaitForPrompt(const std::string& user) {
    std::vector<Prompt> prompts;
    EXPECT_TRUE(WaitFor([&] { return !(prompts = GetPrompts(user)).empty(); }))
        << "no prompt for " << user;
    return prompts.empty() ? Prompt() : prompts[0];
  }

  void Shown(const std::string& prompt_id) {
    auto stub = hark::v1::Prompts::NewStub(harkd_.Channel());
    hark::v1::RecordPromptEventRequest request;
    request.set_prompt_id(prompt_id);
    request.set_type(hark::v1::RecordPromptEventRequest::SHOWN);
    hark::v1::RecordPromptEventResponse response;
    grpc::Status status = stub->RecordPromptEvent(
        HarkdProcess::Context(harkd_, "ingest").get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  grpc::Status Submit(const std::string& prompt_id,
                      const std::vector<Answer>& answers,
                      hark::v1::SubmitResponseResponse* response) {
    auto stub = hark::v1::Prompts::NewStub(harkd_.Channel());
    hark::v1::SubmitResponseRequest request;
    request.set_prompt_id(prompt_id);
    for (const Answer& a : answers) *request.add_answers() = a;
    return stub->SubmitResponse(HarkdProcess::Context(harkd_, "ingest").get(),
                                request, response);
  }

  grpc::Status Interview(const std::string& prompt_id,
                         hark::v1::RecordInterviewRequest::Status status,
                         const std::string& notes) {
    auto stub = hark::v1::Prompts::NewStub(harkd_.Channel());
    hark::v1::RecordInterviewRequest request;
    request.set_prompt_id(prompt_id);
    request.set_status(status);
    request.set_notes(notes);
    hark::v1::RecordInterviewResponse response;
    return stub->RecordInterview(HarkdProcess::Context(harkd_, "ingest").get(),
                                 request, &response);
  }

  std::vector<hark::v1::Response> List(const hark::v1::ResponseFilter& filter,
                                       const std::string& role = "review") {
    auto stub = hark::v1::Review::NewStub(harkd_.Channel());
    hark::v1::ListResponsesRequest request;
    *request.mutable_filter() = filter;
    hark::v1::ListResponsesResponse response;
    grpc::Status status = stub->ListResponses(
        HarkdProcess::Context(harkd_, role).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.responses().begin(), response.responses().end()};
  }

  hark::v1::Report Report() {
    auto stub = hark::v1::Review::NewStub(harkd_.Channel());
    hark::v1::GetReportRequest request;
    hark::v1::Report report;
    grpc::Status status = stub->GetReport(
        HarkdProcess::Context(harkd_, "research").get(), request, &report);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return report;
  }

  static Answer Choice(const std::string& q, const std::string& id) {
    Answer a;
    a.set_question_id(q);
    a.set_choice(id);
    return a;
  }
  static Answer Text(const std::string& q, const std::string& text) {
    Answer a;
    a.set_question_id(q);
    a.set_text(text);
    return a;
  }
};

TEST_F(ResponsesE2ETest, FullLoopForEachShippedRule) {
  StartWithShippedRules();
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  const std::string onboarding =
      SampledUser("onboarding_abandonment", true, "new");
  Identify("payer", "plan", "pro");
  Send({
      MakeEvent(onboarding, "onboarding_started", now),
      MakeEvent("err", "error", now, {{"code", "E7"}, {"severity", "error"}}),
      MakeEvent("err", "error", now + absl::Seconds(1),
                {{"code", "E7"}, {"severity", "error"}}),
      MakeEvent("err", "error", now + absl::Seconds(2),
                {{"code", "E7"}, {"severity", "error"}}),
      MakeEvent("mover", "plan_changed", now, {{"direction", "upgrade"}}),
      MakeEvent("mover", "plan_changed", now + absl::Seconds(5),
                {{"direction", "downgrade"}}),
      MakeEvent("payer", "subscription_cancelled", now),
  });
  // Moves the watermark past the onboarding deadline (start + 30m).
  Send({MakeEvent("someone", "page_view", now + absl::Minutes(32))});

  struct Case {
    std::string user;
    std::string rule;
    std::vector<Answer> answers;  // empty: an interview
    std::string friction;
    std::string source;
  };
  const std::vector<Case> cases = {
      {onboarding,
       "onboarding_abandonment",
       {Choice("blocker", "unclear_next")},
       "process",
       "choice"},
      {"err",
       "repeated_errors",
       {Choice("impact", "no_impact"),
        Text("task", "Exporting my report, the app keeps crashing")},
       "product",
       "text"},
      {"mover", "downgrade_after_upgrade", {}, "pricing", "text"},
      {"payer",
       "cancellation",
       {Choice("reason", "no_longer_needed")},
       "perception",
       "hypothesis"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rule);
    const Prompt prompt = WaitForPrompt(c.user);
    ASSERT_EQ(prompt.rule_id(), c.rule);
    Shown(prompt.prompt_id());
    if (c.answers.empty()) {
      using S = hark::v1::RecordInterviewRequest;
      ASSERT_TRUE(Interview(prompt.prompt_id(), S::ACCEPTED, "").ok());
      grpc::Status done =
          Interview(prompt.prompt_id(), S::COMPLETED,
                    "The team plan was too expensive for what they use");
      ASSERT_TRUE(done.ok()) << done.error_message();
    } else {
      hark::v1::SubmitResponseResponse submitted;
      grpc::Status status = Submit(prompt.prompt_id(), c.answers, &submitted);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(submitted.friction(), c.friction);
    }
    hark::v1::ResponseFilter filter;
    filter.set_rule_id(c.rule);
    std::vector<hark::v1::Response> listed = List(filter);
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].user_id(), c.user);
    EXPECT_EQ(listed[0].prompt_id(), prompt.prompt_id());
    ASSERT_GE(listed[0].tags_size(), 1);
    EXPECT_EQ(listed[0].tags(0).friction(), c.friction);
    EXPECT_EQ(listed[0].tags(0).source(), c.source);
    EXPECT_EQ(listed[0].match().rule_id(), c.rule);
    EXPECT_GE(listed[0].match().events_size(), 1);
  }

  const hark::v1::Report report = Report();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rule);
    const hark::v1::Report::RuleRow* row = nullptr;
    for (const auto& r : report.rules()) {
      if (r.rule_id() == c.rule) row = &r;
    }
    ASSERT_NE(row, nullptr);
    EXPECT_EQ(row->answered(), 1u);
    EXPECT_EQ(row->shown(), 1u);
    EXPECT_EQ(row->delivered(), 1u);
    EXPECT_EQ(row->friction().at(c.friction), 1u);
    EXPECT_DOUBLE_EQ(row->response_rate(), 1.0);
    EXPECT_EQ(row->responders(), 1u);
  }
  EXPECT_EQ(report.responses(), cases.size());

  // A second answer to the same prompt is refused; the first stays.
  hark::v1::SubmitResponseResponse again;
  const std::vector<hark::v1::Response> cancelled = [&] {
    hark::v1::ResponseFilter f;
    f.set_rule_id("cancellation");
    return List(f, "research");
  }();
  ASSERT_EQ(cancelled.size(), 1u);
  grpc::Status refused = Submit(cancelled[0].prompt_id(),
                                {Choice("reason", "too_expensive")}, &again);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ResponsesE2ETest, TaggingNeedsAReviewKeyAndKeepsHistory) {
  StartWithShippedRules();
  Identify("payer", "plan", "pro");
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  Send({MakeEvent("payer", "subscription_cancelled", now)});
  const Prompt prompt = WaitForPrompt("payer");
  hark::v1::SubmitResponseResponse submitted;
  ASSERT_TRUE(Submit(prompt.prompt_id(), {Choice("reason", "too_expensive")},
                     &submitted)
                  .ok());
  EXPECT_EQ(submitted.friction(), "pricing");

  auto stub = hark::v1::Review::NewStub(harkd_.Channel());
  hark::v1::TagResponseRequest tag;
  tag.set_response_id(submitted.response_id());
  tag.set_friction("perception");
  tag.set_note("Talked to them: they never saw the reports feature");
  hark::v1::Response tagged;
  grpc::Status denied = stub->TagResponse(
      HarkdProcess::Context(harkd_, "research").get(), tag, &tagged);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status status = stub->TagResponse(
      HarkdProcess::Context(harkd_, "review").get(), tag, &tagged);
  ASSERT_TRUE(status.ok()) << status.error_message();

  hark::v1::GetResponseRequest get;
  get.set_response_id(submitted.response_id());
  hark::v1::Response got;
  status = stub->GetResponse(HarkdProcess::Context(harkd_, "research").get(),
                             get, &got);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(got.tags(0).friction(), "perception");
  EXPECT_EQ(got.tags(0).source(), "manual");
  EXPECT_FALSE(got.tags(0).tagged_by().empty());
  ASSERT_EQ(got.tag_history_size(), 2);
  EXPECT_EQ(got.tag_history(0).friction(), "pricing");
  EXPECT_EQ(got.tag_history(1).note(), tag.note());
}

TEST_F(ResponsesE2ETest, ExportStreamsEveryResponse) {
  StartWithShippedRules();
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  std::vector<Event> events;
  for (int i = 0; i < 12; ++i) {
    const std::string user = absl::StrCat("payer", i);
    Identify(user, "plan", "pro");
    events.push_back(MakeEvent(user, "subscription_cancelled", now));
  }
  Send(events);
  for (int i = 0; i < 12; ++i) {
    const Prompt prompt = WaitForPrompt(absl::StrCat("payer", i));
    hark::v1::SubmitResponseResponse submitted;
    ASSERT_TRUE(Submit(prompt.prompt_id(),
                       {Choice("reason", "too_expensive"),
                        Text("win_back", absl::StrCat("\"Cheaper\", please, ",
                                                      i, "\n🙂"))},
                       &submitted)
                    .ok());
  }
  auto stub = hark::v1::Review::NewStub(harkd_.Channel());
  hark::v1::ExportResponsesRequest request;
  request.mutable_filter()->set_friction("pricing");
  auto context = HarkdProcess::Context(harkd_, "research");
  auto reader = stub->ExportResponses(context.get(), request);
  hark::v1::Response r;
  int n = 0;
  while (reader->Read(&r)) {
    ++n;
    EXPECT_EQ(r.tags(0).friction(), "pricing");
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(n, 12);
}

TEST_F(ResponsesE2ETest, DeleteUserRemovesEverythingAndNothingFiresLater) {
  StartWithShippedRules();
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  const std::string gone = SampledUser("onboarding_abandonment", true, "gone");
  const std::string kept = SampledUser("onboarding_abandonment", true, "kept");
  Identify(gone, "plan", "pro");
  Identify(kept, "plan", "pro");
  Send({MakeEvent(gone, "subscription_cancelled", now),
        MakeEvent(kept, "subscription_cancelled", now),
        MakeEvent(gone, "onboarding_started", now),
        MakeEvent(kept, "onboarding_started", now)});
  const Prompt prompt = WaitForPrompt(gone);
  hark::v1::SubmitResponseResponse submitted;
  ASSERT_TRUE(Submit(prompt.prompt_id(), {Choice("reason", "too_expensive")},
                     &submitted)
                  .ok());
  ASSERT_FALSE(WaitForPrompt(kept).prompt_id().empty());

  auto admin = hark::v1::Admin::NewStub(harkd_.Channel());
  hark::v1::DeleteUserRequest request;
  request.set_user_id(gone);
  hark::v1::DeleteUserResponse deleted;
  grpc::Status denied = admin->DeleteUser(
      HarkdProcess::Context(harkd_, "review").get(), request, &deleted);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  grpc::Status status = admin->DeleteUser(
      HarkdProcess::Context(harkd_, "admin").get(), request, &deleted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const auto& rows = deleted.deleted();
  EXPECT_EQ(rows.at("events"), 2u);
  EXPECT_EQ(rows.at("traits"), 1u);
  EXPECT_EQ(rows.at("users"), 1u);
  EXPECT_EQ(rows.at("matches"), 1u);
  EXPECT_EQ(rows.at("decisions"), 1u);
  EXPECT_EQ(rows.at("prompts"), 1u);
  EXPECT_EQ(rows.at("responses"), 1u);
  EXPECT_GE(rows.at("response_tags"), 1u);
  EXPECT_EQ(rows.at("engine_deadlines"), 1u);  // the onboarding deadline
  EXPECT_TRUE(Explain(gone).empty());
  hark::v1::ResponseFilter cancellation;
  cancellation.set_rule_id("cancellation");
  EXPECT_TRUE(List(cancellation).empty());

  // A crash and restart bring nothing back, and the deleted user's
  // abandonment deadline never fires; the other user's does.
  harkd_.Kill9();
  StartWith();
  Send({MakeEvent("someone", "page_view", now + absl::Minutes(32))});
  // The kept user's deadline fires (decided: contact_cap, since the
  // cancellation survey was sent to them already).
  ASSERT_TRUE(WaitFor([&] { return Decisions(kept).size() >= 2; }));
  EXPECT_TRUE(Explain(gone).empty());
  EXPECT_TRUE(GetPrompts(gone).empty());

  // Deleting again finds nothing and says so (a new stub: the restarted
  // harkd listens on a new port).
  admin = hark::v1::Admin::NewStub(harkd_.Channel());
  status = admin->DeleteUser(HarkdProcess::Context(harkd_, "admin").get(),
                             request, &deleted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(deleted.deleted().at("events"), 0u);
}

}  // namespace
}  // namespace hark::testing
