// LoadRuleSet and ReadRuleDir: valid files of each kind, every error class
// with its exact position, versions across loads, the shipped rules folder.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/rules/rule_set.h"

namespace hark::rules {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Loads one file (a.yaml) or several; returns the errors as
// "path:line:col: message (hint: ...)" lines.
std::vector<std::string> Errors(std::vector<SourceFile> files) {
  std::vector<LoadError> errors;
  absl::StatusOr<std::shared_ptr<const RuleSet>> set =
      LoadRuleSet(files, &errors);
  EXPECT_EQ(set.ok(), errors.empty());
  if (!set.ok()) {
    EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  }
  std::vector<std::string> out;
  for (const LoadError& e : errors) {
    EXPECT_FALSE(e.message.empty());
    EXPECT_FALSE(e.hint.empty()) << e.ToString();
    out.push_back(e.ToString());
  }
  return out;
}
std::vector<std::string> Errors(absl::string_view yaml) {
  return Errors({{"a.yaml", std::string(yaml)}});
}

std::shared_ptr<const RuleSet> LoadOk(std::vector<SourceFile> files) {
  std::vector<LoadError> errors;
  absl::StatusOr<std::shared_ptr<const RuleSet>> set =
      LoadRuleSet(files, &errors);
  std::vector<std::string> lines;
  for (const LoadError& e : errors) lines.push_back(e.ToString());
  EXPECT_TRUE(set.ok()) << absl::StrJoin(lines, "\n");
  return set.ok() ? *set : nullptr;
}
std::shared_ptr<const RuleSet> LoadOk(absl::string_view yaml) {
  return LoadOk({{"a.yaml", std::string(yaml)}});
}

// A file defining a one-question survey and an interview, for rules whose
// actions name them.
SourceFile Targets(absl::string_view survey, absl::string_view interview) {
  return {"targets.yaml",
          absl::StrCat("surveys:\n  - id: ", survey,
                       "\n    title: Hi\n    questions: [ { id: q, type: "
                       "text, text: Why } ]\n",
                       "interviews:\n  - id: ", interview,
                       "\n    invitation: Talk?\n    booking_url: "
                       "https://example.com/b\n    duration: 30m\n")};
}

// ---------------------------------------------------------------------------
// Valid files.

TEST(LoaderTest, EmptyFilesMakeAnEmptySet) {
  auto set = LoadOk({{"a.yaml", ""},
                     {"b.yaml", "# nothing\n"},
                     {"c.yaml", "rules: []\ntests:\n"}});
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(set->rules(), IsEmpty());
  EXPECT_THAT(set->tests(), IsEmpty());
  EXPECT_EQ(set->max_within(), absl::ZeroDuration());
}

TEST(LoaderTest, MatchRuleWithEveryRuleKey) {
  auto set = LoadOk({{"a.yaml", R"(rules:
  - id: cancellation
    description: A paying user cancelled.
    friction_hypothesis: perception
    pattern: { match: { event: subscription_cancelled, where: 'user.plan != "free"' } }
    action: { survey: cancel_exit, delay: "10m", expires: "1d" }
    cooldown: "30d"
    sample: 0.25
    priority: -3
    mode: shadow
    quota: { max: 100, per: "1d" }
)"},
                     Targets("cancel_exit", "unused")});
  ASSERT_NE(set, nullptr);
  ASSERT_THAT(set->rules(), SizeIs(1));
  const Rule& r = set->rules()[0];
  EXPECT_EQ(r.id, "cancellation");
  EXPECT_EQ(r.pos.path, "a.yaml");
  EXPECT_EQ(r.pos.line, 2);
  EXPECT_EQ(r.pos.column, 5);
  EXPECT_EQ(r.description, "A paying user cancelled.");
  EXPECT_EQ(r.friction_hypothesis, "perception");
  EXPECT_EQ(r.kind(), "match");
  const auto& m = std::get<MatchPattern>(r.pattern);
  EXPECT_EQ(m.filter.event, "subscription_cancelled");
  ASSERT_NE(m.filter.where, nullptr);
  EXPECT_EQ(m.filter.where->text(), "user.plan != \"free\"");
  EXPECT_THAT(m.filter.where->refs().traits, ElementsAre("plan"));
  ASSERT_TRUE(r.action.has_value());
  EXPECT_EQ(r.action->kind, Action::Kind::kSurvey);
  EXPECT_EQ(r.action->target, "cancel_exit");
  EXPECT_EQ(r.action->delay, absl::Minutes(10));
  EXPECT_EQ(r.action->expires, absl::Hours(24));
  EXPECT_EQ(r.cooldown, absl::Hours(24 * 30));
  EXPECT_EQ(r.sample, 0.25);
  EXPECT_EQ(r.priority, -3);
  EXPECT_TRUE(r.shadow);
  ASSERT_TRUE(r.quota.has_value());
  EXPECT_EQ(r.quota->max, 100);
  EXPECT_EQ(r.quota->per, absl::Hours(24));
  EXPECT_EQ(r.version.size(), 16u);
  EXPECT_THAT(set->RulesForEvent("subscription_cancelled"), ElementsAre(0));
}

TEST(LoaderTest, DefaultsOfOptionalKeys) {
  auto set = LoadOk(R"(rules:
  - id: m
    pattern:
      match:
        event: x
)");
  ASSERT_NE(set, nullptr);
  const Rule& r = set->rules()[0];
  EXPECT_EQ(r.friction_hypothesis, "");
  EXPECT_EQ(r.description, "");
  EXPECT_FALSE(r.action.has_value());
  EXPECT_FALSE(r.cooldown.has_value());
  EXPECT_EQ(r.sample, 1.0);
  EXPECT_EQ(r.priority, 0);
  EXPECT_FALSE(r.shadow);
  EXPECT_FALSE(r.quota.has_value());
  EXPECT_EQ(std::get<MatchPattern>(r.pattern).filter.where, nullptr);
}

TEST(LoaderTest, CountRule) {
  auto set = LoadOk({{"a.yaml", R"(rules:
  - id: repeated_errors
    pattern:
      count:
        event: error
        where: props.severity in ["error", "fatal"]
        group_by: [props.code, 'props["app-id"]']
        at_least: 3
        within: 10m
    action: { interview: error_interview }
)"},
                     Targets("unused", "error_interview")});
  ASSERT_NE(set, nullptr);
  const Rule& r = set->rules()[0];
  EXPECT_EQ(r.kind(), "count");
  const auto& c = std::get<CountPattern>(r.pattern);
  EXPECT_EQ(c.filter.event, "error");
  EXPECT_THAT(c.group_by, ElementsAre("code", "app-id"));
  EXPECT_EQ(c.at_least, 3);
  EXPECT_EQ(c.within, absl::Minutes(10));
  EXPECT_EQ(r.action->kind, Action::Kind::kInterview);
  EXPECT_EQ(r.action->target, "error_interview");
  EXPECT_EQ(r.action->delay, absl::ZeroDuration());
  EXPECT_FALSE(r.action->expires.has_value());
  EXPECT_EQ(set->max_within(), absl::Minutes(10));
}

TEST(LoaderTest, SequenceRuleWithCrossStepConditionsAndAbsent) {
  auto set = LoadOk(R"(rules:
  - id: s
    pattern:
      sequence:
        steps:
          - { as: up, event: plan_changed, where: 'props.direction == "upgrade"' }
          - event: page_view
          - as: down
            event: plan_changed
            where: props.direction == "downgrade" && props.plan != up.props.plan
        absent: { event: support_ticket, where: 'props.plan == down.props.plan' }
        within: 1d12h
)");
  ASSERT_NE(set, nullptr);
  const Rule& r = set->rules()[0];
  EXPECT_EQ(r.kind(), "sequence");
  const auto& s = std::get<SequencePattern>(r.pattern);
  ASSERT_THAT(s.steps, SizeIs(3));
  EXPECT_EQ(s.steps[0].alias, "up");
  EXPECT_EQ(s.steps[1].alias, "");
  EXPECT_EQ(s.steps[1].filter.event, "page_view");
  EXPECT_EQ(s.steps[1].filter.where, nullptr);
  EXPECT_EQ(s.steps[2].alias, "down");
  ASSERT_NE(s.steps[2].filter.where, nullptr);
  EXPECT_THAT(s.steps[2].filter.where->refs().step_props,
              ElementsAre(ExprRefs::StepProp{0, "plan"}));
  ASSERT_TRUE(s.absent.has_value());
  EXPECT_EQ(s.absent->event, "support_ticket");
  EXPECT_THAT(s.absent->where->refs().step_props,
              ElementsAre(ExprRefs::StepProp{2, "plan"}));
  EXPECT_EQ(s.within, absl::Hours(36));
  EXPECT_THAT(set->RulesForEvent("plan_changed"), ElementsAre(0));
  EXPECT_THAT(set->RulesForEvent("page_view"), ElementsAre(0));
  EXPECT_THAT(set->RulesForEvent("support_ticket"), ElementsAre(0));
}

TEST(LoaderTest, ContactPolicyAndTests) {
  auto set = LoadOk({{"a.yaml", R"(rules:
  - id: m
    pattern: { match: { event: x } }
contact_policy:
  max_prompts_per_user: 2
  per: 7d
  max_interviews_per_user: 1
  interviews_per: 30d
  quiet_hours: "22:00-08:00"
  timezone_trait: tz
  max_staleness: 30m
  priority_window: 2m
)"},
                     {"b.yaml", R"(tests:
  - name: one
    identify:
      - { at: 0s, user: u1, traits: { plan: pro, seats: 3 } }
    events:
      - at: "1m"
        user: u1
        event: x
        props: { s: "3", n: 3, f: -2.5, b: true, c: "true", t: 2024-05-01T10:00:00Z, w: hello world }
      - { at: 2m, user: u2, event: x, id: my-id }
    expect: [ { rule: m, user: u1, at: 1m } ]
    run_for: 1h
  - name: two
)"}});
  ASSERT_NE(set, nullptr);
  const ContactPolicy& p = set->contact_policy();
  EXPECT_EQ(p.max_prompts_per_user, 2);
  EXPECT_EQ(p.per, absl::Hours(24 * 7));
  EXPECT_EQ(p.max_interviews_per_user, 1);
  EXPECT_EQ(p.interviews_per, absl::Hours(24 * 30));
  ASSERT_TRUE(p.quiet_hours.has_value());
  EXPECT_EQ(p.quiet_hours->start_minute, 22 * 60);
  EXPECT_EQ(p.quiet_hours->end_minute, 8 * 60);
  EXPECT_EQ(p.timezone_trait, "tz");
  EXPECT_EQ(p.max_staleness, absl::Minutes(30));
  EXPECT_EQ(p.priority_window, absl::Minutes(2));

  ASSERT_THAT(set->tests(), SizeIs(2));
  const RuleTest& t = set->tests()[0];
  EXPECT_EQ(t.name, "one");
  EXPECT_EQ(t.pos.path, "b.yaml");
  EXPECT_EQ(t.pos.line, 2);
  EXPECT_EQ(t.run_for, absl::Hours(1));
  ASSERT_THAT(t.traits, SizeIs(1));
  EXPECT_EQ(t.traits[0].user, "u1");
  EXPECT_EQ(t.traits[0].at, absl::ZeroDuration());
  EXPECT_EQ(t.traits[0].traits.at("plan").string_value(), "pro");
  EXPECT_EQ(t.traits[0].traits.at("seats").number_value(), 3);
  ASSERT_THAT(t.events, SizeIs(2));
  const RuleTest::Event& e = t.events[0];
  EXPECT_EQ(e.at, absl::Minutes(1));
  EXPECT_EQ(e.user, "u1");
  EXPECT_EQ(e.event, "x");
  EXPECT_EQ(e.event_id, "test:one:1");             // generated
  EXPECT_EQ(e.props.at("s").string_value(), "3");  // quoted: text
  EXPECT_EQ(e.props.at("n").number_value(), 3);
  EXPECT_EQ(e.props.at("f").number_value(), -2.5);
  EXPECT_TRUE(e.props.at("b").bool_value());
  EXPECT_EQ(e.props.at("c").string_value(), "true");
  EXPECT_EQ(e.props.at("t").timestamp_value().seconds(), 1714557600);
  EXPECT_EQ(e.props.at("w").string_value(), "hello world");
  EXPECT_EQ(t.events[1].event_id, "my-id");
  ASSERT_THAT(t.expect, SizeIs(1));
  EXPECT_EQ(t.expect[0].rule, "m");
  EXPECT_EQ(t.expect[0].user, "u1");
  EXPECT_EQ(t.expect[0].at, absl::Minutes(1));
  EXPECT_FALSE(set->tests()[1].run_for.has_value());
  EXPECT_THAT(set->tests()[1].events, IsEmpty());
}

TEST(LoaderTest, QuietHoursNull) {
  auto set = LoadOk(
      "contact_policy: { max_prompts_per_user: 1, per: \"7d\", "
      "quiet_hours: null }\n");
  ASSERT_NE(set, nullptr);
  const ContactPolicy& p = set->contact_policy();
  EXPECT_FALSE(p.quiet_hours.has_value());
  // Defaults of the keys not given.
  EXPECT_EQ(p.timezone_trait, "timezone");
  EXPECT_EQ(p.max_staleness, absl::Hours(1));
  EXPECT_EQ(p.priority_window, absl::ZeroDuration());
}

// ---------------------------------------------------------------------------
// Versions.

std::string VersionOf(absl::string_view yaml) {
  auto set =
      LoadOk({{"a.yaml", std::string(yaml)}, Targets("error_pulse", "x")});
  if (set == nullptr || set->rules().empty()) return "";
  return set->rules()[0].version;
}

constexpr absl::string_view kCountRule = R"(rules:
  - id: r
    description: first
    pattern:
      count: { event: error, where: 'props.severity in ["error","fatal"]',
               group_by: [props.code], at_least: 3, within: "10m" }
    action: { survey: error_pulse }
    cooldown: "7d"
)";

TEST(LoaderVersionTest, StableAcrossLoadsAndLayouts) {
  const std::string v = VersionOf(kCountRule);
  ASSERT_EQ(v.size(), 16u);
  EXPECT_EQ(VersionOf(kCountRule), v);
  // Same pattern, other layout and quoting, other non-pattern settings.
  EXPECT_EQ(VersionOf(R"(rules:
  - id: other_id
    description: changed
    friction_hypothesis: product
    pattern:
      count:
        event: error
        where: >
          props.severity in [ 'error' ,
          'fatal' ]
        group_by:
          - props.code
        at_least: 3
        within: 10m
    action: { interview: x, delay: 5m }
    cooldown: "1d"
    sample: 0.1
    priority: 4
    mode: shadow
)"),
            v);
}

TEST(LoaderVersionTest, ChangesWithThePattern) {
  const std::string v = VersionOf(kCountRule);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string yaml(kCountRule);
    const size_t at = yaml.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    yaml.replace(at, from.size(), to);
    return VersionOf(yaml);
  };
  EXPECT_NE(with("at_least: 3", "at_least: 4"), v);
  EXPECT_NE(with("\"10m\"", "\"11m\""), v);
  EXPECT_NE(with("[props.code]", "[props.kind]"), v);
  EXPECT_NE(with("\"fatal\"", "\"panic\""), v);
  EXPECT_NE(with("event: error", "event: failure"), v);
  // 10m and 600s are the same window.
  EXPECT_EQ(with("\"10m\"", "\"600s\""), v);
}

// ---------------------------------------------------------------------------
// Errors, one class at a time, each with its exact position.

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string expected;  // "line:col: <message substring>"
  std::string hint;      // a substring of the hint
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class LoaderErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(LoaderErrorTest, ReportsPositionMessageAndHint) {
  const ErrorCase& c = GetParam();
  std::vector<LoadError> errors;
  auto set = LoadRuleSet({{"a.yaml", c.yaml}}, &errors);
  EXPECT_FALSE(set.ok());
  ASSERT_THAT(errors, SizeIs(1)) << [&] {
    std::string all;
    for (const LoadError& e : errors) absl::StrAppend(&all, e.ToString(), "\n");
    return all;
  }();
  const LoadError& e = errors[0];
  EXPECT_EQ(e.path, "a.yaml");
  const std::string got = absl::StrCat(e.line, ":", e.column, ": ", e.message);
  const size_t colon = c.expected.find(": ");
  EXPECT_THAT(got, StartsWith(c.expected.substr(0, colon + 2))) << got;
  EXPECT_THAT(got, HasSubstr(c.expected.substr(colon + 2))) << got;
  EXPECT_THAT(e.hint, HasSubstr(c.hint)) << e.hint;
}

// A rule around a pattern, to keep the cases short.
std::string InRule(absl::string_view pattern_lines) {
  return absl::StrCat("rules:\n  - id: r\n    pattern:\n", pattern_lines);
}

INSTANTIATE_TEST_SUITE_P(
    All, LoaderErrorTest,
    ::testing::Values(
        // Unknown keys, with the nearest known key.
        ErrorCase{"unknown_top_key", "rule:\n  - id: r\n",
                  "1:1: unknown key `rule` in a rule file",
                  "did you mean `rules`?"},
        ErrorCase{"unknown_rule_key",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    cooldwn: 7d\n",
                  "4:5: unknown key `cooldwn` in a rule",
                  "did you mean `cooldown`?"},
        ErrorCase{"misplaced_within",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    within: 7d\n",
                  "4:5: unknown key `within` in a rule",
                  "belongs inside the pattern"},
        ErrorCase{"allowed_lateness",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    allowed_lateness: 1m\n",
                  "4:5: unknown key `allowed_lateness`",
                  "harkd --allowed-lateness"},
        ErrorCase{"unknown_key_in_flow_map",
                  InRule("      count: { event: e, at_least: 2, withn: 1m }\n"),
                  "4:39: unknown key `withn` in a count pattern",
                  "did you mean `within`?"},
        ErrorCase{"unknown_step_key",
                  InRule("      sequence:\n        steps: [ { as: a, evnt: x } "
                         "]\n        within: 1m\n"),
                  "5:27: unknown key `evnt` in a step",
                  "did you mean `event`?"},
        ErrorCase{"duplicate_key",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    id: s\n",
                  "4:5: `id` is given twice in a rule (first at line 2)",
                  "keep one"},
        // Wrong types.
        ErrorCase{"root_not_a_map", "- id: r\n",
                  "1:1: a rule file must be a map of keys", "rules"},
        ErrorCase{"rules_not_a_list", "rules: { id: r }\n",
                  "1:8: `rules` must be a list of rules", "- id:"},
        ErrorCase{"at_least_quoted",
                  InRule("      count: { event: e, at_least: \"3\", within: 1m "
                         "}\n"),
                  "4:36: `at_least` must be a whole number, not `3`",
                  "without quotes"},
        ErrorCase{
            "at_least_list",
            InRule("      count: { event: e, at_least: [3], within: 1m }\n"),
            "4:36: `at_least` must be a single value, not a list",
            "at_least: 3"},
        ErrorCase{"event_map", InRule("      match: { event: { name: x } }\n"),
                  "4:23: `event` must be a single value, not a map",
                  "event: onboarding_started"},
        ErrorCase{"pattern_scalar", "rules:\n  - id: r\n    pattern: x\n",
                  "3:14: a pattern must be a map of keys", "match"},
        ErrorCase{"priority_text",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    priority: high\n",
                  "4:15: `priority` must be a whole number, not `high`",
                  "priority: 10"},
        ErrorCase{
            "where_list", InRule("      match: { event: x, where: [a] }\n"),
            "4:33: `where` must be a single value, not a list", "in quotes"},
        ErrorCase{"missing_value", InRule("      match:\n        event:\n"),
                  "5:9: `event` has no value", "event: onboarding_started"},
        // Durations.
        ErrorCase{
            "bad_duration",
            InRule("      count: { event: e, at_least: 2, within: 10 }\n"),
            "4:47: `10` is not a duration (in `within`)",
            "use a number and a unit: 30s, 10m, 2h, 14d"},
        ErrorCase{"bad_duration_unit",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    cooldown: 2 weeks\n",
                  "4:15: `2 weeks` is not a duration (in `cooldown`)",
                  "30s, 10m, 2h, 14d"},
        ErrorCase{
            "zero_within",
            InRule("      count: { event: e, at_least: 2, within: 0s }\n"),
            "4:47: within must be longer than 0s", "within:"},
        // Expressions: the column of the offending character.
        ErrorCase{"expr_plain",
                  InRule("      match:\n        event: x\n        where: "
                         "props.plan = \"pro\"\n"),
                  "6:27: in where: `=` alone is not an operator", "=="},
        ErrorCase{
            "expr_single_quoted",
            InRule("      match: { event: x, where: 'props.a == 1 && plan "
                   "== \"x\"' }\n"),
            "4:50: in where: unknown name `plan`", "user.plan"},
        ErrorCase{
            "expr_single_quoted_with_doubled_quote",
            InRule("      match: { event: x, where: 'props.a == ''it\\''s'' "
                   "&& b' }\n"),
            "4:59: in where: unknown name `b`", "props.b"},
        ErrorCase{
            "expr_double_quoted_with_escapes",
            InRule("      match: { event: x, where: \"props.a == \\\"x\\\" "
                   "&& \\\"a\\\" < true\" }\n"),
            "4:60: in where: `<` needs numbers or text", "=="},
        ErrorCase{
            "expr_block",
            InRule("      match:\n        event: x\n        where: >\n    "
                   "      props.a == 1 &&\n          props.b in \"x\"\n"),
            "8:22: in where: `in` needs a list", "brackets"},
        ErrorCase{
            "expr_multiline_plain",
            InRule("      match:\n        event: x\n        where: props.a "
                   "== 1 &&\n          props.b >= true\n"),
            "7:19: in where: `>=` needs numbers or text", "=="},
        ErrorCase{
            "expr_type_mismatch",
            InRule("      match: { event: x, where: 'event.name == 3' }\n"),
            "4:45: in where: cannot compare text with a number", "quote"},
        ErrorCase{"expr_not_a_condition",
                  InRule("      match: { event: x, where: '\"pro\"' }\n"),
                  "4:34: in where: the expression must be a condition",
                  "compare"},
        ErrorCase{"expr_unknown_function",
                  InRule("      match: { event: x, where: 'lower(props.a) == "
                         "\"x\"' }\n"),
                  "4:34: in where: unknown function `lower`", "has("},
        ErrorCase{"expr_has_non_field",
                  InRule("      match: { event: x, where: 'has(\"plan\")' }\n"),
                  "4:38: in where: has() takes a field", "has(props.plan)"},
        ErrorCase{"expr_empty",
                  InRule("      match: { event: x, where: '' }\n"),
                  "4:34: in where: the expression is empty", "where"},
        ErrorCase{"expr_step_alias_outside_sequence",
                  InRule("      count: { event: x, where: 'up.props.a == 1', "
                         "at_least: 2, within: 1m }\n"),
                  "4:34: in where: unknown name `up`", "props.up"},
        ErrorCase{
            "expr_later_step",
            InRule("      sequence:\n        steps:\n          - { as: a, "
                   "event: x, where: 'b.props.k == 1' }\n          - { "
                   "as: b, event: y }\n        within: 1h\n"),
            "6:40: in where: step `b` is this step or a later one",
            "earlier steps"},
        // Rule ids.
        ErrorCase{"missing_id",
                  "rules:\n  - pattern: { match: { event: x } }\n",
                  "2:5: a rule is missing `id`", "id: repeated_errors"},
        ErrorCase{"bad_id",
                  "rules:\n  - id: Repeated-Errors\n    pattern: { match: { "
                  "event: x } }\n",
                  "2:9: `Repeated-Errors` is not a valid rule id",
                  "lower-case"},
        ErrorCase{"duplicate_id",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "  - id: r\n    pattern: { match: { event: y } }\n",
                  "4:9: rule id `r` is already used at a.yaml:2:9", "rename"},
        // Patterns.
        ErrorCase{"missing_pattern", "rules:\n  - id: r\n",
                  "2:5: a rule is missing `pattern`", "match"},
        ErrorCase{
            "pattern_without_kind", "rules:\n  - id: r\n    pattern: {}\n",
            "3:14: a pattern needs one of match, count, sequence", "match:"},
        ErrorCase{"pattern_with_two_kinds",
                  "rules:\n  - id: r\n    pattern: { match: { event: x }, "
                  "count: { event: y, at_least: 2, within: 1m } }\n",
                  "3:37: a pattern has exactly one kind; this one is already "
                  "`match`",
                  "separate rule"},
        ErrorCase{"count_without_within",
                  InRule("      count: { event: e, at_least: 3 }\n"),
                  "4:14: a count pattern is missing `within`",
                  "within: \"10m\""},
        ErrorCase{"sequence_without_within",
                  InRule("      sequence:\n        steps: [ { event: a } ]\n"),
                  "5:9: a sequence pattern is missing `within`",
                  "within: \"10m\""},
        ErrorCase{"count_without_at_least",
                  InRule("      count: { event: e, within: 1m }\n"),
                  "4:14: a count pattern is missing `at_least`", "at_least: 3"},
        ErrorCase{
            "at_least_zero",
            InRule("      count: { event: e, at_least: 0, within: 1m }\n"),
            "4:36: at_least must be at least 1, not 0", "at_least: 3"},
        ErrorCase{"missing_event",
                  InRule("      match: { where: 'props.a == 1' }\n"),
                  "4:14: a match pattern is missing `event`",
                  "event: onboarding_started"},
        ErrorCase{"bad_event_name",
                  InRule("      match: { event: Signed Up }\n"),
                  "4:23: `Signed Up` is not an event name", "lower-case"},
        ErrorCase{"uppercase_event_name",
                  InRule("      match: { event: SignedUp }\n"),
                  "4:23: `SignedUp` is not an event name",
                  "event names are lower-case: signedup"},
        ErrorCase{"empty_steps",
                  InRule("      sequence: { steps: [], within: 1h }\n"),
                  "4:26: a sequence needs at least one step", "steps:"},
        ErrorCase{
            "steps_not_a_list",
            InRule("      sequence: { steps: { event: a }, within: 1h }\n"),
            "4:26: steps must be a list of steps", "steps:"},
        ErrorCase{
            "duplicate_alias",
            InRule("      sequence:\n        steps:\n          - { as: a, "
                   "event: x }\n          - { as: a, event: y }\n       "
                   " within: 1h\n"),
            "7:19: two steps are named `a` (first at a.yaml:6:19)",
            "its own name"},
        ErrorCase{
            "reserved_alias",
            InRule("      sequence: { steps: [ { as: props, event: x } ], "
                   "within: 1h }\n"),
            "4:34: `props` cannot name a step", "as: start"},
        ErrorCase{"group_by_not_props",
                  InRule("      count: { event: e, at_least: 2, within: 1m, "
                         "group_by: [code] }\n"),
                  "4:62: group_by entry `code` is not an event property",
                  "props.<name>"},
        ErrorCase{"group_by_trait",
                  InRule("      count: { event: e, at_least: 2, within: 1m, "
                         "group_by: [props.a, user.plan] }\n"),
                  "4:71: group_by entry `user.plan` is not an event property",
                  "user traits cannot group"},
        ErrorCase{"group_by_scalar",
                  InRule("      count: { event: e, at_least: 2, within: 1m, "
                         "group_by: props.code }\n"),
                  "4:61: group_by must be a list", "[props.code]"},
        // Other rule settings.
        ErrorCase{"sample_zero",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    sample: 0\n",
                  "4:13: sample must be more than 0 and at most 1", "0.5"},
        ErrorCase{"sample_above_one",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    sample: 1.01\n",
                  "4:13: sample must be more than 0 and at most 1", "0.5"},
        ErrorCase{"sample_percent",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    sample: 50%\n",
                  "4:13: `sample` must be a number, not `50%`", "0.5"},
        ErrorCase{"friction",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    friction_hypothesis: price\n",
                  "4:26: `price` is not a friction type",
                  "product, process, pricing, perception"},
        ErrorCase{"mode",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    mode: dry_run\n",
                  "4:11: unknown mode `dry_run`", "shadow"},
        ErrorCase{"action_without_target",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    action: { delay: 1m }\n",
                  "4:13: an action needs `survey` or `interview`", "survey:"},
        ErrorCase{"action_with_both",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    action: { survey: a, interview: b }\n",
                  "4:26: an action has either `survey` or `interview`",
                  "two rules"},
        ErrorCase{"action_misplaced",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    survey: a\n",
                  "4:5: unknown key `survey` in a rule", "inside action"},
        // Contact policy.
        ErrorCase{"policy_without_per",
                  "contact_policy: { max_prompts_per_user: 1 }\n",
                  "1:19: `max_prompts_per_user` and `per` go together",
                  "per: \"7d\""},
        ErrorCase{"policy_quiet_hours",
                  "contact_policy: { quiet_hours: \"10pm-8am\" }\n",
                  "1:32: `10pm-8am` is not a time range", "22:00-08:00"},
        ErrorCase{"policy_negative",
                  "contact_policy: { max_prompts_per_user: -1, per: 7d }\n",
                  "1:41: max_prompts_per_user must be 0 or more", ": 1"},
        // Tests.
        ErrorCase{"test_unknown_rule",
                  "rules:\n  - id: cancellation\n    pattern: { match: { "
                  "event: x } }\ntests:\n  - name: t\n    expect: [ { rule: "
                  "cancelation, user: u1, at: 1m } ]\n",
                  "6:23: test `t` expects rule `cancelation`, which no file "
                  "defines",
                  "did you mean `cancellation`?"},
        ErrorCase{"test_event_bad_at",
                  "tests:\n  - name: t\n    events: [ { at: 5, user: u1, "
                  "event: x } ]\n",
                  "3:21: `5` is not a duration (in `at`)", "30s"},
        ErrorCase{
            "test_event_missing_user",
            "tests:\n  - name: t\n    events:\n      - { at: 0s, event: x "
            "}\n",
            "4:9: a test event is missing `user`", "user: u1"},
        ErrorCase{"test_event_misnamed_key",
                  "tests:\n  - name: t\n    events:\n      - { at: 0s, user: "
                  "u1, name: x }\n",
                  "4:29: unknown key `name` in a test event", "event:"},
        ErrorCase{"test_prop_list",
                  "tests:\n  - name: t\n    events:\n      - { at: 0s, user: "
                  "u1, event: x, props: { a: [1] } }\n",
                  "4:51: `a` must be a single value, not a list", "text"},
        ErrorCase{"test_duplicate_event_id",
                  "tests:\n  - name: t\n    events:\n      - { at: 0s, user: "
                  "u1, event: x, id: e1 }\n      - { at: 1s, user: u1, "
                  "event: x, id: e1 }\n",
                  "5:43: event id `e1` is used twice in this test (first at "
                  "a.yaml:4:43)",
                  "its own id"},
        ErrorCase{"test_duplicate_name", "tests:\n  - name: t\n  - name: t\n",
                  "3:5: two tests are named `t` (first at a.yaml:2:5)",
                  "its own name"},
        ErrorCase{"test_missing_name", "tests:\n  - events: []\n",
                  "2:5: a test is missing `name`", "name:"},
        // YAML itself.
        ErrorCase{"yaml_unclosed_flow",
                  "rules:\n  - id: r\n    pattern: { match: { event: x }\n"
                  "  - id: s\n",
                  "4:3: YAML syntax error: illegal block entry", "not closed"},
        ErrorCase{"yaml_tab", "rules:\n\t- id: r\n", "2:2: YAML syntax error",
                  "tabs"},
        ErrorCase{"yaml_unquoted_colon",
                  "rules:\n  - id: r\n    description: a: b\n",
                  "3:19: YAML syntax error: illegal map value", "quoted"},
        ErrorCase{"yaml_unknown_anchor", "rules: *nope\n",
                  "1:8: YAML syntax error", "&name"},
        ErrorCase{"yaml_two_documents", "rules: []\n---\ntests: []\n",
                  "3:1: a rule file holds one YAML document", "---"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) {
      return info.param.name;
    });

TEST(LoaderTest, ReportsEveryErrorOfAFileInOnePass) {
  const std::vector<std::string> errors = Errors(R"(rules:
  - id: Bad-Id
    friction_hypothesis: prodct
    pattern:
      count: { event: error, where: 'props.severity in "error"', at_least: 0, within: 10 }
    cooldown: 30
  - id: good
    pattern: { match: { event: x } }
  - id: seq
    pattern:
      sequence:
        steps:
          - { as: up, event: plan_changed }
          - { as: up, event: plan_changed, where: "upp.props.x == 1" }
contact_policy: { quiet_hours: "25:00-01:00" }
tests:
  - name: t
    events:
      - { at: 5, user: u1, event: x }
    expect: [ { rule: nope, user: u1, at: "1m" } ]
)");
  std::vector<std::string> positions;
  for (const std::string& e : errors) {
    positions.push_back(e.substr(0, e.find(": ")));
  }
  EXPECT_THAT(positions,
              ElementsAre("a.yaml:2:9", "a.yaml:3:26", "a.yaml:5:56",
                          "a.yaml:5:76", "a.yaml:5:87", "a.yaml:6:15",
                          "a.yaml:12:9", "a.yaml:14:19", "a.yaml:14:52",
                          "a.yaml:15:32", "a.yaml:19:15", "a.yaml:20:23"))
      << absl::StrJoin(errors, "\n");
}

TEST(LoaderTest, ErrorsAcrossFilesPointAtBothPlaces) {
  const std::vector<std::string> errors =
      Errors({{"a.yaml",
               "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
               "contact_policy: { max_prompts_per_user: 1, per: 7d }\n"},
              {"sub/b.yaml",
               "rules:\n  - id: r\n    pattern: { match: { event: y } }\n"
               "contact_policy: { max_prompts_per_user: 2, per: 7d }\n"}});
  EXPECT_THAT(
      errors,
      ElementsAre(
          AllOf(StartsWith("sub/b.yaml:2:9: rule id `r` is already used at "
                           "a.yaml:2:9")),
          AllOf(StartsWith("sub/b.yaml:4:1: contact_policy is already set at "
                           "a.yaml:4:1"))));
}

TEST(LoaderTest, TestsMayExpectRulesOfOtherFiles) {
  auto set =
      LoadOk({{"a.yaml",
               "tests:\n  - name: t\n    expect: [ { rule: r, user: u, "
               "at: 0s } ]\n"},
              {"b.yaml",
               "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"}});
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(set->tests(), SizeIs(1));
}

TEST(LoaderTest, NoExceptionEscapesOnHostileInput) {
  static constexpr char kGarbage[] = "\0\xff\xfe garbage \x01: [";
  std::string deep(20000, '[');
  std::vector<std::string> inputs = {
      deep,
      std::string(kGarbage, sizeof(kGarbage) - 1),
      "rules: [*a]\n",
      "? [a, b]\n: c\n",
      "rules:\n  - &r { id: r, pattern: { match: { event: x } } }\n  - *r\n",
      "rules:\n  - id: r\n    pattern: { match: { event: x, where: "
      "\"\\u00e9 == 1\" } }\n",
      "tests: [ { name: t, events: [ { at: 0s, user: u, event: x, props: { "
      "? [k] : v } } ] } ]\n",
  };
  for (const std::string& input : inputs) {
    std::vector<LoadError> errors;
    auto set = LoadRuleSet({{"x.yaml", input}}, &errors);
    EXPECT_FALSE(set.ok()) << input.substr(0, 40);
    EXPECT_THAT(errors, Not(IsEmpty())) << input.substr(0, 40);
  }
}

TEST(LoaderTest, NullErrorVectorIsAllowed) {
  auto set = LoadRuleSet({{"x.yaml", "rules: 3\n"}}, nullptr);
  EXPECT_FALSE(set.ok());
  EXPECT_THAT(set.status().message(), HasSubstr("x.yaml:1:8"));
}

// ---------------------------------------------------------------------------
// ReadRuleDir.

class ReadRuleDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    root_ =
        std::filesystem::path(tmp != nullptr ? tmp : "/tmp") /
        absl::StrCat(
            "hark_rules_dir_", ::getpid(), "_",
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& rel, const std::string& content) {
    const std::filesystem::path path = root_ / rel;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << content;
  }
  std::filesystem::path root_;
};

TEST_F(ReadRuleDirTest, ReadsYamlFilesRecursivelySortedByPath) {
  Write("z.yaml", "rules: []\n");
  Write("a.yml", "tests: []\n");
  Write("surveys/b.yaml", "# survey\n");
  Write("notes.txt", "not a rule file");
  Write(".hidden.yaml", "ignored");
  Write(".git/x.yaml", "ignored");
  auto files = ReadRuleDir(root_.string());
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<std::string> paths;
  for (const SourceFile& f : *files) paths.push_back(f.path);
  EXPECT_THAT(paths, ElementsAre("a.yml", "surveys/b.yaml", "z.yaml"));
  EXPECT_EQ((*files)[0].content, "tests: []\n");
}

TEST_F(ReadRuleDirTest, EmptyFolderHasNoFiles) {
  auto files = ReadRuleDir(root_.string());
  ASSERT_TRUE(files.ok());
  EXPECT_THAT(*files, IsEmpty());
}

TEST_F(ReadRuleDirTest, MissingFolderIsNotFound) {
  auto files = ReadRuleDir((root_ / "nope").string());
  EXPECT_EQ(files.status().code(), absl::StatusCode::kNotFound);
  Write("file.yaml", "");
  files = ReadRuleDir((root_ / "file.yaml").string());
  EXPECT_EQ(files.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// The shipped rules folder.

TEST(ShippedRulesTest, LoadWithoutErrors) {
  auto files = ReadRuleDir(HARK_SOURCE_DIR "/rules");
  ASSERT_TRUE(files.ok()) << files.status();
  auto set = LoadOk(*files);
  ASSERT_NE(set, nullptr);
  ASSERT_NE(set->Find("onboarding_abandonment"), nullptr);
  ASSERT_NE(set->Find("repeated_errors"), nullptr);
  ASSERT_NE(set->Find("downgrade_after_upgrade"), nullptr);
  ASSERT_NE(set->Find("cancellation"), nullptr);
  EXPECT_EQ(set->Find("onboarding_abandonment")->kind(), "sequence");
  EXPECT_EQ(set->Find("repeated_errors")->kind(), "count");
  EXPECT_EQ(set->Find("downgrade_after_upgrade")->kind(), "sequence");
  EXPECT_EQ(set->Find("cancellation")->kind(), "match");
  const auto& abandon =
      std::get<SequencePattern>(set->Find("onboarding_abandonment")->pattern);
  ASSERT_TRUE(abandon.absent.has_value());
  EXPECT_EQ(abandon.absent->event, "onboarding_completed");
  EXPECT_EQ(abandon.within, absl::Minutes(30));
  const auto& errors =
      std::get<CountPattern>(set->Find("repeated_errors")->pattern);
  EXPECT_THAT(errors.group_by, ElementsAre("code"));
  EXPECT_EQ(errors.at_least, 3);
  EXPECT_EQ(errors.within, absl::Minutes(10));
  EXPECT_EQ(set->max_within(), absl::Hours(24 * 14));
  EXPECT_EQ(set->contact_policy().max_prompts_per_user, 1);
  // Every rule has positive and negative tests.
  for (int r = 0; r < static_cast<int>(set->rules().size()); ++r) {
    const std::string& id = set->rules()[r].id;
    int positive = 0;
    int negative = 0;
    for (const RuleTest& t : set->tests()) {
      bool expected = false;
      for (const RuleTest::Expect& x : t.expect) {
        expected = expected || x.rule == id;
      }
      bool fed = false;
      for (const RuleTest::Event& e : t.events) {
        for (int index : set->RulesForEvent(e.event)) fed = fed || index == r;
      }
      if (expected) ++positive;
      if (fed && t.expect.empty()) ++negative;
    }
    EXPECT_GE(positive, 1) << id;
    EXPECT_GE(negative, 1) << id;
  }
}

// The rule sets of the end-to-end benchmark: they load, and hold 25 rules
// of each kind (match, count, sequence, sequence with absence) as the
// benchmark's description says.
TEST(BenchRulesTest, LoadWith25OfEachKind) {
  for (const char* dir : {"/bench/rules-100", "/bench/rules-100-dense"}) {
    SCOPED_TRACE(dir);
    auto files = ReadRuleDir(std::string(HARK_SOURCE_DIR) + dir);
    ASSERT_TRUE(files.ok()) << files.status();
    auto set = LoadOk(*files);
    ASSERT_NE(set, nullptr);
    std::map<std::string, int> kinds;
    for (const Rule& rule : set->rules()) {
      const auto* sequence = std::get_if<SequencePattern>(&rule.pattern);
      ++kinds[sequence != nullptr && sequence->absent.has_value()
                  ? "absence"
                  : std::string(rule.kind())];
    }
    EXPECT_THAT(kinds,
                ElementsAre(std::pair<const std::string, int>("absence", 25),
                            std::pair<const std::string, int>("count", 25),
                            std::pair<const std::string, int>("match", 25),
                            std::pair<const std::string, int>("sequence", 25)));
  }
}

}  // namespace
}  // namespace hark::rules
