#include "clients/hark/rules_format.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

hark::v1::RuleError Error(const std::string& path, int line, int column,
                          const std::string& message,
                          const std::string& hint = "") {
  hark::v1::RuleError e;
  e.set_path(path);
  e.set_line(line);
  e.set_column(column);
  e.set_message(message);
  e.set_hint(hint);
  return e;
}

hark::v1::MatchedEvent* AddEvent(hark::v1::Match* m, const std::string& name,
                                 const std::string& alias = "") {
  hark::v1::MatchedEvent* e = m->add_events();
  e->set_name(name);
  e->set_alias(alias);
  return e;
}

TEST(RulePathTest, JoinsTheFolderAsTyped) {
  EXPECT_EQ(RulePath("rules", "triggers.yaml"), "rules/triggers.yaml");
  EXPECT_EQ(RulePath("rules/", "triggers.yaml"), "rules/triggers.yaml");
  EXPECT_EQ(RulePath("rules//", "a/b.yaml"), "rules/a/b.yaml");
  EXPECT_EQ(RulePath("/tmp/r", "x.yaml"), "/tmp/r/x.yaml");
  EXPECT_EQ(RulePath(".", "x.yaml"), "x.yaml");
  EXPECT_EQ(RulePath("", "x.yaml"), "x.yaml");
  EXPECT_EQ(RulePath("/", "x.yaml"), "/x.yaml");
}

TEST(FormatRuleErrorTest, PositionMessageAndIndentedHint) {
  EXPECT_EQ(FormatRuleError(Error("triggers.yaml", 12, 7, "unknown key 'withn'",
                                  "did you mean 'within'?"),
                            "rules/"),
            "rules/triggers.yaml:12:7: unknown key 'withn'\n"
            "  hint: did you mean 'within'?\n");
}

TEST(FormatRuleErrorTest, NoHintNoHintLine) {
  EXPECT_EQ(FormatRuleError(Error("a.yaml", 3, 1, "bad"), "r"),
            "r/a.yaml:3:1: bad\n");
}

TEST(FormatRuleErrorTest, WholeFileErrorHasNoPosition) {
  EXPECT_EQ(FormatRuleError(Error("a.yaml", 0, 0, "not valid YAML"), "r"),
            "r/a.yaml: not valid YAML\n");
  // A line without a column still names the line.
  EXPECT_EQ(FormatRuleError(Error("a.yaml", 4, 0, "x"), "r"),
            "r/a.yaml:4: x\n");
}

TEST(ErrorSummaryTest, CountsErrorsAndDistinctFiles) {
  std::vector<hark::v1::RuleError> errors = {Error("a.yaml", 1, 1, "x")};
  EXPECT_EQ(ErrorSummary(errors), "1 error in 1 file");
  errors.push_back(Error("a.yaml", 2, 1, "y"));
  errors.push_back(Error("b.yaml", 2, 1, "z"));
  EXPECT_EQ(ErrorSummary(errors), "3 errors in 2 files");
  EXPECT_EQ(FormatRuleErrors(errors, "rules"),
            "rules/a.yaml:1:1: x\n"
            "rules/a.yaml:2:1: y\n"
            "rules/b.yaml:2:1: z\n"
            "3 errors in 2 files\n");
}

TEST(OkSummaryTest, Plurals) {
  EXPECT_EQ(OkSummary(4, 3), "ok: 4 rules in 3 files");
  EXPECT_EQ(OkSummary(1, 1), "ok: 1 rule in 1 file");
  EXPECT_EQ(OkSummary(0, 0), "ok: 0 rules in 0 files");
}

TEST(FormatTestResultsTest, PassAndFailWithExpectedAndActual) {
  std::vector<hark::v1::TestResult> results(2);
  results[0].set_path("triggers.yaml");
  results[0].set_name("abandons_after_30m");
  results[0].set_passed(true);
  results[1].set_path("errors.yaml");
  results[1].set_name("three_errors");
  results[1].add_expected("repeated_errors u1 at=10m");
  results[1].add_expected("repeated_errors u2 at=5m");
  results[1].add_actual("repeated_errors u2 at=5m");
  results[1].add_actual("repeated_errors u1 at=11m");
  EXPECT_EQ(FormatTestResults(results, "rules/"),
            "PASS  rules/triggers.yaml: abandons_after_30m\n"
            "FAIL  rules/errors.yaml: three_errors\n"
            "      expected:\n"
            "        repeated_errors u1 at=10m  (missing)\n"
            "        repeated_errors u2 at=5m\n"
            "      actual:\n"
            "        repeated_errors u2 at=5m\n"
            "        repeated_errors u1 at=11m  (not expected)\n"
            "1 passed, 1 failed\n");
}

TEST(FormatTestResultsTest, EmptySidesAndDuplicates) {
  std::vector<hark::v1::TestResult> results(1);
  results[0].set_path("a.yaml");
  results[0].set_name("t");
  // Expected once, happened twice: the second one is the surprise.
  results[0].add_actual("r u1 at=1m");
  results[0].add_actual("r u1 at=1m");
  results[0].add_expected("r u1 at=1m");
  EXPECT_EQ(FormatTestResults(results, "."),
            "FAIL  a.yaml: t\n"
            "      expected:\n"
            "        r u1 at=1m\n"
            "      actual:\n"
            "        r u1 at=1m\n"
            "        r u1 at=1m  (not expected)\n"
            "0 passed, 1 failed\n");
  results[0].clear_actual();
  EXPECT_THAT(FormatTestResults(results, "."),
              HasSubstr("      actual:\n        (none)\n"));
}

TEST(FormatTestResultsTest, NoTests) {
  EXPECT_EQ(FormatTestResults({}, "rules"),
            "0 passed, 0 failed (no tests: blocks found)\n");
}

TEST(FormatTimeSecondsTest, UtcWithoutFraction) {
  google::protobuf::Timestamp t;
  t.set_seconds(1793525400);  // 2026-11-01T09:30:00Z
  t.set_nanos(250000000);
  EXPECT_EQ(FormatTimeSeconds(t), "2026-11-01T09:30:00Z");
}

TEST(SummarizeMatchedEventsTest, CountsRunsOfTheSameEvent) {
  hark::v1::Match m;
  EXPECT_EQ(SummarizeMatchedEvents(m), "-");
  AddEvent(&m, "error");
  EXPECT_EQ(SummarizeMatchedEvents(m), "error");
  AddEvent(&m, "error");
  AddEvent(&m, "error");
  EXPECT_EQ(SummarizeMatchedEvents(m), "error×3");
}

TEST(SummarizeMatchedEventsTest, SequenceStepsWithAliases) {
  hark::v1::Match m;
  AddEvent(&m, "plan_changed", "up");
  AddEvent(&m, "plan_changed", "down");
  EXPECT_EQ(SummarizeMatchedEvents(m), "plan_changed(up) → plan_changed(down)");

  hark::v1::Match absence;
  AddEvent(&absence, "onboarding_started", "start");
  EXPECT_EQ(SummarizeMatchedEvents(absence), "onboarding_started(start)");

  hark::v1::Match mixed;
  AddEvent(&mixed, "error");
  AddEvent(&mixed, "error");
  AddEvent(&mixed, "page_view");
  AddEvent(&mixed, "");
  EXPECT_EQ(SummarizeMatchedEvents(mixed), "error×2 → page_view → ?");
}

TEST(DisplayWidthTest, CountsCodePoints) {
  EXPECT_EQ(DisplayWidth("abc"), 3u);
  EXPECT_EQ(DisplayWidth("error×3"), 7u);
  EXPECT_EQ(DisplayWidth("a → b"), 5u);
}

TEST(FormatMatchTableTest, AlignedColumnsNewestFirstAsGiven) {
  std::vector<hark::v1::Match> matches(2);
  matches[0].set_user_id("u-7");
  matches[0].set_rule_id("repeated_errors");
  matches[0].set_group_key("E4012");
  matches[0].mutable_matched_at()->set_seconds(1793525400);
  AddEvent(&matches[0], "error");
  AddEvent(&matches[0], "error");
  AddEvent(&matches[0], "error");
  matches[1].set_user_id("u-3×");  // multi-byte: columns stay aligned
  matches[1].set_rule_id("downgrade_after_upgrade");
  AddEvent(&matches[1], "plan_changed", "up");
  AddEvent(&matches[1], "plan_changed", "down");
  EXPECT_EQ(FormatMatchTable(matches),
            "TIME                  USER  RULE                     GROUP  "
            "EVENTS\n"
            "2026-11-01T09:30:00Z  u-7   repeated_errors          E4012  "
            "error×3\n"
            "-                     u-3×  downgrade_after_upgrade  -      "
            "plan_changed(up) → plan_changed(down)\n");
  EXPECT_EQ(FormatMatchTable({}), "no matches\n");
}

TEST(FormatRuleListTest, HeaderAndTable) {
  hark::v1::GetRulesResponse r;
  r.mutable_loaded_at()->set_seconds(1793525400);
  r.set_source("ApplyRules");
  hark::v1::RuleInfo* a = r.add_rules();
  a->set_id("repeated_errors");
  a->set_pattern_kind("count");
  a->set_version("0123456789abcdef");
  a->set_friction_hypothesis("product");
  a->set_path("triggers.yaml");
  hark::v1::RuleInfo* b = r.add_rules();
  b->set_id("x");
  b->set_pattern_kind("match");
  b->set_version("fedcba9876543210");
  b->set_path("more/x.yaml");
  EXPECT_EQ(
      FormatRuleList(r),
      "2 rules, loaded at 2026-11-01T09:30:00Z from ApplyRules\n"
      "\n"
      "ID               KIND   VERSION           FRICTION  FILE\n"
      "repeated_errors  count  0123456789abcdef  product   "
      "triggers.yaml\n"
      "x                match  fedcba9876543210  -         more/x.yaml\n");
  EXPECT_EQ(FormatRuleList(hark::v1::GetRulesResponse()), "0 rules\n");
}

TEST(FormatApplyResultTest, GroupsWithNotesEmptyOnesLeftOut) {
  hark::v1::ApplyRulesResponse r;
  r.set_applied(true);
  r.add_added("cancellation");
  r.add_kept("onboarding_abandonment");
  r.add_kept("repeated_errors");
  r.add_dropped("old_rule");
  EXPECT_EQ(FormatApplyResult(r, "rules/"),
            "applied 3 rules from rules/\n"
            "  added    cancellation\n"
            "  kept     onboarding_abandonment, repeated_errors  (unchanged: "
            "state kept)\n"
            "  dropped  old_rule  (no longer in the set: state gone)\n");
  EXPECT_THAT(FormatApplyResult(r, "rules/"), Not(HasSubstr("reset")));
}

}  // namespace
}  // namespace hark::cli
