#include "clients/hark/responses_format.h"

#include <string>
#include <vector>

#include "clients/hark/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "review_samples.h"

namespace hark::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::InterviewResponse;
using ::testing::Not;
using testing::SurveyResponse;

TEST(AnswerValueTest, EveryKind) {
  hark::v1::Answer a;
  EXPECT_EQ(AnswerValue(a), "");
  a.set_score(0);
  EXPECT_EQ(AnswerValue(a), "0");
  a.set_choice("billing");
  EXPECT_EQ(AnswerValue(a), "billing");
  a.mutable_choices()->add_ids("docs");
  a.mutable_choices()->add_ids("chat");
  EXPECT_EQ(AnswerValue(a), "docs,chat");
  a.set_text("two\nlines");
  EXPECT_EQ(AnswerValue(a), "two\nlines");
}

TEST(ResponseTextTest, TextAnswersThenNotes) {
  EXPECT_EQ(ResponseText(SurveyResponse()),
            "The invoice export failed twice.\nThen the card was charged.");
  EXPECT_EQ(ResponseText(InterviewResponse()),
            "Seats are too expensive for a team of 3.");
  EXPECT_EQ(ResponseScore(SurveyResponse()), "2");
  EXPECT_EQ(ResponseScore(InterviewResponse()), "");
}

TEST(FormatResponseTableTest, OneLinePerResponseCutToTheWidth) {
  hark::v1::Response choice_only = SurveyResponse();
  choice_only.set_response_id("r_1111222233334444");
  choice_only.mutable_answers()->RemoveLast();  // no free text
  choice_only.mutable_tags(0)->set_source("choice");
  const std::vector<hark::v1::Response> responses = {
      SurveyResponse(), InterviewResponse(), choice_only};
  const std::string table = FormatResponseTable(responses, 120);
  EXPECT_EQ(
      table,
      "ID                  SUBMITTED (UTC)   USER  RULE                     "
      "FRICTION          SCORE  TEXT\n"
      "r_00c0ffee00c0ffee  2026-11-22 10:35  u-42  repeated_errors          "
      "pricing (manual)      2  The invoice export failed…\n"
      "r_0badcafe0badcafe  2026-11-22 09:31  u-7   downgrade_after_upgrade  "
      "pricing (text)        -  Seats are too expensive f…\n"
      "r_1111222233334444  2026-11-22 10:35  u-42  repeated_errors          "
      "pricing (choice)      2  ease=2 cause=billing\n");
}

TEST(FormatResponseTableTest, TextKeepsAtLeastTwentyColumns) {
  hark::v1::Response r = SurveyResponse();
  r.set_user_id("user-with-a-very-long-identifier");
  const std::string table = FormatResponseTable({r}, 60);
  EXPECT_THAT(table, HasSubstr("  user-with-a-v…  "));
  EXPECT_THAT(table, HasSubstr("  The invoice export …\n"));
}

TEST(FormatResponseTableTest, NoScoreColumnWithoutScores) {
  EXPECT_EQ(
      FormatResponseTable({InterviewResponse()}, 125),
      "ID                  SUBMITTED (UTC)   USER  RULE                     "
      "FRICTION        TEXT\n"
      "r_0badcafe0badcafe  2026-11-22 09:31  u-7   downgrade_after_upgrade  "
      "pricing (text)  Seats are too expensive for a team of 3.\n");
}

TEST(FormatResponseTableTest, EmptyAndNextPage) {
  EXPECT_EQ(FormatResponseTable({}, 100), "no responses match\n");
  EXPECT_EQ(NextPageHint("r118"),
            "more: add --page-token r118 for the next page, or --all for "
            "every page\n");
}

TEST(FormatResponseTest, SurveyWithItsContext) {
  EXPECT_EQ(
      FormatResponse(SurveyResponse()),
      "response r_00c0ffee00c0ffee  (survey)\n"
      "  prompt      p_00c0ffee00c0ffee\n"
      "  user        u-42\n"
      "  rule        repeated_errors\n"
      "  survey      error_feedback\n"
      "  submitted   2026-11-22 10:35:12 UTC\n"
      "\n"
      "answers to \"Something keeps failing?\"\n"
      "  ease     How easy was it to get past E4012?\n"
      "             2 (ces 1-7)\n"
      "  cause    What got in the way?\n"
      "             billing: Billing\n"
      "  details  Anything else?\n"
      "             The invoice export failed twice.\n"
      "             Then the card was charged.\n"
      "  contact  May we contact you?\n"
      "             (no answer)\n"
      "\n"
      "tags (primary first)\n"
      "  pricing (primary)  manual  1.00\n"
      "  product            text    0.60\n"
      "\n"
      "tag history (oldest first)\n"
      "  2026-11-22 10:35:12  product  choice  0.90  by harkd\n"
      "  2026-11-23 10:31:05  pricing  manual  1.00  by alice: \"about the "
      "charge, not the export\"\n"
      "\n"
      "match 00c0ffee00c0ffee at 2026-11-22 10:31:05 UTC, group E4012\n"
      "  events that triggered it\n"
      "    2026-11-22 10:29:05  error  code=\"E4012\" severity=\"error\"\n"
      "    2026-11-22 10:30:05  error  code=\"E4012\" severity=\"error\"\n"
      "    2026-11-22 10:31:05  error  code=\"E4012\" severity=\"error\"\n"
      "  traits at match time\n"
      "    plan   \"pro\"\n"
      "    seats  5\n");
}

TEST(FormatResponseTest, AnswersWithoutThePromptAreIdsAndValues) {
  hark::v1::Response r = SurveyResponse();
  r.clear_prompt();
  r.add_answers()->set_question_id("empty");
  hark::v1::Answer* picked = r.add_answers();
  picked->set_question_id("tried");
  picked->mutable_choices()->add_ids("docs");
  picked->mutable_choices()->add_ids("chat");
  EXPECT_THAT(FormatResponse(r), HasSubstr("\nanswers\n"
                                           "  ease     2\n"
                                           "  cause    billing\n"
                                           "  details  The invoice export "
                                           "failed twice.\n"
                                           "           Then the card was "
                                           "charged.\n"
                                           "  empty    (empty)\n"
                                           "  tried    docs,chat\n"
                                           "\ntags"));
}

TEST(FormatResponseTest, MultipleChoicesWithLabelsAndAnswersBeyondThePrompt) {
  hark::v1::Response r = SurveyResponse();
  hark::v1::Question* q = r.mutable_prompt()->add_questions();
  q->set_id("tried");
  q->set_type(hark::v1::Question::MULTI_CHOICE);
  q->set_text("What did you try?");
  q->add_choices()->set_id("docs");
  q->mutable_choices(0)->set_label("Read the docs");
  q->add_choices()->set_id("chat");
  hark::v1::Answer* picked = r.add_answers();
  picked->set_question_id("tried");
  picked->mutable_choices()->add_ids("docs");
  picked->mutable_choices()->add_ids("chat");
  r.add_answers()->set_question_id("legacy");
  r.mutable_answers(4)->set_score(9);
  EXPECT_THAT(FormatResponse(r), HasSubstr("  tried    What did you try?\n"
                                           "             docs: Read the docs\n"
                                           "             chat\n"
                                           "  legacy   9\n"
                                           "\ntags"));
}

TEST(FormatResponseTest, InterviewShowsStatusNotesAndUpdate) {
  const std::string out = FormatResponse(InterviewResponse());
  EXPECT_EQ(out,
            "response r_0badcafe0badcafe  (interview)\n"
            "  prompt      p_0badcafe0badcafe\n"
            "  user        u-7\n"
            "  rule        downgrade_after_upgrade\n"
            "  interview   pricing_interview\n"
            "  submitted   2026-11-22 09:31:05 UTC\n"
            "  updated     2026-11-24 10:31:05 UTC\n"
            "  status      completed\n"
            "  notes       Seats are too expensive for a team of 3.\n"
            "\n"
            "tags (primary first)\n"
            "  pricing (primary)  text  0.80\n"
            "\n"
            "tag history (oldest first)\n"
            "  2026-11-22 10:31:05  pricing  text  0.80  by harkd\n"
            "\n"
            "match 0badcafe0badcafe at 2026-11-22 08:31:05 UTC\n"
            "  events that triggered it\n"
            "    -  plan_changed(up)\n"
            "    -  plan_changed(down)\n");
}

TEST(FormatResponseTest, BareResponse) {
  hark::v1::Response r;
  r.set_response_id("r_1");
  EXPECT_EQ(FormatResponse(r),
            "response r_1\n"
            "  submitted   -\n"
            "\n"
            "tags (primary first)\n"
            "  (none)\n");
}

TEST(FormatTagResultTest, PrimaryTagAndHistoryLength) {
  EXPECT_EQ(FormatTagResult(SurveyResponse()),
            "response r_00c0ffee00c0ffee is now tagged pricing (manual, by "
            "alice); 2 entries in its tag history\n");
  hark::v1::Response untagged;
  untagged.set_response_id("r_2");
  untagged.add_tag_history();
  EXPECT_EQ(FormatTagResult(untagged),
            "response r_2 is now without a primary tag; 1 entry in its tag "
            "history\n");
}

TEST(ResponseCsvTest, ColumnsAndFields) {
  const std::vector<std::string> header = ResponseCsvHeader();
  EXPECT_THAT(header, ElementsAre("response_id", "submitted_at", "user_id",
                                  "rule_id", "definition_id", "kind",
                                  "friction", "friction_source", "confidence",
                                  "secondary_frictions", "manually_tagged_by",
                                  "score", "answers", "text",
                                  "interview_status", "matched_at", "traits"));
  EXPECT_THAT(
      ResponseCsvFields(SurveyResponse()),
      ElementsAre("r_00c0ffee00c0ffee", "2026-11-22T10:35:12Z", "u-42",
                  "repeated_errors", "error_feedback", "survey", "pricing",
                  "manual", "1.00", "product", "alice", "2",
                  "ease=2; cause=billing; details=The invoice export failed "
                  "twice.\nThen the card was charged.",
                  "The invoice export failed twice.\nThen the card was "
                  "charged.",
                  "", "2026-11-22T10:31:05Z", "plan=pro; seats=5"));
  EXPECT_THAT(ResponseCsvFields(InterviewResponse()),
              ElementsAre("r_0badcafe0badcafe", "2026-11-22T09:31:05Z", "u-7",
                          "downgrade_after_upgrade", "pricing_interview",
                          "interview", "pricing", "text", "0.80", "", "", "",
                          "", "Seats are too expensive for a team of 3.",
                          "completed", "2026-11-22T08:31:05Z", ""));
  hark::v1::Response empty;
  EXPECT_EQ(ResponseCsvFields(empty).size(), header.size());
}

TEST(ResponseCsvTest, SecondaryFrictionsOnceAndNotThePrimary) {
  hark::v1::Response r = SurveyResponse();
  testing::AddTag(r.mutable_tags(), "pricing", "text", 0.4, false, 0);
  testing::AddTag(r.mutable_tags(), "process", "text", 0.3, false, 0);
  testing::AddTag(r.mutable_tags(), "product", "hypothesis", 0.2, false, 0);
  // Fractions of seconds are dropped.
  r.mutable_submitted_at()->set_nanos(250'000'000);
  const std::vector<std::string> fields = ResponseCsvFields(r);
  EXPECT_EQ(fields[1], "2026-11-22T10:35:12Z");
  EXPECT_EQ(fields[9], "product;process");
}

TEST(SubmitAndInterviewResultTest, Lines) {
  hark::v1::SubmitResponseResponse submitted;
  submitted.set_response_id("r_00c0ffee00c0ffee");
  submitted.set_friction("pricing");
  EXPECT_EQ(FormatSubmitResult("p_00c0ffee00c0ffee", submitted),
            "response r_00c0ffee00c0ffee stored for prompt p_00c0ffee00c0ffee; "
            "friction: pricing\n");
  hark::v1::RecordInterviewResponse recorded;
  recorded.set_response_id("r_0badcafe0badcafe");
  EXPECT_EQ(FormatInterviewResult("p_0badcafe0badcafe", "booked", recorded),
            "interview p_0badcafe0badcafe: booked (response "
            "r_0badcafe0badcafe)\n");
}

TEST(FormatDeleteUserResultTest, RowsByTableLargestFirst) {
  hark::v1::DeleteUserResponse response;
  (*response.mutable_deleted())["events"] = 1204;
  (*response.mutable_deleted())["traits"] = 3;
  (*response.mutable_deleted())["matches"] = 3;
  (*response.mutable_deleted())["responses"] = 1;
  (*response.mutable_deleted())["tags"] = 0;
  EXPECT_EQ(FormatDeleteUserResult("u-42", response),
            "deleted u-42: 1,211 rows\n"
            "  events     1,204\n"
            "  matches        3\n"
            "  traits         3\n"
            "  responses      1\n"
            "note: aggregates already reported are not rewritten: reports and "
            "exports made before still count u-42; later ones do not\n");
  hark::v1::DeleteUserResponse nothing;
  (*nothing.mutable_deleted())["events"] = 0;
  EXPECT_EQ(FormatDeleteUserResult("u-404", nothing),
            "harkd held nothing about u-404; nothing was deleted (check the "
            "user id)\n");
}

}  // namespace
}  // namespace hark::cli
