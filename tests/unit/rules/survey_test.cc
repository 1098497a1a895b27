// Surveys, interviews and templates: loading, every error class with its
// position, reference checks against the rules that use them, rendering,
// booking links, the builder's checks and the shipped files.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hark/v1/rules.pb.h"
#include "server/rules/rule_set.h"
#include "server/rules/template.h"

namespace hark::rules {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::StartsWith;

std::string Join(const std::vector<LoadError>& errors) {
  std::vector<std::string> lines;
  for (const LoadError& e : errors) lines.push_back(e.ToString());
  return absl::StrJoin(lines, "\n");
}

std::shared_ptr<const RuleSet> LoadOk(std::vector<SourceFile> files) {
  std::vector<LoadError> errors;
  absl::StatusOr<std::shared_ptr<const RuleSet>> set =
      LoadRuleSet(files, &errors);
  EXPECT_TRUE(set.ok()) << Join(errors);
  return set.ok() ? *set : nullptr;
}

std::vector<LoadError> Errors(std::vector<SourceFile> files) {
  std::vector<LoadError> errors;
  absl::StatusOr<std::shared_ptr<const RuleSet>> set =
      LoadRuleSet(files, &errors);
  EXPECT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  for (const LoadError& e : errors) {
    EXPECT_FALSE(e.hint.empty()) << e.ToString();
  }
  return errors;
}

// ---------------------------------------------------------------------------
// Valid files.

constexpr char kRules[] = R"(rules:
  - id: repeated_errors
    pattern:
      count: { event: error, group_by: [props.code], at_least: 3, within: 10m }
    action: { survey: error_pulse }
  - id: downgrade
    pattern:
      sequence:
        steps:
          - { as: up, event: plan_changed }
          - { as: down, event: plan_changed }
        within: 14d
    action: { interview: pricing_interview }
)";

constexpr char kSurvey[] = R"(surveys:
  - id: error_pulse
    title: 'Hi {{ user.first_name | default: "there" }}'
    questions:
      - id: impact
        type: single_choice
        text: "Error {{match.props.code}} hit you {{match.count}} times. Why?"
        required: true
        choices:
          - { id: blocked, label: "I was stuck", friction: product }
          - { id: other, label: Something else }
      - { id: effort, type: ces, text: "How easy was it?" }
      - { id: score, type: nps, text: "Would you recommend us?" }
      - { id: stars, type: rating, text: Rate us }
      - id: tags
        type: multi_choice
        text: What applies?
        required: false
        choices:
          - { id: a, label: A, friction: process }
          - { id: b, label: B, friction: pricing }
          - { id: c, label: C, friction: perception }
)";

constexpr char kInterview[] = R"(interviews:
  - id: pricing_interview
    invitation: >-
      Hi {{user.first_name | default: "there"}}, you went from
      {{match.up.props.to_plan | default: "a plan"}} to
      {{match.down.props.to_plan | default: "another"}}.
    booking_url: "https://cal.example.com/p?token={{ token }}"
    duration: 30m
    incentive: "$50 gift card"
    quota: { max: 5, per: "7d" }
)";

TEST(SurveyLoadTest, SurveysAndInterviewsWithEveryKey) {
  auto set = LoadOk({{"triggers.yaml", kRules},
                     {"surveys/error_pulse.yaml", kSurvey},
                     {"interviews.yaml", kInterview}});
  ASSERT_NE(set, nullptr);
  ASSERT_THAT(set->surveys(), SizeIs(1));
  const Survey* s = set->FindSurvey("error_pulse");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(set->FindSurvey("nope"), nullptr);
  EXPECT_EQ(s->pos.path, "surveys/error_pulse.yaml");
  EXPECT_EQ(s->pos.line, 2);
  EXPECT_EQ(s->title.source, "Hi {{ user.first_name | default: \"there\" }}");
  EXPECT_EQ(s->title.pos.line, 3);
  EXPECT_EQ(s->title.pos.column, 12);
  ASSERT_THAT(s->title.parts, SizeIs(2));
  EXPECT_EQ(s->title.parts[0].literal, "Hi ");
  EXPECT_EQ(s->title.parts[1].path, "user.first_name");
  EXPECT_EQ(s->title.parts[1].default_value, "there");
  ASSERT_THAT(s->questions, SizeIs(5));
  const Question& q = s->questions[0];
  EXPECT_EQ(q.id, "impact");
  EXPECT_EQ(q.type, Question::Type::kSingleChoice);
  EXPECT_TRUE(q.required);
  EXPECT_EQ(q.pos.line, 5);
  ASSERT_THAT(q.choices, SizeIs(2));
  EXPECT_EQ(q.choices[0].id, "blocked");
  EXPECT_EQ(q.choices[0].label, "I was stuck");
  EXPECT_EQ(q.choices[0].friction, "product");
  EXPECT_EQ(q.choices[1].friction, "");
  EXPECT_EQ(s->questions[1].type, Question::Type::kCes);
  EXPECT_FALSE(s->questions[1].required);
  EXPECT_THAT(s->questions[1].choices, IsEmpty());
  EXPECT_EQ(s->questions[2].type, Question::Type::kNps);
  EXPECT_EQ(s->questions[3].type, Question::Type::kRating);
  EXPECT_EQ(s->questions[4].type, Question::Type::kMultiChoice);
  EXPECT_THAT(s->questions[4].choices, SizeIs(3));

  ASSERT_THAT(set->interviews(), SizeIs(1));
  const Interview* i = set->FindInterview("pricing_interview");
  ASSERT_NE(i, nullptr);
  EXPECT_EQ(set->FindInterview("error_pulse"), nullptr);
  EXPECT_EQ(i->pos.path, "interviews.yaml");
  // `{{ token }}` is kept as `{{token}}`.
  EXPECT_EQ(i->booking_url, "https://cal.example.com/p?token={{token}}");
  EXPECT_EQ(i->duration, absl::Minutes(30));
  EXPECT_EQ(i->incentive, "$50 gift card");
  ASSERT_TRUE(i->quota.has_value());
  EXPECT_EQ(i->quota->max, 5);
  EXPECT_EQ(i->quota->per, absl::Hours(24 * 7));
  EXPECT_THAT(i->invitation.source, StartsWith("Hi {{user.first_name"));
}

TEST(SurveyLoadTest, UnusedSurveysNeedNoDefaults) {
  // Only a rule using a template decides what may be missing.
  auto set = LoadOk({{"s.yaml", R"(surveys:
  - id: s
    title: '{{user.first_name}}'
    questions: [ { id: q, type: text, text: '{{match.props.x}}' } ]
)"}});
  ASSERT_NE(set, nullptr);
  EXPECT_THAT(set->surveys(), SizeIs(1));
}

TEST(SurveyLoadTest, AnActionNamingASurveyWithErrorsIsNotAnErrorToo) {
  const std::vector<LoadError> errors =
      Errors({{"a.yaml",
               "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
               "    action: { survey: s }\n"},
              {"s.yaml", "surveys:\n  - id: s\n    title: Hi\n"}});
  ASSERT_THAT(errors, SizeIs(1)) << Join(errors);
  EXPECT_EQ(errors[0].path, "s.yaml");
  EXPECT_THAT(errors[0].message, HasSubstr("missing `questions`"));
}

// ---------------------------------------------------------------------------
// Errors of one file, each with its position.

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string expected;  // "line:col: <message substring>"
  std::string hint;      // a substring of the hint
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class SurveyErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SurveyErrorTest, ReportsPositionMessageAndHint) {
  const ErrorCase& c = GetParam();
  const std::vector<LoadError> errors = Errors({{"a.yaml", c.yaml}});
  ASSERT_THAT(errors, SizeIs(1)) << Join(errors);
  const LoadError& e = errors[0];
  EXPECT_EQ(e.path, "a.yaml");
  const std::string got = absl::StrCat(e.line, ":", e.column, ": ", e.message);
  const size_t colon = c.expected.find(": ");
  EXPECT_THAT(got, StartsWith(c.expected.substr(0, colon + 2))) << got;
  EXPECT_THAT(got, HasSubstr(c.expected.substr(colon + 2))) << got;
  EXPECT_THAT(e.hint, HasSubstr(c.hint)) << e.hint;
}

// A survey `s` with the given question lines (from line 5).
std::string SurveyWith(absl::string_view questions) {
  return absl::StrCat("surveys:\n  - id: s\n    title: Hi\n    questions:\n",
                      questions);
}
// A survey `s` with the given title (line 3).
std::string Titled(absl::string_view title_line) {
  return absl::StrCat("surveys:\n  - id: s\n", title_line,
                      "\n    questions: [ { id: q, type: text, text: A } ]\n");
}
// An interview `i` with the given booking_url (line 4) and extra lines.
std::string InterviewWith(absl::string_view url, absl::string_view extra) {
  return absl::StrCat(
      "interviews:\n  - id: i\n    invitation: Talk?\n    booking_url: ", url,
      "\n    duration: 30m\n", extra);
}
// A rule `r` (lines 1-3) whose action (line 4) names a target; the file
// also holds survey `s` (its title on line 7) and interview `i`.
std::string RuleUsing(absl::string_view pattern, absl::string_view action,
                      absl::string_view title) {
  return absl::StrCat(
      "rules:\n  - id: r\n    pattern: ", pattern, "\n    action: ", action,
      "\nsurveys:\n  - id: s\n    title: ", title,
      "\n    questions: [ { id: q, type: text, text: A } ]\n"
      "interviews:\n  - id: i\n    invitation: Talk?\n"
      "    booking_url: https://x.example.com/\n    duration: 30m\n");
}

constexpr char kMatch[] = "{ match: { event: x } }";
constexpr char kCount[] =
    "{ count: { event: x, group_by: [props.code], at_least: 2, within: 1m } }";
constexpr char kSequence[] =
    "{ sequence: { steps: [ { as: up, event: x } ], within: 1h } }";

INSTANTIATE_TEST_SUITE_P(
    All, SurveyErrorTest,
    ::testing::Values(
        // Surveys.
        ErrorCase{"unknown_survey_key",
                  "surveys:\n  - id: s\n    titel: Hi\n    questions: [ { id: "
                  "q, type: text, text: A } ]\n",
                  "3:5: unknown key `titel` in a survey",
                  "did you mean `title`?"},
        ErrorCase{"surveys_not_a_list", "surveys: { id: s }\n",
                  "1:10: `surveys` must be a list of surveys", "- id:"},
        ErrorCase{"bad_survey_id",
                  "surveys:\n  - id: Bad\n    title: Hi\n    questions: [ { "
                  "id: q, type: text, text: A } ]\n",
                  "2:9: `Bad` is not a valid survey id", "lower-case"},
        ErrorCase{"survey_without_title",
                  "surveys:\n  - id: s\n    questions: [ { id: q, type: text, "
                  "text: A } ]\n",
                  "2:5: a survey is missing `title`", "title:"},
        ErrorCase{"no_questions",
                  "surveys:\n  - id: s\n    title: Hi\n    questions: []\n",
                  "4:16: a survey has 1 to 5 questions, not 0", "one to three"},
        ErrorCase{"six_questions",
                  "surveys:\n  - id: s\n    title: Hi\n    questions: [ {id: "
                  "a, type: text, text: A}, {id: b, type: text, text: A}, "
                  "{id: c, type: text, text: A}, {id: d, type: text, text: "
                  "A}, {id: e, type: text, text: A}, {id: f, type: text, "
                  "text: A} ]\n",
                  "4:16: a survey has 1 to 5 questions, not 6", "one to three"},
        ErrorCase{"duplicate_survey_id",
                  "surveys:\n  - id: s\n    title: Hi\n    questions: [ { id: "
                  "q, type: text, text: A } ]\n  - id: s\n    title: Ho\n    "
                  "questions: [ { id: q, type: text, text: A } ]\n",
                  "5:9: survey id `s` is already used at a.yaml:2:9",
                  "its own id"},
        // Questions.
        ErrorCase{"unknown_question_type",
                  SurveyWith("      - { id: q, type: rateing, text: A }\n"),
                  "5:24: `rateing` is not a question type",
                  "did you mean `rating`?"},
        ErrorCase{"question_without_type",
                  SurveyWith("      - { id: q, text: A }\n"),
                  "5:9: a question is missing `type`", "single_choice"},
        ErrorCase{"question_misnamed_key",
                  SurveyWith("      - { id: q, type: text, question: A }\n"),
                  "5:30: unknown key `question` in a question", "text:"},
        ErrorCase{"duplicate_question_id",
                  SurveyWith("      - { id: q, type: text, text: A }\n"
                             "      - { id: q, type: text, text: B }\n"),
                  "6:15: two questions of survey `s` are named `q` (first at "
                  "a.yaml:5:15)",
                  "its own id"},
        ErrorCase{"required_not_bool",
                  SurveyWith("      - { id: q, type: text, text: A, required: "
                             "yes }\n"),
                  "5:49: `required` must be true or false, not `yes`",
                  "required: true"},
        ErrorCase{"empty_text",
                  SurveyWith("      - { id: q, type: text, text: \"  \" }\n"),
                  "5:36: `text` is empty", "text:"},
        // Choices.
        ErrorCase{"choices_on_text_question",
                  SurveyWith("      - { id: q, type: text, text: A, choices: "
                             "[ { id: a, label: A }, { id: b, label: B } ] "
                             "}\n"),
                  "5:39: only single_choice and multi_choice questions have "
                  "choices",
                  "type: single_choice"},
        ErrorCase{"one_choice",
                  SurveyWith("      - { id: q, type: single_choice, text: A, "
                             "choices: [ { id: a, label: A } ] }\n"),
                  "5:57: a choice question needs at least 2 choices",
                  "choices:"},
        ErrorCase{
            "choice_question_without_choices",
            SurveyWith("      - { id: q, type: multi_choice, text: A }\n"),
            "5:9: a choice question is missing `choices`", "choices:"},
        ErrorCase{"bad_friction",
                  SurveyWith("      - id: q\n        type: single_choice\n"
                             "        text: A\n        choices:\n"
                             "          - { id: a, label: A, friction: prodct "
                             "}\n          - { id: b, label: B }\n"),
                  "9:42: `prodct` is not a friction type",
                  "did you mean `product`?"},
        ErrorCase{"duplicate_choice_id",
                  SurveyWith("      - id: q\n        type: single_choice\n"
                             "        text: A\n        choices:\n"
                             "          - { id: a, label: A }\n"
                             "          - { id: a, label: B }\n"),
                  "10:19: two choices of question `q` are named `a` (first at "
                  "a.yaml:9:19)",
                  "its own id"},
        ErrorCase{"choice_without_label",
                  SurveyWith("      - id: q\n        type: single_choice\n"
                             "        text: A\n        choices:\n"
                             "          - { id: a }\n"
                             "          - { id: b, label: B }\n"),
                  "9:13: a choice is missing `label`", "label:"},
        ErrorCase{"choice_text_for_label",
                  SurveyWith("      - id: q\n        type: single_choice\n"
                             "        text: A\n        choices:\n"
                             "          - { id: a, text: A }\n"
                             "          - { id: b, label: B }\n"),
                  "9:22: unknown key `text` in a choice", "label:"},
        // Template syntax, at the offending character.
        ErrorCase{"unterminated_placeholder",
                  Titled("    title: 'Hi {{user.first_name'"),
                  "3:16: in the title of survey `s`: `{{` is not closed",
                  "{{match.props.code}}"},
        ErrorCase{"empty_placeholder", Titled("    title: 'Hi {{ }}'"),
                  "3:16: in the title of survey `s`: a placeholder needs a "
                  "name",
                  "{{match.props.code}}"},
        ErrorCase{"unknown_filter",
                  Titled("    title: 'Hi {{ user.first_name | upper }}'"),
                  "3:37: in the title of survey `s`: unknown filter `upper`",
                  "default:"},
        ErrorCase{"default_without_quotes",
                  Titled("    title: 'Hi {{user.first_name | default: "
                         "there}}'"),
                  "3:36: in the title of survey `s`: default needs a text in "
                  "quotes",
                  "default: \"there\""},
        ErrorCase{"bad_placeholder_name", Titled("    title: 'Hi {{a b}}'"),
                  "3:18: in the title of survey `s`: `a b` is not a "
                  "placeholder name",
                  "dots"},
        ErrorCase{"unknown_root", Titled("    title: 'Hi {{first_name}}'"),
                  "3:16: in the title of survey `s`: `{{first_name}}` does "
                  "not start with user. or match.",
                  "{{user.first_name | default: \"there\"}}"},
        ErrorCase{"misspelled_root",
                  Titled("    title: 'Hi {{usr.first_name}}'"),
                  "3:16: in the title of survey `s`: `{{usr.first_name}}` "
                  "does not start",
                  "did you mean `user`?"},
        ErrorCase{"unknown_match_field", Titled("    title: '{{match.rul}}'"),
                  "3:13: in the title of survey `s`: `{{match.rul}}` is not "
                  "something a match has",
                  "did you mean {{match.rule}}?"},
        ErrorCase{"question_text_placeholder",
                  SurveyWith("      - id: q\n        type: text\n"
                             "        text: >\n          Why did\n"
                             "          {{props.code}} happen?\n"),
                  "9:11: in question `q` of survey `s`: `{{props.code}}` does "
                  "not start with user. or match.",
                  "{{match.props.code}}"},
        ErrorCase{"question_mark_in_flow_map",
                  "surveys:\n  - id: s\n    title: Hi\n    questions: [ { "
                  "id: q, type: text, text: Why? } ]\n",
                  "4:48: YAML syntax error", "text: \"Why?\""},
        // Interviews.
        ErrorCase{"interview_without_duration",
                  "interviews:\n  - id: i\n    invitation: Talk?\n    "
                  "booking_url: https://x.example.com/\n",
                  "2:5: an interview is missing `duration`", "30m"},
        ErrorCase{"booking_url_not_http", InterviewWith("ftp://x", ""),
                  "4:18: `ftp://x` is not an http(s) link", "https://"},
        ErrorCase{"booking_url_placeholder",
                  InterviewWith("'https://x.com/?u={{user.id}}'", ""),
                  "4:36: in booking_url: only {{token}} can be filled in",
                  "{{token}}"},
        ErrorCase{"interview_bad_duration",
                  "interviews:\n  - id: i\n    invitation: Talk?\n    "
                  "booking_url: https://x.example.com/\n    duration: half an "
                  "hour\n",
                  "5:15: `half an hour` is not a duration (in `duration`)",
                  "30m"},
        ErrorCase{"quota_max_zero",
                  InterviewWith("https://x.example.com/",
                                "    quota: { max: 0, per: 7d }\n"),
                  "6:19: max must be at least 1, not 0", "max: 5"},
        ErrorCase{
            "quota_without_per",
            InterviewWith("https://x.example.com/", "    quota: { max: 5 }\n"),
            "6:12: a quota is missing `per`", "per: \"7d\""},
        ErrorCase{"duplicate_interview_id",
                  "interviews:\n  - id: i\n    invitation: A\n    "
                  "booking_url: https://x.example.com/\n    duration: 30m\n"
                  "  - id: i\n    invitation: B\n    booking_url: "
                  "https://x.example.com/\n    duration: 30m\n",
                  "6:9: interview id `i` is already used at a.yaml:2:9",
                  "its own id"},
        // Rules: quota and actions.
        ErrorCase{"rule_quota_without_max",
                  "rules:\n  - id: r\n    pattern: { match: { event: x } }\n"
                  "    quota: { per: 1d }\n",
                  "4:12: a quota is missing `max`", "max: 5"},
        ErrorCase{"action_unknown_survey",
                  RuleUsing(kMatch, "{ survey: ss }", "Hi"),
                  "4:23: rule `r` asks for survey `ss`, which no file defines",
                  "the surveys are s"},
        ErrorCase{"action_survey_is_an_interview",
                  RuleUsing(kMatch, "{ survey: i }", "Hi"),
                  "4:23: rule `r` asks for survey `i`, which no file defines",
                  "action: { interview: i }"},
        ErrorCase{"action_unknown_interview",
                  RuleUsing(kMatch, "{ interview: pricing }", "Hi"),
                  "4:26: rule `r` asks for interview `pricing`",
                  "the interviews are i"},
        // Templates against the rule using them, at the placeholder.
        ErrorCase{
            "user_trait_without_default",
            RuleUsing(kMatch, "{ survey: s }", "'Hi {{user.first_name}}'"),
            "7:16: in the title of survey `s`: `{{user.first_name}}` "
            "may be missing when rule `r` asks",
            "{{user.first_name | default: \"there\"}}"},
        ErrorCase{"prop_without_default",
                  RuleUsing(kMatch, "{ survey: s }", "'{{match.props.code}}'"),
                  "7:13: in the title of survey `s`: `{{match.props.code}}` "
                  "may be missing when rule `r` asks",
                  "default:"},
        ErrorCase{"prop_not_grouped_by",
                  RuleUsing(kCount, "{ survey: s }", "'{{match.props.kind}}'"),
                  "7:13: in the title of survey `s`: `{{match.props.kind}}` "
                  "may be missing",
                  "group_by: [props.kind]"},
        ErrorCase{"unknown_alias",
                  RuleUsing(kSequence, "{ survey: s }",
                            "'{{match.upp.props.plan | default: \"x\"}}'"),
                  "7:13: in the title of survey `s`: "
                  "`{{match.upp.props.plan}}`: rule `r` has no step named "
                  "`upp`",
                  "did you mean {{match.up.props.plan}}?"},
        ErrorCase{"alias_on_a_match_rule",
                  RuleUsing(kMatch, "{ survey: s }",
                            "'{{match.up.props.plan | default: \"x\"}}'"),
                  "7:13: in the title of survey `s`: `{{match.up.props.plan}}`"
                  ": rule `r` has no step named `up`",
                  "only sequence steps"},
        ErrorCase{
            "alias_prop_without_default",
            RuleUsing(kSequence, "{ survey: s }", "'{{match.up.props.plan}}'"),
            "7:13: in the title of survey `s`: `{{match.up.props.plan}}`"
            " may be missing when rule `r` asks: step `up`",
            "default:"},
        // Contact policy.
        ErrorCase{"timezone_trait",
                  "contact_policy: { timezone_trait: \"my tz\" }\n",
                  "1:35: `my tz` is not a trait name", "timezone_trait:"},
        ErrorCase{"max_staleness_zero",
                  "contact_policy: { max_staleness: 0s }\n",
                  "1:34: max_staleness must be longer than 0s", "1h"},
        ErrorCase{"priority_window_text",
                  "contact_policy: { priority_window: soon }\n",
                  "1:36: `soon` is not a duration (in `priority_window`)",
                  "30s"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) {
      return info.param.name;
    });

TEST(SurveyErrorTest, TemplateErrorsGoToTheSurveyFileAndNameEachRule) {
  const std::vector<LoadError> errors = Errors({{"triggers.yaml", R"(rules:
  - id: a
    pattern: { match: { event: x } }
    action: { survey: s }
  - id: b
    pattern: { count: { event: e, group_by: [props.code], at_least: 2, within: 1m } }
    action: { survey: s }
)"},
                                                {"surveys/s.yaml", R"(surveys:
  - id: s
    title: Hi
    questions:
      - { id: q, type: text, text: 'Error {{match.props.code}}?' }
)"}});
  // Fine for b (it groups by props.code), not for a.
  ASSERT_THAT(errors, SizeIs(1)) << Join(errors);
  EXPECT_EQ(errors[0].ToString(),
            "surveys/s.yaml:5:43: in question `q` of survey `s`: "
            "`{{match.props.code}}` may be missing when rule `a` asks: its "
            "last event may have no `code` property (hint: add a default: "
            "{{match.props.code | default: \"unknown\"}})");
}

TEST(SurveyErrorTest, DuplicateIdsAcrossFilesPointAtBoth) {
  const std::string survey =
      "surveys:\n  - id: s\n    title: Hi\n    questions: [ { id: q, type: "
      "text, text: A } ]\n";
  const std::vector<LoadError> errors =
      Errors({{"a.yaml", survey}, {"b/c.yaml", survey}});
  ASSERT_THAT(errors, SizeIs(1)) << Join(errors);
  EXPECT_THAT(errors[0].ToString(),
              StartsWith("b/c.yaml:2:9: survey id `s` is already used at "
                         "a.yaml:2:9"));
}

TEST(SurveyErrorTest, AllErrorsOfASurveyFileInOnePass) {
  const std::vector<LoadError> errors = Errors({{"a.yaml", R"(surveys:
  - id: s
    title: 'Hi {{name}}'
    questions:
      - { id: q, type: stars, text: A }
      - { id: r, type: single_choice, text: B, choices: [ { id: a, label: A, friction: cost }, { id: b, label: B } ] }
  - id: t
    title: T
    questions: [ { id: q, type: text, text: '{{match.props.x | upper}}' } ]
interviews:
  - { id: i, invitation: I, booking_url: "www.x.com", duration: 30m, quota: { max: 0, per: 1d } }
)"}});
  std::vector<std::string> positions;
  for (const LoadError& e : errors) {
    positions.push_back(absl::StrCat(e.line, ":", e.column));
  }
  EXPECT_THAT(positions,
              ElementsAre("3:16", "5:24", "6:88", "9:64", "11:42", "11:84"))
      << Join(errors);
}

// ---------------------------------------------------------------------------
// The builder (rules made in code).

Rule MatchRule(const std::string& id) {
  Rule rule;
  rule.id = id;
  rule.pattern = MatchPattern{EventFilter{"x", nullptr}};
  return rule;
}

TEST(SurveyBuilderTest, ActionsMustNameKnownTargets) {
  Rule r = MatchRule("r");
  r.action = Action{Action::Kind::kSurvey, "s", absl::ZeroDuration(), {}};
  auto missing = RuleSetBuilder().AddRule(r).Build();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("survey \"s\""));

  Survey s;
  s.id = "s";
  // An interview with the survey's id does not count.
  Interview i;
  i.id = "s";
  EXPECT_FALSE(RuleSetBuilder().AddRule(r).AddInterview(i).Build().ok());
  auto ok = RuleSetBuilder().AddRule(r).AddSurvey(s).Build();
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->FindSurvey("s"), &(*ok)->surveys()[0]);

  Rule v = MatchRule("v");
  v.action = Action{Action::Kind::kInterview, "s", absl::ZeroDuration(), {}};
  EXPECT_TRUE(RuleSetBuilder().AddRule(v).AddInterview(i).Build().ok());
  EXPECT_FALSE(RuleSetBuilder().AddRule(v).AddSurvey(s).Build().ok());
}

TEST(SurveyBuilderTest, DuplicateIdsAndBadQuotas) {
  Survey s;
  s.id = "s";
  auto dup = RuleSetBuilder().AddSurvey(s).AddSurvey(s).Build();
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(dup.status().message(), HasSubstr("duplicate survey id"));
  Interview i;
  i.id = "i";
  EXPECT_FALSE(RuleSetBuilder().AddInterview(i).AddInterview(i).Build().ok());
  i.quota = Quota{0, absl::Hours(1)};
  EXPECT_FALSE(RuleSetBuilder().AddInterview(i).Build().ok());
  Rule r = MatchRule("r");
  r.quota = Quota{3, absl::ZeroDuration()};
  EXPECT_FALSE(RuleSetBuilder().AddRule(r).Build().ok());
  r.quota = Quota{3, absl::Hours(1)};
  EXPECT_TRUE(RuleSetBuilder().AddRule(r).Build().ok());
}

TEST(FrictionTest, FourTypes) {
  for (const char* t : {"product", "process", "pricing", "perception"}) {
    EXPECT_TRUE(IsFrictionType(t)) << t;
  }
  EXPECT_FALSE(IsFrictionType(""));
  EXPECT_FALSE(IsFrictionType("price"));
  EXPECT_FALSE(IsFrictionType("Product"));
}

// ---------------------------------------------------------------------------
// Parsing and rendering.

Template Parse(absl::string_view text) {
  Template t;
  t.source = std::string(text);
  std::vector<int> offsets;
  internal::TemplateError error;
  EXPECT_TRUE(internal::ParseTemplate(text, &t.parts, &offsets, &error))
      << error.message;
  EXPECT_EQ(offsets.size(), t.parts.size());
  return t;
}

hark::v1::Value Str(const std::string& s) {
  hark::v1::Value v;
  v.set_string_value(s);
  return v;
}
hark::v1::Value Num(double d) {
  hark::v1::Value v;
  v.set_number_value(d);
  return v;
}

TEST(TemplateParseTest, PartsOffsetsAndWhitespace) {
  Template t;
  std::vector<int> offsets;
  internal::TemplateError error;
  ASSERT_TRUE(internal::ParseTemplate(
      "a {{x.y}}{{  user.k  |  default :  \"it's \\\"ok\\\" }}\" }} z }}",
      &t.parts, &offsets, &error))
      << error.message;
  ASSERT_THAT(t.parts, SizeIs(4));
  EXPECT_EQ(t.parts[0].literal, "a ");
  EXPECT_EQ(t.parts[1].path, "x.y");
  EXPECT_FALSE(t.parts[1].default_value.has_value());
  EXPECT_EQ(t.parts[2].path, "user.k");
  EXPECT_EQ(t.parts[2].default_value, "it's \"ok\" }}");
  EXPECT_EQ(t.parts[3].literal, " z }}");
  EXPECT_THAT(offsets, ElementsAre(0, 2, 9, 54));
  // Empty text: no parts.
  ASSERT_TRUE(internal::ParseTemplate("", &t.parts, &offsets, &error));
  EXPECT_THAT(t.parts, IsEmpty());
  // A new {{ before the first is closed.
  EXPECT_FALSE(
      internal::ParseTemplate("{{a {{b}}", &t.parts, &offsets, &error));
  EXPECT_EQ(error.offset, 0);
  EXPECT_FALSE(internal::ParseTemplate("ok {{a | default: \"x}}", &t.parts,
                                       &offsets, &error));
  EXPECT_EQ(error.offset, 3);
}

hark::v1::Match ErrorMatch() {
  hark::v1::Match m;
  m.set_rule_id("repeated_errors");
  for (int i = 0; i < 3; ++i) {
    hark::v1::MatchedEvent* e = m.add_events();
    e->set_name("error");
    (*e->mutable_properties())["code"] = Str(i == 2 ? "E42" : "E41");
  }
  (*m.mutable_traits())["first_name"] = Str("Ada");
  return m;
}

TEST(RenderTemplateTest, FillsPathsFromTheMatch) {
  const hark::v1::Match m = ErrorMatch();
  EXPECT_EQ(RenderTemplate(Parse("Hi {{user.first_name | default: \"there\"}}"
                                 ", {{match.rule}}: {{match.event}} "
                                 "{{match.props.code}} x{{match.count}}"),
                           m),
            "Hi Ada, repeated_errors: error E42 x3");
}

TEST(RenderTemplateTest, MissingValuesUseTheDefaultOrNothing) {
  hark::v1::Match m = ErrorMatch();
  m.mutable_traits()->clear();
  const Template t = Parse(
      "Hi {{user.first_name | default: \"there\"}}{{user.last_name}}!"
      "{{match.props.nope | default: \"?\"}}");
  EXPECT_EQ(RenderTemplate(t, m), "Hi there!?");
  // Empty text counts as missing.
  (*m.mutable_traits())["first_name"] = Str("");
  EXPECT_EQ(RenderTemplate(t, m), "Hi there!?");
  // A match without events: no event, no properties, a count of 0.
  hark::v1::Match empty;
  EXPECT_EQ(RenderTemplate(Parse("[{{match.event | default: \"-\"}}]"
                                 "[{{match.props.a}}][{{match.count}}]"),
                           empty),
            "[-][][0]");
}

TEST(RenderTemplateTest, NumbersBooleansAndTimes) {
  hark::v1::Match m;
  hark::v1::MatchedEvent* e = m.add_events();
  auto& p = *e->mutable_properties();
  p["int"] = Num(3);
  p["neg"] = Num(-42);
  p["big"] = Num(9007199254740992.0);
  p["money"] = Num(19.99);
  p["third"] = Num(1.0 / 3);
  p["huge"] = Num(1e300);
  p["tiny"] = Num(0.000125);
  hark::v1::Value yes;
  yes.set_bool_value(true);
  p["yes"] = yes;
  hark::v1::Value no;
  no.set_bool_value(false);
  p["no"] = no;
  hark::v1::Value at;
  at.mutable_timestamp_value()->set_seconds(1714557600);
  p["at"] = at;
  hark::v1::Value at_frac;
  at_frac.mutable_timestamp_value()->set_seconds(1714557600);
  at_frac.mutable_timestamp_value()->set_nanos(500000000);
  p["at_frac"] = at_frac;
  p["unset"] = hark::v1::Value();
  auto render = [&](const std::string& key) {
    return RenderTemplate(
        Parse(absl::StrCat("{{match.props.", key, " | default: \"none\"}}")),
        m);
  };
  EXPECT_EQ(render("int"), "3");
  EXPECT_EQ(render("neg"), "-42");
  EXPECT_EQ(render("big"), "9007199254740992");
  EXPECT_EQ(render("money"), "19.99");
  EXPECT_EQ(render("third"), "0.3333333333333333");
  EXPECT_EQ(render("huge"), "1e+300");
  EXPECT_EQ(render("tiny"), "0.000125");
  EXPECT_EQ(render("yes"), "true");
  EXPECT_EQ(render("no"), "false");
  EXPECT_EQ(render("at"), "2024-05-01T10:00:00Z");
  EXPECT_EQ(render("at_frac"), "2024-05-01T10:00:00.5Z");
  EXPECT_EQ(render("unset"), "none");
}

TEST(RenderTemplateTest, StepAliases) {
  hark::v1::Match m;
  hark::v1::MatchedEvent* up = m.add_events();
  up->set_alias("up");
  (*up->mutable_properties())["to_plan"] = Str("pro");
  hark::v1::MatchedEvent* down = m.add_events();
  down->set_alias("down");
  (*down->mutable_properties())["to_plan"] = Str("free");
  const Template t = Parse(
      "{{match.up.props.to_plan | default: \"?\"}} -> "
      "{{match.down.props.to_plan | default: \"?\"}} "
      "(now {{match.props.to_plan}}; {{match.gone.props.x | default: \"-\"}})");
  EXPECT_EQ(RenderTemplate(t, m), "pro -> free (now free; -)");
}

// ---------------------------------------------------------------------------
// Booking links.

TEST(BookingUrlTest, TokenInItsPlaceOrAppended) {
  Interview i;
  i.booking_url = "https://cal.example.com/p?token={{token}}&x=1";
  EXPECT_EQ(RenderBookingUrl(i, "abc-123_x"),
            "https://cal.example.com/p?token=abc-123_x&x=1");
  i.booking_url = "https://cal.example.com/{{token}}/{{token}}";
  EXPECT_EQ(RenderBookingUrl(i, "t"), "https://cal.example.com/t/t");
  i.booking_url = "https://cal.example.com/p";
  EXPECT_EQ(RenderBookingUrl(i, "t"), "https://cal.example.com/p?hark_token=t");
  i.booking_url = "https://cal.example.com/p?a=b";
  EXPECT_EQ(RenderBookingUrl(i, "t"),
            "https://cal.example.com/p?a=b&hark_token=t");
  i.booking_url = "https://cal.example.com/p?";
  EXPECT_EQ(RenderBookingUrl(i, "t"), "https://cal.example.com/p?hark_token=t");
  i.booking_url = "https://cal.example.com/p#slot";
  EXPECT_EQ(RenderBookingUrl(i, "t"),
            "https://cal.example.com/p?hark_token=t#slot");
  // Not URL-safe: escaped anyway.
  i.booking_url = "https://cal.example.com/p";
  EXPECT_EQ(RenderBookingUrl(i, "a b&c"),
            "https://cal.example.com/p?hark_token=a%20b%26c");
}

// ---------------------------------------------------------------------------
// The shipped rules folder.

TEST(ShippedSurveysTest, EveryActionHasItsTargetAndTemplatesRender) {
  auto files = ReadRuleDir(HARK_SOURCE_DIR "/rules");
  ASSERT_TRUE(files.ok()) << files.status();
  auto set = LoadOk(*files);
  ASSERT_NE(set, nullptr);
  for (const Rule& r : set->rules()) {
    ASSERT_TRUE(r.action.has_value()) << r.id;
    if (r.action->kind == Action::Kind::kSurvey) {
      const Survey* s = set->FindSurvey(r.action->target);
      ASSERT_NE(s, nullptr) << r.id;
      EXPECT_GE(s->questions.size(), 1u);
      EXPECT_LE(s->questions.size(), 3u);
    } else {
      EXPECT_NE(set->FindInterview(r.action->target), nullptr) << r.id;
    }
  }
  const Survey* pulse = set->FindSurvey("error_pulse");
  ASSERT_NE(pulse, nullptr);
  EXPECT_THAT(RenderTemplate(pulse->questions[0].text, ErrorMatch()),
              HasSubstr("error E42 a few times"));
  const Survey* cancel = set->FindSurvey("cancel_exit");
  ASSERT_NE(cancel, nullptr);
  EXPECT_EQ(RenderTemplate(cancel->title, hark::v1::Match()),
            "Before you go, there");
  const Interview* pricing = set->FindInterview("pricing_interview");
  ASSERT_NE(pricing, nullptr);
  EXPECT_EQ(RenderBookingUrl(*pricing, "tok"),
            "https://calendar.example.com/hark/pricing?token=tok");
  EXPECT_EQ(pricing->duration, absl::Minutes(30));
  EXPECT_EQ(pricing->incentive, "$50 gift card");
  ASSERT_TRUE(pricing->quota.has_value());
  EXPECT_EQ(pricing->quota->max, 5);
  EXPECT_EQ(pricing->quota->per, absl::Hours(24 * 7));
}

}  // namespace
}  // namespace hark::rules
