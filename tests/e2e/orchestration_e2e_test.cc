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
#include "tests/e2e/harkd_process.h"

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

class OrchestrationE2ETest : public ::testing::Test {
 protected:
  void StartWith(const std::vector<std::string>& flags = {}) {
    std::vector<std::string> all = {"--max-future=2h", "--allowed-lateness=1m"};
    all.insert(all.end(), flags.begin(), flags.end());
    ASSERT_TRUE(harkd_.Start(all)) << harkd_.error();
  }

  Event MakeEvent(const std::string& user, const std::string& name,
                  absl::Time at,
                  std::vector<std::pair<std::string, std::string>> props = {}) {
    Event e;
    e.set_event_id(absl::StrCat("ev-", name, "-", ++next_id_));
    e.set_user_id(user);
    e.set_name(name);
    e.mutable_timestamp()->set_seconds(absl::ToUnixSeconds(at));
    for (auto& [k, v] : props) {
      (*e.mutable_properties())[k].set_string_value(v);
    }
    return e;
  }

  void Send(const std::vector<Event>& events) {
    grpc::Status status = harkd_.Track(events);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  void Identify(const std::string& user, const std::string& key,
                const std::string& value) {
    grpc::Status status = harkd_.Identify(user, key, value);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  std::vector<Prompt> GetPrompts(const std::string& user, uint32_t limit = 10) {
    auto stub = hark::v1::Prompts::NewStub(harkd_.Channel());
    hark::v1::GetPromptsRequest request;
    request.set_user_id(user);
    request.set_limit(limit);
    hark::v1::GetPromptsResponse response;
    grpc::Status status = stub->GetPrompts(
        HarkdProcess::Context(harkd_, "ingest").get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.prompts().begin(), response.prompts().end()};
  }

  std::vector<hark::v1::TimelineEntry> Explain(const std::string& user) {
    auto stub = hark::v1::Admin::NewStub(harkd_.Channel());
    hark::v1::ExplainRequest request;
    request.set_user_id(user);
    hark::v1::ExplainResponse response;
    grpc::Status status = stub->Explain(
        HarkdProcess::Context(harkd_, "research").get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.entries().begin(), response.entries().end()};
  }

  // The outcomes of the user's decisions, oldest first, by rule.
  std::vector<std::pair<std::string, std::string>> Decisions(
      const std::string& user) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& e : Explain(user)) {
      if (e.kind() != "decision") continue;
      out.emplace_back(e.details().at("rule_id").string_value(),
                       e.details().at("outcome").string_value());
    }
    return out;
  }

  // Polls `done` until it holds, at most ~15 s (the orchestrator works
  // asynchronously after the acknowledgement).
  static bool WaitFor(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(15);
    while (absl::Now() < deadline) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return done();
  }

  std::string RuleVersion(const std::string& rule_id) {
    auto stub = hark::v1::Rules::NewStub(harkd_.Channel());
    hark::v1::GetRulesRequest request;
    hark::v1::GetRulesResponse response;
    grpc::Status status = stub->GetRules(
        HarkdProcess::Context(harkd_, "research").get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const auto& r : response.rules()) {
      if (r.id() == rule_id) return r.version();
    }
    ADD_FAILURE() << "no rule " << rule_id;
    return "";
  }

  // A user whose deterministic draw for the rule is in (or out of) a 0.5
  // sample.
  std::string SampledUser(const std::string& rule_id, bool in,
                          const std::string& prefix) {
    const std::string version = RuleVersion(rule_id);
    for (int i = 0; i < 1000; ++i) {
      std::string user = absl::StrCat(prefix, i);
      if ((policy::SampleDraw(user, rule_id, version) < 0.5) == in) {
        return user;
      }
    }
    ADD_FAILURE() << "no user found";
    return "";
  }

  int next_id_ = 0;
  HarkdProcess harkd_;
};

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
