// End-to-end: trigger rules evaluated by the real harkd over gRPC.
//
// Absence deadlines are driven by event time, not by waiting: harkd runs
// with --max-future=2h so a later event of another user can move the
// watermark past a deadline deterministically.

#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "hark/v1/ingest.grpc.pb.h"
#include "hark/v1/rules.grpc.pb.h"
#include "tests/e2e/harkd_process.h"

namespace hark::testing {
namespace {

using hark::v1::Event;

class RulesE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
    harkd_.CopyShippedRules();
  }

  void StartHarkd() {
    ASSERT_TRUE(harkd_.Start({"--max-future=2h", "--allowed-lateness=1m"}))
        << harkd_.error();
  }

  // An event `offset` after the test's base time.
  Event MakeEvent(const std::string& user, const std::string& name,
                  absl::Duration offset,
                  std::vector<std::pair<std::string, std::string>> props = {}) {
    Event e;
    e.set_event_id(absl::StrCat("ev", ++next_id_));
    e.set_user_id(user);
    e.set_name(name);
    e.mutable_timestamp()->set_seconds(absl::ToUnixSeconds(base_ + offset));
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

  std::vector<hark::v1::Match> Matches(const std::string& rule = "",
                                       const std::string& user = "") {
    auto stub = hark::v1::Rules::NewStub(harkd_.Channel());
    hark::v1::ListMatchesRequest request;
    request.set_rule_id(rule);
    request.set_user_id(user);
    request.set_page_size(1000);
    hark::v1::ListMatchesResponse response;
    grpc::Status status = stub->ListMatches(
        HarkdProcess::Context(harkd_, "research").get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.matches().begin(), response.matches().end()};
  }

  hark::v1::ApplyRulesResponse Apply(const std::string& path,
                                     const std::string& content) {
    auto stub = hark::v1::Rules::NewStub(harkd_.Channel());
    hark::v1::ApplyRulesRequest request;
    hark::v1::RuleFile* file = request.add_files();
    file->set_path(path);
    file->set_content(content);
    hark::v1::ApplyRulesResponse response;
    grpc::Status status = stub->ApplyRules(
        HarkdProcess::Context(harkd_, "research").get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  absl::Time base_;
  int next_id_ = 0;
  HarkdProcess harkd_;
};

TEST_F(RulesE2ETest, ShippedRulesFireWithContext) {
  StartHarkd();
  Identify("pro_user", "plan", "pro");
  Identify("free_user", "plan", "free");
  // In event-time order: the watermark is shared by all users, so an event
  // more than --allowed-lateness older than the newest one would be late.
  Send({
      MakeEvent("err_user", "error", absl::Minutes(1),
                {{"code", "E42"}, {"severity", "error"}}),
      MakeEvent("plan_user", "plan_changed", absl::Minutes(1),
                {{"direction", "upgrade"}}),
      MakeEvent("done_user", "onboarding_started", absl::Minutes(1)),
      MakeEvent("gone_user", "onboarding_started", absl::Minutes(1)),
      MakeEvent("err_user", "error", absl::Minutes(2),
                {{"code", "E7"}, {"severity", "error"}}),
      MakeEvent("pro_user", "subscription_cancelled", absl::Minutes(2)),
      MakeEvent("free_user", "subscription_cancelled", absl::Minutes(2)),
      MakeEvent("err_user", "error", absl::Minutes(3),
                {{"code", "E42"}, {"severity", "fatal"}}),
      MakeEvent("err_user", "error", absl::Minutes(4),
                {{"code", "E7"}, {"severity", "error"}}),
      MakeEvent("err_user", "error", absl::Minutes(5),
                {{"code", "E42"}, {"severity", "error"}}),
      MakeEvent("plan_user", "plan_changed", absl::Minutes(6),
                {{"direction", "downgrade"}}),
      MakeEvent("done_user", "onboarding_completed", absl::Minutes(9)),
  });
  // Moves the watermark past gone_user's deadline (start + 30m).
  Send({MakeEvent("someone", "page_view", absl::Minutes(33))});

  auto errors = Matches("repeated_errors");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].user_id(), "err_user");
  EXPECT_EQ(errors[0].group_key(), "E42");
  ASSERT_EQ(errors[0].events_size(), 3);
  EXPECT_EQ(errors[0].events(2).properties().at("code").string_value(), "E42");
  EXPECT_EQ(errors[0].matched_at().seconds(),
            absl::ToUnixSeconds(base_ + absl::Minutes(5)));

  auto plans = Matches("downgrade_after_upgrade");
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].user_id(), "plan_user");
  ASSERT_EQ(plans[0].events_size(), 2);
  EXPECT_EQ(plans[0].events(0).alias(), "up");
  EXPECT_EQ(plans[0].events(1).alias(), "down");
  EXPECT_FALSE(plans[0].rule_version().empty());

  auto cancels = Matches("cancellation");
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].user_id(), "pro_user");
  EXPECT_EQ(cancels[0].traits().at("plan").string_value(), "pro");

  auto abandoned = Matches("onboarding_abandonment");
  ASSERT_EQ(abandoned.size(), 1u);
  EXPECT_EQ(abandoned[0].user_id(), "gone_user");
  EXPECT_EQ(abandoned[0].matched_at().seconds(),
            absl::ToUnixSeconds(base_ + absl::Minutes(31)));
  EXPECT_EQ(Matches("", "done_user").size(), 0u);
}

TEST_F(RulesE2ETest, PartialMatchSurvivesKill9) {
  StartHarkd();
  Send({MakeEvent("u1", "error", absl::Minutes(1),
                  {{"code", "E1"}, {"severity", "error"}}),
        MakeEvent("u1", "error", absl::Minutes(2),
                  {{"code", "E1"}, {"severity", "error"}})});
  harkd_.Kill9();
  StartHarkd();
  Send({MakeEvent("u1", "error", absl::Minutes(3),
                  {{"code", "E1"}, {"severity", "error"}})});
  EXPECT_EQ(Matches("repeated_errors", "u1").size(), 1u);
}

TEST_F(RulesE2ETest, DeadlineAfterRestartFiresExactlyOnce) {
  StartHarkd();
  Send({MakeEvent("u1", "onboarding_started", absl::Minutes(0))});
  harkd_.Kill9();
  StartHarkd();
  // The deadline (30m) passes in event time after the restart.
  Send({MakeEvent("other", "page_view", absl::Minutes(40))});
  EXPECT_EQ(Matches("onboarding_abandonment", "u1").size(), 1u);
  // Neither a clean restart nor a crash fires it again.
  ASSERT_EQ(harkd_.SignalAndWait(SIGTERM), 0);
  StartHarkd();
  Send({MakeEvent("other", "page_view", absl::Minutes(41))});
  harkd_.Kill9();
  StartHarkd();
  Send({MakeEvent("other", "page_view", absl::Minutes(42))});
  EXPECT_EQ(Matches("onboarding_abandonment", "u1").size(), 1u);
}

constexpr char kTwoRules[] = R"(rules:
  - id: repeated_errors
    pattern:
      count: { event: error, group_by: [props.code], at_least: 3, within: "%s" }
  - id: cancellation
    pattern: { match: { event: subscription_cancelled } }
)";

std::string TwoRules(const std::string& within) {
  std::string out = kTwoRules;
  out.replace(out.find("%s"), 2, within);
  return out;
}

TEST_F(RulesE2ETest, ReloadKeepsResetsAndDropsState) {
  StartHarkd();
  // Event times keep increasing across the test (see above: lateness).
  absl::Duration at = absl::ZeroDuration();
  auto error = [&](const std::string& user) {
    at += absl::Seconds(10);
    Send({MakeEvent(user, "error", at, {{"code", "A"}})});
  };
  error("kept");
  error("kept");
  auto applied = Apply("triggers.yaml", TwoRules("10m"));
  ASSERT_TRUE(applied.applied());
  // Only repeated_errors and cancellation remain, and the shipped ones have
  // a `where`: their patterns (and versions) differ, so they are reset.
  EXPECT_EQ(applied.reset_size(), 2);
  EXPECT_EQ(applied.kept_size(), 0);
  EXPECT_EQ(applied.dropped_size(), 2);
  error("kept");
  EXPECT_EQ(Matches("repeated_errors", "kept").size(), 0u);

  error("same");
  error("same");
  applied = Apply("triggers.yaml", TwoRules("10m"));
  ASSERT_TRUE(applied.applied());
  ASSERT_EQ(applied.kept_size(), 2);
  error("same");
  EXPECT_EQ(Matches("repeated_errors", "same").size(), 1u);

  error("changed");
  error("changed");
  applied = Apply("triggers.yaml", TwoRules("11m"));
  ASSERT_TRUE(applied.applied());
  ASSERT_EQ(applied.reset_size(), 1);
  EXPECT_EQ(applied.reset(0), "repeated_errors");
  error("changed");
  EXPECT_EQ(Matches("repeated_errors", "changed").size(), 0u);
}

TEST_F(RulesE2ETest, BadReloadKeepsServingTheOldSet) {
  StartHarkd();
  auto refused = Apply("bad.yaml", "rules:\n  - id: x\n    patern: {}\n");
  EXPECT_FALSE(refused.applied());
  ASSERT_GT(refused.errors_size(), 0);
  EXPECT_EQ(refused.errors(0).path(), "bad.yaml");
  EXPECT_EQ(refused.errors(0).line(), 3u);

  auto stub = hark::v1::Rules::NewStub(harkd_.Channel());
  hark::v1::GetRulesResponse rules;
  ASSERT_TRUE(stub->GetRules(HarkdProcess::Context(harkd_, "research").get(),
                             {}, &rules)
                  .ok());
  EXPECT_EQ(rules.rules_size(), 4);
  Identify("p", "plan", "pro");
  Send({MakeEvent("p", "subscription_cancelled", absl::Minutes(1))});
  EXPECT_EQ(Matches("cancellation", "p").size(), 1u);
}

}  // namespace
}  // namespace hark::testing
