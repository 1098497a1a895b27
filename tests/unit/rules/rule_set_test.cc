#include "server/rules/rule_set.h"

#include <string>
#include <utility>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::rules {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

absl::Duration Dur(absl::string_view text) {
  absl::Duration d;
  EXPECT_TRUE(ParseRuleDuration(text, &d)) << text;
  return d;
}

TEST(ParseRuleDurationTest, AcceptsUnitsAndCombinations) {
  EXPECT_EQ(Dur("0s"), absl::ZeroDuration());
  EXPECT_EQ(Dur("30s"), absl::Seconds(30));
  EXPECT_EQ(Dur("10m"), absl::Minutes(10));
  EXPECT_EQ(Dur("2h"), absl::Hours(2));
  EXPECT_EQ(Dur("14d"), absl::Hours(14 * 24));
  EXPECT_EQ(Dur("1h30m"), absl::Minutes(90));
  EXPECT_EQ(Dur("1d2h3m4s"),
            absl::Hours(26) + absl::Minutes(3) + absl::Seconds(4));
  EXPECT_EQ(Dur("90m"), absl::Minutes(90));
}

TEST(ParseRuleDurationTest, RejectsEverythingElse) {
  absl::Duration d = absl::Seconds(7);
  for (absl::string_view bad :
       {"", "30", "m", "10x", "1.5h", "-1m", "30m1h", "1h1h", " 1h", "1h ",
        "1 h", "10M", "1w", "1000000000s", "h1", "1hm"}) {
    EXPECT_FALSE(ParseRuleDuration(bad, &d)) << bad;
  }
  EXPECT_EQ(d, absl::Seconds(7));  // untouched on failure
}

Rule MatchRule(std::string id, std::string event) {
  Rule rule;
  rule.id = std::move(id);
  MatchPattern match;
  match.filter.event = std::move(event);
  rule.pattern = match;
  return rule;
}

Rule CountRule(std::string id) {
  Rule rule;
  rule.id = std::move(id);
  CountPattern count;
  count.filter.event = "error";
  count.group_by = {"code"};
  count.at_least = 3;
  count.within = absl::Minutes(10);
  rule.pattern = count;
  return rule;
}

Rule SequenceRule(std::string id) {
  Rule rule;
  rule.id = std::move(id);
  SequencePattern seq;
  seq.steps.push_back({"start", {"onboarding_started", nullptr}});
  seq.absent = EventFilter{"onboarding_completed", nullptr};
  seq.within = absl::Minutes(30);
  rule.pattern = seq;
  return rule;
}

TEST(RuleSetBuilderTest, IndexesRulesByIdAndEvent) {
  RuleSetBuilder builder;
  builder.AddRule(MatchRule("a", "error"))
      .AddRule(CountRule("b"))
      .AddRule(SequenceRule("c"));
  auto set = builder.Build();
  ASSERT_TRUE(set.ok()) << set.status();
  const RuleSet& rules = **set;
  ASSERT_EQ(rules.rules().size(), 3u);
  ASSERT_NE(rules.Find("b"), nullptr);
  EXPECT_EQ(rules.Find("b")->id, "b");
  EXPECT_EQ(rules.Find("zzz"), nullptr);
  EXPECT_THAT(rules.RulesForEvent("error"), ElementsAre(0, 1));
  EXPECT_THAT(rules.RulesForEvent("onboarding_started"), ElementsAre(2));
  EXPECT_THAT(rules.RulesForEvent("onboarding_completed"), ElementsAre(2));
  EXPECT_THAT(rules.RulesForEvent("page_view"), IsEmpty());
  EXPECT_EQ(rules.max_within(), absl::Minutes(30));
  EXPECT_EQ(rules.rules()[0].kind(), "match");
  EXPECT_EQ(rules.rules()[1].kind(), "count");
  EXPECT_EQ(rules.rules()[2].kind(), "sequence");
  for (const Rule& rule : rules.rules()) {
    EXPECT_EQ(rule.version.size(), 16u);
    EXPECT_EQ(rule.version, PatternVersion(rule.pattern));
  }
}

TEST(RuleSetBuilderTest, SameEventInTwoStepsIsIndexedOnce) {
  Rule rule;
  rule.id = "d";
  SequencePattern seq;
  seq.steps.push_back({"up", {"plan_changed", nullptr}});
  seq.steps.push_back({"down", {"plan_changed", nullptr}});
  seq.within = absl::Hours(24 * 14);
  rule.pattern = seq;
  auto set = RuleSetBuilder().AddRule(rule).Build();
  ASSERT_TRUE(set.ok());
  EXPECT_THAT((*set)->RulesForEvent("plan_changed"), ElementsAre(0));
}

TEST(RuleSetBuilderTest, RefusesDuplicateIdsAndBrokenRules) {
  auto dup = RuleSetBuilder()
                 .AddRule(MatchRule("a", "x"))
                 .AddRule(MatchRule("a", "y"))
                 .Build();
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(dup.status().message(), HasSubstr("duplicate rule id"));

  Rule zero = CountRule("z");
  std::get<CountPattern>(zero.pattern).at_least = 0;
  EXPECT_FALSE(RuleSetBuilder().AddRule(zero).Build().ok());
  Rule no_window = SequenceRule("w");
  std::get<SequencePattern>(no_window.pattern).within = absl::ZeroDuration();
  EXPECT_FALSE(RuleSetBuilder().AddRule(no_window).Build().ok());
  Rule no_steps = SequenceRule("s");
  std::get<SequencePattern>(no_steps.pattern).steps.clear();
  EXPECT_FALSE(RuleSetBuilder().AddRule(no_steps).Build().ok());
  EXPECT_FALSE(RuleSetBuilder().AddRule(MatchRule("e", "")).Build().ok());
}

TEST(PatternVersionTest, DependsOnThePatternOnly) {
  Rule a = CountRule("a");
  Rule b = CountRule("b");
  b.action = Action{Action::Kind::kInterview, "x", absl::Minutes(1), {}};
  b.cooldown = absl::Hours(1);
  b.sample = 0.5;
  b.description = "different";
  EXPECT_EQ(PatternVersion(a.pattern), PatternVersion(b.pattern));
  // A known value: versions are compared with those of earlier runs and
  // builds (reload, restart), so the hash must never be seeded or change.
  EXPECT_EQ(PatternVersion(a.pattern), "00a9f618afe8200a");

  auto changed = [&](auto mutate) {
    Rule c = CountRule("c");
    mutate(std::get<CountPattern>(c.pattern));
    return PatternVersion(c.pattern) != PatternVersion(a.pattern);
  };
  EXPECT_TRUE(changed([](CountPattern& p) { p.at_least = 4; }));
  EXPECT_TRUE(changed([](CountPattern& p) { p.within = absl::Minutes(11); }));
  EXPECT_TRUE(changed([](CountPattern& p) { p.group_by.clear(); }));
  EXPECT_TRUE(changed([](CountPattern& p) { p.filter.event = "err"; }));

  // Kinds with the same fields differ.
  Rule m = MatchRule("m", "error");
  Rule s = SequenceRule("s");
  EXPECT_NE(PatternVersion(m.pattern), PatternVersion(s.pattern));
  Rule s2 = SequenceRule("s");
  std::get<SequencePattern>(s2.pattern).steps[0].alias = "begin";
  EXPECT_NE(PatternVersion(s.pattern), PatternVersion(s2.pattern));
  Rule s3 = SequenceRule("s");
  std::get<SequencePattern>(s3.pattern).absent.reset();
  EXPECT_NE(PatternVersion(s.pattern), PatternVersion(s3.pattern));
}

TEST(LoadErrorTest, ToStringHasPositionAndHint) {
  LoadError e{"triggers.yaml", 3, 7, "unknown key `whithin`",
              "did you mean `within`?"};
  EXPECT_EQ(e.ToString(),
            "triggers.yaml:3:7: unknown key `whithin` (hint: did you mean "
            "`within`?)");
  LoadError whole{"x.yaml", 0, 0, "cannot read", ""};
  EXPECT_EQ(whole.ToString(), "x.yaml: cannot read");
}

}  // namespace
}  // namespace hark::rules
