#include "clients/hark/prompts_format.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace hark::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// 2026-11-22T10:31:05Z.
constexpr int64_t kAt = 1795343465;

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos = 0) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

hark::v1::TimelineEntry Entry(int64_t at, const std::string& kind,
                              const std::string& summary) {
  hark::v1::TimelineEntry e;
  *e.mutable_at() = Ts(at);
  e.set_kind(kind);
  e.set_summary(summary);
  return e;
}

hark::v1::Prompt Survey() {
  hark::v1::Prompt p;
  p.set_prompt_id("p-1");
  p.set_user_id("u-42");
  p.set_kind(hark::v1::Prompt::SURVEY);
  p.set_state(hark::v1::Prompt::DELIVERED);
  p.set_rule_id("repeated_errors");
  p.set_definition_id("error_feedback");
  p.set_match_id("m-17");
  p.set_title("Something keeps failing?");
  p.set_priority(5);
  *p.mutable_due_at() = Ts(kAt);
  *p.mutable_expires_at() = Ts(kAt + 7 * 86400);
  p.set_cursor("c-118");
  hark::v1::Question* ease = p.add_questions();
  ease->set_id("ease");
  ease->set_type(hark::v1::Question::CES);
  ease->set_text("How easy was it to get past E4012?");
  ease->set_required(true);
  hark::v1::Question* cause = p.add_questions();
  cause->set_id("cause");
  cause->set_type(hark::v1::Question::SINGLE_CHOICE);
  cause->set_text("What got in the way?");
  hark::v1::Choice* docs = cause->add_choices();
  docs->set_id("docs");
  docs->set_label("The documentation");
  hark::v1::Choice* billing = cause->add_choices();
  billing->set_id("billing");
  billing->set_label("Billing");
  return p;
}

hark::v1::Prompt Interview() {
  hark::v1::Prompt p;
  p.set_prompt_id("p-2");
  p.set_user_id("u-7");
  p.set_kind(hark::v1::Prompt::INTERVIEW);
  p.set_state(hark::v1::Prompt::PENDING);
  p.set_rule_id("downgrade_after_upgrade");
  p.set_definition_id("pricing_talk");
  p.set_title("Would you talk to us about pricing?");
  p.set_booking_url("https://cal.example.com/b/tok-9");
  p.set_incentive("$50 gift card");
  p.set_duration_minutes(30);
  return p;
}

TEST(FormatUtcTimeTest, SecondsInUtcWithoutZone) {
  EXPECT_EQ(FormatUtcTime(Ts(kAt)), "2026-11-22 10:31:05");
  // Fractions are dropped, not rounded.
  EXPECT_EQ(FormatUtcTime(Ts(kAt, 999'000'000)), "2026-11-22 10:31:05");
  EXPECT_EQ(FormatUtcTime(Ts(0)), "-");
}

TEST(FormatTimelineTest, HeaderThenOneAlignedLinePerEntry) {
  std::vector<hark::v1::TimelineEntry> entries = {
      Entry(kAt, "event", "error code=\"E4012\""),
      Entry(kAt, "match", "rule repeated_errors matched for group E4012"),
      Entry(kAt + 1, "decision",
            "rule repeated_errors: sent survey error_feedback"),
      Entry(kAt + 247, "prompt", "survey error_feedback: shown"),
  };
  EXPECT_EQ(FormatTimeline("u-42", entries),
            "Timeline of u-42 (4 entries, UTC)\n"
            "2026-11-22 10:31:05  event     error code=\"E4012\"\n"
            "2026-11-22 10:31:05  match     rule repeated_errors matched for "
            "group E4012\n"
            "2026-11-22 10:31:06  decision  rule repeated_errors: sent survey "
            "error_feedback\n"
            "2026-11-22 10:35:12  prompt    survey error_feedback: shown\n");
}

TEST(FormatTimelineTest, OneEntryKeepsLinesOnOneLine) {
  std::vector<hark::v1::TimelineEntry> entries = {
      Entry(kAt, "match", "two\nlines")};
  hark::v1::TimelineEntry no_time;
  no_time.set_summary("x");
  entries.push_back(no_time);
  EXPECT_EQ(FormatTimeline("u-1", entries),
            "Timeline of u-1 (2 entries, UTC)\n"
            "2026-11-22 10:31:05  match  two lines\n"
            "-                    -      x\n");
  EXPECT_THAT(FormatTimeline("u-1", {entries[0]}), HasSubstr("(1 entry, UTC)"));
}

TEST(FormatTimelineTest, EmptySaysWhatToCheck) {
  const std::string out = FormatTimeline("u-42", {});
  EXPECT_THAT(out, HasSubstr("no events matched a rule for u-42 yet"));
  EXPECT_THAT(out, HasSubstr("hark matches --user u-42"));
  EXPECT_EQ(out.back(), '\n');
}

TEST(JsonLineTest, OneLineWithProtoFieldNames) {
  hark::v1::TimelineEntry e = Entry(kAt, "match", "rule r matched");
  (*e.mutable_details())["match_id"].set_string_value("m-1");
  absl::StatusOr<std::string> line = JsonLine(e);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_THAT(*line, Not(HasSubstr("\n")));
  EXPECT_THAT(*line, HasSubstr("\"at\":\"2026-11-22T10:31:05Z\""));
  EXPECT_THAT(*line, HasSubstr("\"kind\":\"match\""));
  EXPECT_THAT(*line, HasSubstr("\"match_id\":{\"string_value\":\"m-1\"}"));
  // It reads back as the same entry.
  hark::v1::TimelineEntry back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*line, &back).ok());
  EXPECT_EQ(back.SerializeAsString(), e.SerializeAsString());

  absl::StatusOr<std::string> prompt = JsonLine(Interview());
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_THAT(*prompt, HasSubstr("\"prompt_id\":\"p-2\""));
  EXPECT_THAT(*prompt, HasSubstr("\"kind\":\"INTERVIEW\""));
  EXPECT_THAT(*prompt, HasSubstr("\"duration_minutes\":30"));
  EXPECT_THAT(*prompt, HasSubstr("\"booking_url\":\"https://cal.example.com"));
}

TEST(NamesTest, KindsStatesAndQuestionTypes) {
  EXPECT_EQ(PromptKindName(hark::v1::Prompt::SURVEY), "survey");
  EXPECT_EQ(PromptKindName(hark::v1::Prompt::INTERVIEW), "interview");
  EXPECT_EQ(PromptKindName(static_cast<hark::v1::Prompt::Kind>(9)),
            "unknown kind (9)");
  EXPECT_EQ(PromptStateName(hark::v1::Prompt::PENDING), "pending");
  EXPECT_EQ(PromptStateName(hark::v1::Prompt::DELIVERED), "delivered");
  EXPECT_EQ(PromptStateName(hark::v1::Prompt::SHOWN), "shown");
  EXPECT_EQ(PromptStateName(hark::v1::Prompt::ANSWERED), "answered");
  EXPECT_EQ(PromptStateName(hark::v1::Prompt::DISMISSED), "dismissed");
  EXPECT_EQ(PromptStateName(hark::v1::Prompt::EXPIRED), "expired");
  EXPECT_EQ(PromptStateName(hark::v1::Prompt::STATE_UNSPECIFIED),
            "unknown state (0)");
  EXPECT_EQ(QuestionTypeName(hark::v1::Question::RATING), "rating 1-5");
  EXPECT_EQ(QuestionTypeName(hark::v1::Question::NPS), "nps 0-10");
  EXPECT_EQ(QuestionTypeName(hark::v1::Question::CES), "ces 1-7");
  EXPECT_EQ(QuestionTypeName(hark::v1::Question::SINGLE_CHOICE),
            "single choice");
  EXPECT_EQ(QuestionTypeName(hark::v1::Question::MULTI_CHOICE), "multi choice");
  EXPECT_EQ(QuestionTypeName(hark::v1::Question::TEXT), "text");
}

TEST(FormatPromptTest, SurveyWithQuestionsAndChoices) {
  EXPECT_EQ(FormatPrompt(Survey()),
            "survey p-1  (delivered, priority 5)\n"
            "  user        u-42\n"
            "  rule        repeated_errors\n"
            "  definition  error_feedback\n"
            "  match       m-17\n"
            "  title       Something keeps failing?\n"
            "  due         2026-11-22 10:31:05 UTC\n"
            "  expires     2026-11-29 10:31:05 UTC\n"
            "  questions\n"
            "    1. ease  ces 1-7, required\n"
            "       How easy was it to get past E4012?\n"
            "    2. cause  single choice\n"
            "       What got in the way?\n"
            "         - docs     The documentation\n"
            "         - billing  Billing\n");
}

TEST(FormatPromptTest, InterviewShowsBookingIncentiveAndDuration) {
  EXPECT_EQ(FormatPrompt(Interview()),
            "interview p-2  (pending, priority 0)\n"
            "  user        u-7\n"
            "  rule        downgrade_after_upgrade\n"
            "  definition  pricing_talk\n"
            "  title       Would you talk to us about pricing?\n"
            "  booking     https://cal.example.com/b/tok-9\n"
            "  incentive   $50 gift card\n"
            "  duration    30 minutes\n");
}

TEST(FormatPromptTest, MultiLineTitleIsIndentedUnderItself) {
  hark::v1::Prompt p = Interview();
  p.set_title("Hi!\nWould you talk to us?");
  p.clear_booking_url();
  p.clear_incentive();
  p.set_duration_minutes(1);
  EXPECT_THAT(FormatPrompt(p), HasSubstr("  title       Hi!\n"
                                         "              Would you talk to us?\n"
                                         "  duration    1 minute\n"));
}

TEST(FormatPromptsTest, CountThenBlocksSeparatedByBlankLines) {
  std::vector<hark::v1::Prompt> prompts = {Survey(), Interview()};
  const std::string out = FormatPrompts("u-42", prompts);
  EXPECT_EQ(out, "2 prompts for u-42, now marked delivered\n\n" +
                     FormatPrompt(prompts[0]) + "\n" +
                     FormatPrompt(prompts[1]));
  EXPECT_THAT(FormatPrompts("u-42", {Survey()}),
              HasSubstr("1 prompt for u-42,"));
  EXPECT_EQ(FormatPrompts("u-42", {}), "no prompts due for u-42 now\n");
}

TEST(PromptWatchTest, FixedColumnsAndOneLinePerPrompt) {
  EXPECT_EQ(PromptWatchHeader(),
            "DUE (UTC)            CURSOR        USER          KIND       "
            "RULE                      TITLE\n");
  EXPECT_EQ(FormatPromptWatchLine(Survey()),
            "2026-11-22 10:31:05  c-118         u-42          survey     "
            "repeated_errors           Something keeps failing?\n");
  hark::v1::Prompt p = Interview();
  p.set_title("two\nlines");
  EXPECT_EQ(FormatPromptWatchLine(p),
            "-                    -             u-7           interview  "
            "downgrade_after_upgrade   two lines\n");
  // A long value pushes the rest right rather than being cut.
  p.set_cursor("cursor-0123456789abcdef");
  EXPECT_THAT(FormatPromptWatchLine(p),
              HasSubstr("cursor-0123456789abcdef  u-7"));
}

TEST(FormatPromptEventResultTest, NamesTheNewState) {
  hark::v1::RecordPromptEventResponse response;
  response.set_state(hark::v1::Prompt::SHOWN);
  EXPECT_EQ(FormatPromptEventResult("p-1", response),
            "prompt p-1 is now shown\n");
  response.set_state(hark::v1::Prompt::DISMISSED);
  EXPECT_EQ(FormatPromptEventResult("p-1", response),
            "prompt p-1 is now dismissed\n");
}

}  // namespace
}  // namespace hark::cli
