#include "clients/hark/review_args.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::cli {
namespace {

using ::testing::HasSubstr;

// 2026-11-22T10:31:05Z.
const absl::Time kNow = absl::FromUnixSeconds(1795343465);

absl::StatusOr<hark::v1::ResponseFilter> Filter(
    std::vector<OptionArg> options) {
  return ParseResponseFilter(options, kNow);
}

std::string ErrorOf(std::vector<OptionArg> options) {
  absl::StatusOr<hark::v1::ResponseFilter> f = Filter(options);
  EXPECT_FALSE(f.ok()) << f->DebugString();
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(f.status().message());
}

TEST(ParseFilterTimeTest, Rfc3339DateOrTimeAgo) {
  EXPECT_EQ(ParseFilterTime("2026-11-01T09:30:00Z", kNow)->seconds(),
            1793525400);
  EXPECT_EQ(ParseFilterTime("2026-11-01T10:30:00+01:00", kNow)->seconds(),
            1793525400);
  EXPECT_EQ(ParseFilterTime("2026-11-01", kNow)->seconds(), 1793491200);
  EXPECT_EQ(ParseFilterTime("7d", kNow)->seconds(), 1795343465 - 7 * 86400);
  EXPECT_EQ(ParseFilterTime("2w", kNow)->seconds(), 1795343465 - 14 * 86400);
  EXPECT_EQ(ParseFilterTime("12h", kNow)->seconds(), 1795343465 - 12 * 3600);
  EXPECT_EQ(ParseFilterTime("1h30m", kNow)->seconds(), 1795343465 - 5400);
  EXPECT_EQ(ParseFilterTime("0s", kNow)->seconds(), 1795343465);
  for (const char* bad : {"", "yesterday", "7", "-7d", "d", "7days",
                          "2026-13-01", "2026-11-01T09:30:00", "1.5d", "+3h"}) {
    absl::StatusOr<google::protobuf::Timestamp> t = ParseFilterTime(bad, kNow);
    EXPECT_FALSE(t.ok()) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("is not a time")) << bad;
  }
}

TEST(ParseResponseFilterTest, EveryOption) {
  absl::StatusOr<hark::v1::ResponseFilter> f =
      Filter({{"friction", "pricing"},
              {"any-tag", ""},
              {"source", "text"},
              {"rule", "repeated_errors"},
              {"survey", "error_feedback"},
              {"from", "7d"},
              {"to", "2026-11-22T00:00:00Z"},
              {"trait", "plan=pro"},
              {"score", "0-6"},
              {"text", "invoice"},
              {"limit", "10"},  // not a filter: left alone
              {"format", "json"}});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->friction(), "pricing");
  EXPECT_TRUE(f->any_tag());
  EXPECT_EQ(f->source(), "text");
  EXPECT_EQ(f->rule_id(), "repeated_errors");
  EXPECT_EQ(f->definition_id(), "error_feedback");
  EXPECT_EQ(f->from().seconds(), 1795343465 - 7 * 86400);
  EXPECT_EQ(f->to().seconds(), 1795305600);
  EXPECT_EQ(f->trait(), "plan=pro");
  EXPECT_EQ(f->min_score(), 0);
  EXPECT_EQ(f->max_score(), 6);
  EXPECT_EQ(f->text_contains(), "invoice");
}

TEST(ParseResponseFilterTest, NothingGivenIsNoFilter) {
  absl::StatusOr<hark::v1::ResponseFilter> f = Filter({});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->ByteSizeLong(), 0u);
}

TEST(ParseResponseFilterTest, SingleScoreAndTraitValueWithEquals) {
  absl::StatusOr<hark::v1::ResponseFilter> f =
      Filter({{"score", "9"}, {"trait", "ref=a=b"}});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->min_score(), 9);
  EXPECT_EQ(f->max_score(), 9);
  EXPECT_EQ(f->trait(), "ref=a=b");
  f = Filter({{"score", "0-10"}, {"trait", "plan="}});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->max_score(), 10);
  EXPECT_EQ(f->trait(), "plan=");
}

TEST(ParseResponseFilterTest, ScoreErrors) {
  EXPECT_THAT(ErrorOf({{"score", "5-1"}}),
              HasSubstr("--score range '5-1' is empty: its low end 5 is above "
                        "its high end 1 (write it as 1-5)"));
  for (const char* bad :
       {"abc", "11", "-1", "1-", "-", "1-2-3", "3.5", "+3", ""}) {
    EXPECT_THAT(ErrorOf({{"score", bad}}),
                HasSubstr("--score takes a score or a range of scores"))
        << bad;
  }
  EXPECT_THAT(ErrorOf({{"score", "0"}}), HasSubstr("0-0 as no score filter"));
}

TEST(ParseResponseFilterTest, TraitNeedsKeyAndValue) {
  EXPECT_EQ(ErrorOf({{"trait", "plan"}}),
            "--trait takes KEY=VALUE (for example plan=pro), got 'plan'");
  EXPECT_THAT(ErrorOf({{"trait", "=pro"}}), HasSubstr("got '=pro'"));
}

TEST(ParseResponseFilterTest, BadTimesAndEmptyRange) {
  EXPECT_THAT(ErrorOf({{"from", "last week"}}),
              HasSubstr("--from 'last week' is not a time"));
  EXPECT_THAT(ErrorOf({{"to", "2026-11-31"}}), HasSubstr("--to "));
  EXPECT_EQ(ErrorOf({{"from", "1d"}, {"to", "2d"}}),
            "--from is after --to; the time range is empty");
}

TEST(ParseResponseFilterTest, NamesAreChecked) {
  EXPECT_THAT(ErrorOf({{"friction", "price"}}),
              HasSubstr("--friction must be product, process, pricing, "
                        "perception or unknown, got 'price'"));
  EXPECT_THAT(ErrorOf({{"source", "auto"}}),
              HasSubstr("--source must be choice, text, hypothesis or manual"));
  EXPECT_THAT(ErrorOf({{"any-tag", ""}}),
              HasSubstr("--any-tag needs --friction"));
}

TEST(ParseResponseFilterTest, AnOptionGivenTwiceIsAnError) {
  EXPECT_EQ(ErrorOf({{"rule", "a"}, {"rule", "b"}}),
            "--rule is given twice; a filter takes one");
}

TEST(ParseAnswerArgsTest, AnswersInTheOrderGiven) {
  absl::StatusOr<std::vector<hark::v1::Answer>> answers =
      ParseAnswerArgs({{"score", "nps=9"},
                       {"server", "ignored"},
                       {"choice", "cause=billing"},
                       {"choices", "tried=docs,chat"},
                       {"text", "details=a=b, \"c\"\nnext line"}});
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), 4u);
  EXPECT_EQ((*answers)[0].question_id(), "nps");
  EXPECT_EQ((*answers)[0].score(), 9);
  EXPECT_EQ((*answers)[1].choice(), "billing");
  EXPECT_THAT((*answers)[2].choices().ids(),
              ::testing::ElementsAre("docs", "chat"));
  EXPECT_EQ((*answers)[3].question_id(), "details");
  EXPECT_EQ((*answers)[3].text(), "a=b, \"c\"\nnext line");
}

TEST(ParseAnswerArgsTest, ScoresOutOfRangeArePassedThroughForHarkdToCheck) {
  absl::StatusOr<std::vector<hark::v1::Answer>> answers =
      ParseAnswerArgs({{"score", "nps=11"}, {"score", "ease=-3"}});
  ASSERT_TRUE(answers.ok());
  EXPECT_EQ((*answers)[0].score(), 11);
  EXPECT_EQ((*answers)[1].score(), -3);
  EXPECT_TRUE(ParseAnswerArgs({})->empty());
  // Empty text is an answer too (harkd decides whether it counts).
  EXPECT_EQ(ParseAnswerArgs({{"text", "details="}})->at(0).text(), "");
}

TEST(ParseAnswerArgsTest, Errors) {
  auto error = [](std::vector<OptionArg> options) {
    absl::StatusOr<std::vector<hark::v1::Answer>> a = ParseAnswerArgs(options);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(a.status().message());
  };
  EXPECT_EQ(error({{"score", "nps=abc"}}),
            "--score takes a whole number for 'nps', got 'abc'");
  EXPECT_THAT(error({{"score", "nps=9.5"}}), HasSubstr("whole number"));
  EXPECT_EQ(error({{"score", "nps"}}),
            "--score takes QUESTION=NUMBER (for example nps=9), got 'nps'");
  EXPECT_THAT(error({{"text", "=hello"}}), HasSubstr("--text takes QUESTION="));
  EXPECT_THAT(error({{"choices", "tried=docs,,chat"}}),
              HasSubstr("--choices has an empty choice id"));
  EXPECT_THAT(error({{"choice", "cause="}}),
              HasSubstr("--choice has an empty choice id"));
  EXPECT_THAT(error({{"choice", "cause=a,b"}}),
              HasSubstr("for several use --choices cause=a,b"));
  EXPECT_THAT(error({{"score", "nps=9"}, {"text", "nps=great"}}),
              HasSubstr("--text answers question 'nps' a second time"));
}

TEST(CheckTagFrictionTest, TheFourTypes) {
  for (const char* type : {"product", "process", "pricing", "perception"}) {
    EXPECT_TRUE(CheckTagFriction(type).ok()) << type;
  }
  EXPECT_THAT(CheckTagFriction("unknown").message(),
              HasSubstr("'unknown' is not a friction type to tag with"));
  EXPECT_FALSE(CheckTagFriction("Pricing").ok());
}

TEST(ParseInterviewStatusTest, Names) {
  using Request = hark::v1::RecordInterviewRequest;
  EXPECT_EQ(*ParseInterviewStatus("accepted"), Request::ACCEPTED);
  EXPECT_EQ(*ParseInterviewStatus("declined"), Request::DECLINED);
  EXPECT_EQ(*ParseInterviewStatus("booked"), Request::BOOKED);
  EXPECT_EQ(*ParseInterviewStatus("completed"), Request::COMPLETED);
  EXPECT_EQ(*ParseInterviewStatus("no_show"), Request::NO_SHOW);
  EXPECT_FALSE(ParseInterviewStatus("no-show").ok());
  EXPECT_THAT(ParseInterviewStatus("done").status().message(),
              HasSubstr("'done' is not an interview status"));
}

}  // namespace
}  // namespace hark::cli
