// End-to-end: matches become decisions and prompts in the real harkd, and
// prompts reach backends through GetPrompts and WatchPrompts.
//
// Orchestration runs on the server's clock: tests use short delays and wait
// for prompts with bounded polling loops (WaitFor), never fixed sleeps.

#include <signal.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "hark/v1/admin.grpc.pb.h"
#include "hark/v1/ingest.grpc.pb.h"
#include "hark/v1/prompts.grpc.pb.h"
#include "hark/v1/rules.grpc.pb.h"
#include "server/policy/policy.h"
#include "tests/e2e/prompts_fixture.h"

namespace hark::testing {
namespace {

using hark::v1::Event;
using hark::v1::Prompt;

// Every rule asks survey s1; each scenario below uses its own event name.
constexpr char kScenarioRules[] = R"(
rules:
  - id: r_cool
    pattern: { match: { event: cool } }
    action: { survey: s1 }
    cooldown: "1d"
  - id: r_later
    pattern: { match: { event: later } }
    action: { survey: s1, delay: "1s" }
  - id: r_quota
    pattern: { match: { event: quota } }
    action: { survey: s1 }
    quota: { max: 1, per: "1d" }
  - id: r_sample
    pattern: { match: { event: sample } }
    action: { survey: s1 }
    sample: 0.5
  - id: r_shadow
    pattern: { match: { event: shadow } }
    action: { survey: s1 }
    mode: shadow
  - id: r_high
    pattern: { match: { event: both } }
    action: { survey: s1 }
    priority: 10
  - id: r_low
    pattern: { match: { event: both } }
    action: { survey: s1 }
    priority: 1
  - id: r_stale
    pattern: { match: { event: stale } }
    action: { survey: s1 }
  - id: r_expired
    pattern: { match: { event: expired } }
    action: { survey: s1, expires: "1h" }
contact_policy: { max_prompts_per_user: 2, per: "7d", max_staleness: "2h" }
surveys:
  - id: s1
    title: "Quick question about {{match.event}}"
    questions:
      - { id: q1, type: rating, text: "How did it go?", required: true }
)";

class OrchestrationE2ETest : public PromptsE2ETest {};

TEST_F(OrchestrationE2ETest, ShippedRulesEachAskOnceWithTheirContext) {
  harkd_.CopyShippedRules();
  StartWith();
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  const std::string gone = SampledUser("onboarding_abandonment", true, "gone");
  const std::string gone_out =
      SampledUser("onboarding_abandonment", false, "skip");
  Identify("pro_user", "plan", "pro");
  Identify("pro_user", "first_name", "Ada");
  Identify("free_user", "plan", "free");
  Send({
      MakeEvent("err_user", "error", now,
                {{"code", "E42"}, {"severity", "error"}}),
      MakeEvent("plan_user", "plan_changed", now, {{"direction", "upgrade"}}),
      MakeEvent(gone, "onboarding_started", now),
      MakeEvent(gone_out, "onboarding_started", now),
      MakeEvent("done_user", "onboarding_started", now),
      MakeEvent("err_user", "error", now + absl::Seconds(10),
                {{"code", "E42"}, {"severity", "error"}}),
      MakeEvent("pro_user", "subscription_cancelled", now + absl::Seconds(10)),
      MakeEvent("free_user", "subscription_cancelled", now + absl::Seconds(10)),
      MakeEvent("warn_user", "error", now + absl::Seconds(10),
                {{"code", "E1"}, {"severity", "warning"}}),
      MakeEvent("err_user", "error", now + absl::Seconds(20),
                {{"code", "E42"}, {"severity", "fatal"}}),
      MakeEvent("plan_user", "plan_changed", now + absl::Seconds(30),
                {{"direction", "downgrade"}}),
      MakeEvent("done_user", "onboarding_completed", now + absl::Minutes(5)),
  });
  // Moves the watermark past the onboarding deadlines (start + 30m).
  Send({MakeEvent("someone", "page_view", now + absl::Minutes(32))});

  // repeated_errors: a survey naming the error code, shown at once.
  std::vector<Prompt> err;
  ASSERT_TRUE(WaitFor([&] { return !(err = GetPrompts("err_user")).empty(); }));
  ASSERT_EQ(err.size(), 1u);
  EXPECT_EQ(err[0].rule_id(), "repeated_errors");
  EXPECT_EQ(err[0].kind(), Prompt::SURVEY);
  EXPECT_EQ(err[0].definition_id(), "error_pulse");
  EXPECT_EQ(err[0].state(), Prompt::DELIVERED);
  std::string texts = err[0].title();
  for (const auto& q : err[0].questions()) texts += q.text();
  EXPECT_TRUE(absl::StrContains(texts, "E42")) << texts;

  // downgrade_after_upgrade: an interview invitation with its own token.
  std::vector<Prompt> plan;
  ASSERT_TRUE(
      WaitFor([&] { return !(plan = GetPrompts("plan_user")).empty(); }));
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].kind(), Prompt::INTERVIEW);
  EXPECT_EQ(plan[0].definition_id(), "pricing_interview");
  EXPECT_FALSE(plan[0].booking_url().empty());
  EXPECT_FALSE(absl::StrContains(plan[0].booking_url(), "{{"));

  // onboarding_abandonment at its deadline, for the sampled-in user.
  std::vector<Prompt> ob;
  ASSERT_TRUE(WaitFor([&] { return !(ob = GetPrompts(gone)).empty(); }));
  ASSERT_EQ(ob.size(), 1u);
  EXPECT_EQ(ob[0].rule_id(), "onboarding_abandonment");
  EXPECT_EQ(ob[0].definition_id(), "onboarding_dropoff");
  ASSERT_TRUE(WaitFor([&] { return !Decisions(gone_out).empty(); }));
  EXPECT_EQ(Decisions(gone_out),
            (std::vector<std::pair<std::string, std::string>>{
                {"onboarding_abandonment", "sampled_out"}}));

  // cancellation: decided and sent now, due only after its 10m delay.
  ASSERT_TRUE(WaitFor([&] { return !Decisions("pro_user").empty(); }));
  EXPECT_EQ(Decisions("pro_user"),
            (std::vector<std::pair<std::string, std::string>>{
                {"cancellation", "sent"}}));
  EXPECT_TRUE(GetPrompts("pro_user").empty()) << "due only after 10m";
  bool due_in_10m = false;
  for (const auto& e : Explain("pro_user")) {
    if (e.kind() == "prompt") {
      due_in_10m = absl::StrContains(e.summary(), "cancel_exit");
      const absl::Time created = absl::FromUnixSeconds(e.at().seconds());
      EXPECT_GE(created, now - absl::Minutes(1));
    }
  }
  EXPECT_TRUE(due_in_10m);

  // Events that must not ask anyone.
  for (const std::string user :
       {"done_user", "free_user", "warn_user", "someone"}) {
    EXPECT_TRUE(Decisions(user).empty()) << user;
    EXPECT_TRUE(GetPrompts(user).empty()) << user;
  }
  // Asking again does not create another prompt.
  EXPECT_EQ(GetPrompts("err_user").size(), 1u);
}

TEST_F(OrchestrationE2ETest, EverySuppressionReasonShowsInExplain) {
  harkd_.WriteFile("rules/t.yaml", kScenarioRules);
  StartWith();
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  const std::string out = SampledUser("r_sample", false, "s");
  Send({
      MakeEvent("stale_user", "stale", now - absl::Hours(3)),
      MakeEvent("exp_user", "expired", now - absl::Minutes(90)),
  });
  // Matches of one user decided together compete by priority, so a
  // scenario that needs an earlier decision waits for it.
  Send({
      MakeEvent("c1", "cool", now),
      MakeEvent("k1", "cool", now),
      MakeEvent("q1", "quota", now),
      MakeEvent(out, "sample", now),
      MakeEvent("sh", "shadow", now),
      MakeEvent("pr", "both", now),
  });
  ASSERT_TRUE(WaitFor([&] { return Decisions("c1").size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Decisions("k1").size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Decisions("q1").size() == 1; }));
  Send({
      MakeEvent("c1", "cool", now + absl::Seconds(1)),
      MakeEvent("k1", "later", now + absl::Seconds(1)),
      MakeEvent("q2", "quota", now + absl::Seconds(1)),
  });
  ASSERT_TRUE(WaitFor([&] { return Decisions("k1").size() == 2; }));
  Send({MakeEvent("k1", "quota", now + absl::Seconds(2))});
  using Outcomes = std::vector<std::pair<std::string, std::string>>;
  auto expect = [&](const std::string& user, const Outcomes& want) {
    ASSERT_TRUE(WaitFor([&] { return Decisions(user).size() >= want.size(); }))
        << user;
    Outcomes got = Decisions(user);
    std::sort(got.begin(), got.end());
    Outcomes sorted = want;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(got, sorted) << user;
  };
  expect("c1", {{"r_cool", "sent"}, {"r_cool", "cooldown"}});
  expect("k1",
         {{"r_cool", "sent"}, {"r_later", "sent"}, {"r_quota", "contact_cap"}});
  expect("q1", {{"r_quota", "sent"}});
  expect("q2", {{"r_quota", "quota"}});
  expect(out, {{"r_sample", "sampled_out"}});
  expect("sh", {{"r_shadow", "shadow"}});
  expect("pr", {{"r_high", "sent"}, {"r_low", "lower_priority"}});
  expect("stale_user", {{"r_stale", "stale"}});
  expect("exp_user", {{"r_expired", "expired"}});
  // A suppressed decision says why, in words.
  for (const auto& e : Explain("q2")) {
    if (e.kind() == "decision") {
      EXPECT_TRUE(absl::StrContains(e.summary(), "quota")) << e.summary();
    }
  }
  // Shadow and suppressed decisions create no prompt.
  EXPECT_TRUE(GetPrompts("sh").empty());
  EXPECT_TRUE(GetPrompts("q2").empty());
  ASSERT_EQ(GetPrompts("pr").size(), 1u);
}

TEST_F(OrchestrationE2ETest, ShownDismissedAndRefusedChanges) {
  harkd_.WriteFile("rules/t.yaml", kScenarioRules);
  StartWith();
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  Send({MakeEvent("a", "cool", now), MakeEvent("b", "cool", now)});
  std::vector<Prompt> a, b;
  ASSERT_TRUE(WaitFor([&] { return !(a = GetPrompts("a")).empty(); }));
  ASSERT_TRUE(WaitFor([&] { return !(b = GetPrompts("b")).empty(); }));
  auto stub = hark::v1::Prompts::NewStub(harkd_.Channel());
  auto record = [&](const std::string& id,
                    hark::v1::RecordPromptEventRequest::Type type,
                    hark::v1::RecordPromptEventResponse* response) {
    hark::v1::RecordPromptEventRequest request;
    request.set_prompt_id(id);
    request.set_type(type);
    return stub->RecordPromptEvent(
        HarkdProcess::Context(harkd_, "ingest").get(), request, response);
  };
  hark::v1::RecordPromptEventResponse r;
  ASSERT_TRUE(
      record(a[0].prompt_id(), hark::v1::RecordPromptEventRequest::SHOWN, &r)
          .ok());
  EXPECT_EQ(r.state(), Prompt::SHOWN);
  // Shown twice is fine; dismissed after shown too.
  ASSERT_TRUE(
      record(a[0].prompt_id(), hark::v1::RecordPromptEventRequest::SHOWN, &r)
          .ok());
  ASSERT_TRUE(record(a[0].prompt_id(),
                     hark::v1::RecordPromptEventRequest::DISMISSED, &r)
                  .ok());
  EXPECT_EQ(r.state(), Prompt::DISMISSED);
  // Shown after dismissed makes no sense.
  grpc::Status refused =
      record(a[0].prompt_id(), hark::v1::RecordPromptEventRequest::SHOWN, &r);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "dismissed"))
      << refused.error_message();
  // Unknown prompts and missing types are named.
  EXPECT_EQ(record("p_nope", hark::v1::RecordPromptEventRequest::SHOWN, &r)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(record(b[0].prompt_id(),
                   hark::v1::RecordPromptEventRequest::TYPE_UNSPECIFIED, &r)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A dismissed prompt is not offered again; a delivered one is.
  EXPECT_TRUE(GetPrompts("a").empty());
  EXPECT_EQ(GetPrompts("b").size(), 1u);
}

TEST_F(OrchestrationE2ETest, WatcherResumesFromItsCursorWithoutLossOrRepeat) {
  harkd_.WriteFile("rules/t.yaml", kScenarioRules);
  StartWith();
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  auto stub = hark::v1::Prompts::NewStub(harkd_.Channel());
  std::string cursor;
  std::string other;
  {
    auto context = HarkdProcess::Context(harkd_, "ingest");
    hark::v1::WatchPromptsRequest request;
    auto reader = stub->WatchPrompts(context.get(), request);
    // The server sends its headers once the stream's start is fixed.
    reader->WaitForInitialMetadata();
    Send({MakeEvent("w1", "cool", now), MakeEvent("w2", "cool", now)});
    Prompt first;
    ASSERT_TRUE(reader->Read(&first));
    ASSERT_TRUE(first.user_id() == "w1" || first.user_id() == "w2");
    other = first.user_id() == "w1" ? "w2" : "w1";
    EXPECT_FALSE(first.cursor().empty());
    cursor = first.cursor();
    context->TryCancel();
    Prompt rest;
    while (reader->Read(&rest)) {
    }
    reader->Finish();
  }
  // More prompts become due while nobody watches; the server restarts.
  Send({MakeEvent("w3", "cool", now + absl::Seconds(1))});
  ASSERT_TRUE(WaitFor([&] { return !Decisions("w3").empty(); }));
  harkd_.Kill9();
  StartWith();
  Send({MakeEvent("w4", "later", now + absl::Seconds(2))});

  // The restarted server listens on a new port.
  stub = hark::v1::Prompts::NewStub(harkd_.Channel());
  auto context = HarkdProcess::Context(harkd_, "ingest");
  hark::v1::WatchPromptsRequest request;
  request.set_after_cursor(cursor);
  auto reader = stub->WatchPrompts(context.get(), request);
  std::vector<std::string> users;
  Prompt p;
  while (users.size() < 3 && reader->Read(&p)) users.push_back(p.user_id());
  // w4's prompt has a 1s delay: it arrives once due, after the others.
  EXPECT_EQ(users, (std::vector<std::string>{other, "w3", "w4"}));
  context->TryCancel();
  while (reader->Read(&p)) ADD_FAILURE() << "unexpected " << p.user_id();
  reader->Finish();

  // A bad cursor is refused with a clear message.
  auto bad_context = HarkdProcess::Context(harkd_, "ingest");
  request.set_after_cursor("nonsense");
  auto bad = stub->WatchPrompts(bad_context.get(), request);
  EXPECT_FALSE(bad->Read(&p));
  grpc::Status status = bad->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "after_cursor"));
}

TEST_F(OrchestrationE2ETest, RestartBeforeDeliveryDeliversOnce) {
  harkd_.WriteFile("rules/t.yaml", kScenarioRules);
  StartWith();
  const absl::Time now =
      absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
  Send({MakeEvent("d1", "later", now)});
  ASSERT_TRUE(WaitFor([&] { return !Decisions("d1").empty(); }));
  harkd_.Kill9();
  StartWith();
  // Replaying the log after the restart finds the match again: still one
  // decision and one prompt, delivered once due.
  std::vector<Prompt> got;
  ASSERT_TRUE(WaitFor([&] { return !(got = GetPrompts("d1")).empty(); }));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(
      Decisions("d1"),
      (std::vector<std::pair<std::string, std::string>>{{"r_later", "sent"}}));
  harkd_.SignalAndWait(SIGTERM);
  StartWith();
  EXPECT_EQ(GetPrompts("d1").size(), 1u);
  EXPECT_EQ(Decisions("d1").size(), 1u);
}

}  // namespace
}  // namespace hark::testing
