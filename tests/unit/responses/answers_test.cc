// Answers checked against the questions of their prompt.

#include "server/responses/answers.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::responses {
namespace {

using hark::v1::Answer;
using hark::v1::Question;
using ::testing::HasSubstr;

hark::v1::Prompt Survey() {
  hark::v1::Prompt p;
  p.set_definition_id("pulse");
  auto add = [&](const char* id, Question::Type type, bool required) {
    Question* q = p.add_questions();
    q->set_id(id);
    q->set_type(type);
    q->set_required(required);
    return q;
  };
  add("rating", Question::RATING, true);
  add("nps", Question::NPS, false);
  add("ces", Question::CES, false);
  Question* one = add("why", Question::SINGLE_CHOICE, false);
  for (const char* c : {"price", "bug"}) one->add_choices()->set_id(c);
  Question* many = add("what", Question::MULTI_CHOICE, false);
  for (const char* c : {"a", "b", "c"}) many->add_choices()->set_id(c);
  add("text", Question::TEXT, false);
  return p;
}

Answer Score(const char* q, int v) {
  Answer a;
  a.set_question_id(q);
  a.set_score(v);
  return a;
}
Answer Choice(const char* q, const char* id) {
  Answer a;
  a.set_question_id(q);
  a.set_choice(id);
  return a;
}
Answer Choices(const char* q, std::vector<std::string> ids) {
  Answer a;
  a.set_question_id(q);
  hark::v1::ChoiceList* list = a.mutable_choices();  // set even when empty
  for (auto& id : ids) list->add_ids(id);
  return a;
}
Answer Text(const char* q, std::string t) {
  Answer a;
  a.set_question_id(q);
  a.set_text(std::move(t));
  return a;
}

absl::Status Check(std::vector<Answer> answers) {
  return ValidateAnswers(Survey(), answers);
}

TEST(ValidateAnswers, AcceptsEveryTypeInRange) {
  EXPECT_TRUE(Check({Score("rating", 1), Score("nps", 0), Score("ces", 7),
                     Choice("why", "bug"), Choices("what", {"a", "c"}),
                     Text("text", "ok")})
                  .ok());
  EXPECT_TRUE(Check({Score("rating", 5), Score("nps", 10)}).ok());
}

TEST(ValidateAnswers, ScoresOutOfRangeNameTheQuestionAndRange) {
  absl::Status s = Check({Score("rating", 6)});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("question \"rating\""));
  EXPECT_THAT(s.message(), HasSubstr("1 to 5"));
  EXPECT_THAT(Check({Score("rating", 3), Score("nps", 11)}).message(),
              HasSubstr("0 to 10"));
  EXPECT_THAT(Check({Score("rating", 3), Score("ces", 0)}).message(),
              HasSubstr("1 to 7"));
}

TEST(ValidateAnswers, WrongValueTypeIsNamed) {
  absl::Status s = Check({Text("rating", "five")});
  EXPECT_THAT(s.message(), HasSubstr("question \"rating\""));
  EXPECT_THAT(s.message(), HasSubstr("expected `score`, got a text"));
}

TEST(ValidateAnswers, UnknownQuestionAndChoices) {
  absl::Status s = Check({Score("rating", 3), Score("speed", 3)});
  EXPECT_THAT(s.message(), HasSubstr("\"speed\""));
  EXPECT_THAT(s.message(), HasSubstr("has no such question"));
  EXPECT_THAT(Check({Score("rating", 3), Choice("why", "cost")}).message(),
              HasSubstr("\"cost\" is not one of its choices (price, bug)"));
  EXPECT_THAT(
      Check({Score("rating", 3), Choices("what", {"a", "a"})}).message(),
      HasSubstr("\"a\" is chosen twice"));
  EXPECT_THAT(Check({Score("rating", 3), Choices("what", {})}).message(),
              HasSubstr("no choice given"));
}

TEST(ValidateAnswers, RequiredMissingDuplicateAndEmpty) {
  EXPECT_THAT(Check({Score("nps", 3)}).message(),
              HasSubstr("question \"rating\": required"));
  EXPECT_THAT(Check({Score("rating", 3), Score("rating", 4)}).message(),
              HasSubstr("answered twice"));
  EXPECT_THAT(Check({}).message(), HasSubstr("answers: none given"));
  Answer no_id = Score("", 3);
  EXPECT_THAT(Check({Score("rating", 3), no_id}).message(),
              HasSubstr("answers[1].question_id: required"));
}

TEST(ValidateAnswers, TextLimitIsFourKiB) {
  EXPECT_TRUE(
      Check({Score("rating", 3), Text("text", std::string(4096, 'x'))}).ok());
  EXPECT_THAT(Check({Score("rating", 3), Text("text", std::string(4097, 'x'))})
                  .message(),
              HasSubstr("4097 bytes"));
}

TEST(ValidateAnswers, ReportsEveryProblemAtOnce) {
  absl::Status s = Check({Score("nps", 12), Choice("why", "x")});
  EXPECT_THAT(s.message(), HasSubstr("\"nps\""));
  EXPECT_THAT(s.message(), HasSubstr("\"why\""));
  EXPECT_THAT(s.message(), HasSubstr("\"rating\": required"));
}

TEST(SameAnswers, IgnoresOrderOfQuestionsAndChoices) {
  std::vector<Answer> a = {Score("rating", 3), Choices("what", {"a", "b"})};
  std::vector<Answer> b = {Choices("what", {"b", "a"}), Score("rating", 3)};
  EXPECT_TRUE(SameAnswers(a, b));
  b[1] = Score("rating", 4);
  EXPECT_FALSE(SameAnswers(a, b));
  EXPECT_FALSE(SameAnswers(a, {Score("rating", 3)}));
}

TEST(AnswerFields, FirstScoreAndJoinedText) {
  std::vector<Answer> a = {Text("text", "one"), Score("nps", 9),
                           Score("rating", 2), Text("other", "two")};
  EXPECT_EQ(FirstScore(a), 9);
  EXPECT_EQ(JoinedText(a), "one\ntwo");
  EXPECT_EQ(FirstScore({}), std::nullopt);
}

}  // namespace
}  // namespace hark::responses
