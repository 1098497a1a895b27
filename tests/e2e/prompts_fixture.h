#ifndef HARK_TESTS_E2E_PROMPTS_FIXTURE_H_
#define HARK_TESTS_E2E_PROMPTS_FIXTURE_H_

// A test fixture for end-to-end tests of what follows a match: starts
// harkd, sends events and traits, reads prompts, timelines and decisions.
// Orchestration runs on the server's clock: tests use short delays and wait
// with bounded polling loops (WaitFor), never fixed sleeps.

#include <functional>
#include <string>
#include <utility>
#include <vector>

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

class PromptsE2ETest : public ::testing::Test {
 protected:
  using Event = hark::v1::Event;
  using Prompt = hark::v1::Prompt;

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

}  // namespace hark::testing

#endif  // HARK_TESTS_E2E_PROMPTS_FIXTURE_H_
