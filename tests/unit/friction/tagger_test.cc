// The friction tagger: normalisation and stemming, phrase matching, every
// negation and praise form, choices, precedence, the hypothesis and unknown
// fallbacks, and the shipped rules/taxonomy.yaml on realistic answers.

#include "server/friction/tagger.h"

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hark/v1/prompts.pb.h"
#include "server/rules/rule_set.h"

namespace hark::friction {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// --- helpers -----------------------------------------------------------------

rules::Taxonomy MakeTaxonomy(
    std::initializer_list<std::pair<std::string, std::vector<std::string>>>
        types) {
  rules::Taxonomy taxonomy;
  for (const auto& [name, phrases] : types) {
    rules::Taxonomy::Type type;
    type.name = name;
    type.phrases = phrases;
    taxonomy.types.push_back(std::move(type));
  }
  return taxonomy;
}

// A small taxonomy for the tests, in a file order that is not the tie
// order.
const rules::Taxonomy& TestTaxonomy() {
  static const rules::Taxonomy* const kTaxonomy =
      new rules::Taxonomy(MakeTaxonomy({
          {"pricing",
           {"price", "cost", "too expensive", "expensive", "not worth",
            "billing", "afford", "cheaper", "value for money", "prices"}},
          {"product",
           {"bug", "crash", "slow", "missing feature", "feature",
            "doesn't work", "error"}},
          {"process",
           {"setup", "onboarding", "confusing", "support", "couldn't find",
            "sign up", "took too long", "documentation"}},
          {"perception",
           {"don't see the value", "trust", "don't trust", "not for me",
            "value"}},
      }));
  return *kTaxonomy;
}

const Tagger& TestTagger() {
  static const Tagger* const kTagger = new Tagger(&TestTaxonomy());
  return *kTagger;
}

// "type: phrase, phrase; type: ..." of MatchText.
std::string Matches(const Tagger& tagger, absl::string_view text) {
  std::vector<std::string> parts;
  for (const Tagger::TextMatch& m : tagger.MatchText(text)) {
    parts.push_back(
        absl::StrCat(m.friction, ": ", absl::StrJoin(m.phrases, ", ")));
  }
  return absl::StrJoin(parts, "; ");
}

std::string Matches(absl::string_view text) {
  return Matches(TestTagger(), text);
}

// "friction source confidence [primary]".
std::string Str(const Tag& tag) {
  return absl::StrFormat("%s %s %.1f%s", tag.friction, tag.source,
                         tag.confidence, tag.primary ? " primary" : "");
}

std::vector<std::string> Strs(const std::vector<Tag>& tags) {
  std::vector<std::string> out;
  for (const Tag& t : tags) out.push_back(Str(t));
  return out;
}

hark::v1::Answer TextAnswer(absl::string_view question,
                            absl::string_view text) {
  hark::v1::Answer a;
  a.set_question_id(std::string(question));
  a.set_text(std::string(text));
  return a;
}

hark::v1::Answer ChoiceAnswer(absl::string_view question,
                              absl::string_view choice) {
  hark::v1::Answer a;
  a.set_question_id(std::string(question));
  a.set_choice(std::string(choice));
  return a;
}

hark::v1::Answer ChoicesAnswer(absl::string_view question,
                               std::initializer_list<const char*> ids) {
  hark::v1::Answer a;
  a.set_question_id(std::string(question));
  for (const char* id : ids) a.mutable_choices()->add_ids(id);
  return a;
}

hark::v1::Answer ScoreAnswer(absl::string_view question, int score) {
  hark::v1::Answer a;
  a.set_question_id(std::string(question));
  a.set_score(score);
  return a;
}

rules::Question ChoiceQuestion(absl::string_view id,
                               rules::Question::Type type) {
  rules::Question q;
  q.id = std::string(id);
  q.type = type;
  q.choices = {{"expensive", "Too expensive", "pricing"},
               {"buggy", "Too many bugs", "product"},
               {"broken", "Something broke", "product"},
               {"confusing", "Hard to figure out", "process"},
               {"unclear", "Not sure what I get", "perception"},
               {"other", "Something else", ""}};
  return q;
}

const rules::Survey& TestSurvey() {
  static const rules::Survey* const kSurvey = [] {
    auto* s = new rules::Survey;
    s->id = "exit";
    s->questions.push_back(
        ChoiceQuestion("reason", rules::Question::Type::kSingleChoice));
    s->questions.push_back(
        ChoiceQuestion("problems", rules::Question::Type::kMultiChoice));
    rules::Question rating;
    rating.id = "overall";
    rating.type = rules::Question::Type::kRating;
    s->questions.push_back(rating);
    rules::Question text;
    text.id = "details";
    text.type = rules::Question::Type::kText;
    s->questions.push_back(text);
    return s;
  }();
  return *kSurvey;
}

std::vector<std::string> TagSurvey(std::vector<hark::v1::Answer> answers,
                                   absl::string_view hypothesis = "",
                                   const Tagger& tagger = TestTagger()) {
  TagInput input;
  input.survey = &TestSurvey();
  input.answers = answers;
  input.hypothesis = hypothesis;
  return Strs(tagger.TagResponse(input));
}

// --- NormalizeWords ----------------------------------------------------------

TEST(NormalizeWordsTest, LowerCasePunctuationAndApostrophes) {
  EXPECT_THAT(NormalizeWords("It WASN'T clear... (to me)!"),
              ElementsAre("it", "wasnt", "clear", "to", "me"));
  EXPECT_THAT(NormalizeWords("don’t ‘quote’ me"),
              ElementsAre("dont", "quot", "me"));
  EXPECT_THAT(NormalizeWords("sign-up/log_in, v2.5"),
              ElementsAre("sign", "up", "log", "in", "v2", "5"));
  EXPECT_THAT(NormalizeWords(""), IsEmpty());
  EXPECT_THAT(NormalizeWords(" ?! -- ''"), IsEmpty());
}

TEST(NormalizeWordsTest, NonAsciiBytesBelongToWordsButPunctuationSeparates) {
  // "Größe" keeps its bytes (ASCII letters lower-cased, not stemmed); the
  // em dash, the no-break space and typographic quotes separate words.
  EXPECT_THAT(NormalizeWords("Größe—price\xC2\xA0tags “cost”"),
              ElementsAre("gr\xC3\xB6\xC3\x9F"
                          "e",
                          "pric", "tag", "cost"));
  EXPECT_THAT(NormalizeWords("café prices"), ElementsAre("café", "pric"));
}

TEST(NormalizeWordsTest, Stemming) {
  struct Case {
    const char* word;
    const char* stem;
  };
  const Case cases[] = {
      // Forms of one word meet.
      {"price", "pric"},
      {"prices", "pric"},
      {"pricing", "pric"},
      {"priced", "pric"},
      {"crash", "crash"},
      {"crashes", "crash"},
      {"crashed", "crash"},
      {"crashing", "crash"},
      {"charge", "charg"},
      {"charged", "charg"},
      {"charges", "charg"},
      {"bill", "bill"},
      {"billing", "bill"},
      {"billed", "bill"},
      {"stopped", "stop"},
      {"stopping", "stop"},
      {"setting", "set"},
      {"bugs", "bug"},
      {"bugged", "bug"},
      {"issue", "issu"},
      {"issues", "issu"},
      {"replied", "reply"},
      {"replies", "reply"},
      {"confused", "confus"},
      {"confusing", "confus"},
      {"freezes", "freez"},
      {"freezing", "freez"},
      {"fixes", "fix"},
      {"features", "featur"},
      {"needed", "need"},
      // Left alone.
      {"need", "need"},
      {"nothing", "nothing"},
      {"something", "something"},
      {"status", "status"},
      {"class", "class"},
      {"this", "this"},
      {"was", "was"},
      {"its", "its"},
      {"wasnt", "wasnt"},
      {"doesnt", "doesnt"},
      {"string", "string"},
      {"add", "add"},
      {"free", "free"},
      {"fees", "fee"},
      {"404s", "404s"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(NormalizeWords(c.word), ElementsAre(c.stem)) << c.word;
  }
}

// --- Phrase matching ---------------------------------------------------------

TEST(MatchTextTest, PhrasesMatchThroughStemmingAndCase) {
  EXPECT_EQ(Matches("The PRICES went up again"), "pricing: pric");
  EXPECT_EQ(Matches("pricing is steep"), "pricing: pric");
  EXPECT_EQ(Matches("It crashed twice and keeps crashing"), "product: crash");
  EXPECT_EQ(Matches("Setup was confusing, it crashed"),
            "product: crash; process: setup, confus");
  EXPECT_EQ(Matches("nothing relevant here"), "");
}

TEST(MatchTextTest, WordsMustBeConsecutiveAndInOneClause) {
  EXPECT_EQ(Matches("it took way too long"), "");
  EXPECT_EQ(Matches("it took too long"), "process: took too long");
  // "too. Expensive" crosses a clause; "expensive" alone still counts.
  EXPECT_EQ(Matches("it was too. Expensive"), "pricing: expensiv");
  // A phrase is not matched inside a longer word.
  EXPECT_EQ(Matches("debugging tools"), "");
}

TEST(MatchTextTest, NegationWordsInsideAPhraseAreInterchangeable) {
  EXPECT_EQ(Matches("It wasn't worth it"), "pricing: not worth");
  EXPECT_EQ(Matches("isn't worth the money"), "pricing: not worth");
  EXPECT_EQ(Matches("I can't find the export"), "process: couldnt find");
  EXPECT_EQ(Matches("I cannot find it"), "process: couldnt find");
  // can't, cannot, couldn't form a group of their own.
  EXPECT_EQ(Matches("I didn't find it confusing"), "");
  EXPECT_EQ(Matches("it didn't work"), "product: doesnt work");
  EXPECT_EQ(Matches("I never trust them"), "perception: dont trust");
}

TEST(MatchTextTest, LongerOccurrenceWins) {
  // "missing feature" counts once, not also as "feature"; "too expensive"
  // not also as "expensive".
  EXPECT_EQ(Matches("a missing feature"), "product: miss featur");
  EXPECT_EQ(Matches("way too expensive"), "pricing: too expensiv");
  // Across types: "value for money" (pricing) holds "value" (perception).
  EXPECT_EQ(Matches("poor value for money"), "pricing: valu for money");
  EXPECT_EQ(Matches("poor value"), "perception: valu");
}

TEST(MatchTextTest, PhrasesAreOnePerTypeAfterStemming) {
  // "price" and "prices" are one phrase; each phrase is listed once.
  EXPECT_EQ(Matches("price, prices, pricing"), "pricing: pric");
}

// --- Negation ----------------------------------------------------------------

TEST(NegationTest, NegatorBeforeThePhrase) {
  EXPECT_EQ(Matches("not the price"), "");
  EXPECT_EQ(Matches("It's not about the cost"), "");
  EXPECT_EQ(Matches("no bugs at all"), "");
  EXPECT_EQ(Matches("it never crashed"), "");
  EXPECT_EQ(Matches("it works without errors"), "");
  EXPECT_EQ(Matches("hardly any bugs"), "");
  EXPECT_EQ(Matches("it doesn't crash"), "");
  EXPECT_EQ(Matches("it didn't crash"), "");
  EXPECT_EQ(Matches("it isn't slow"), "");
  EXPECT_EQ(Matches("it wasn't slow"), "");
  EXPECT_EQ(Matches("they aren't expensive"), "");
  EXPECT_EQ(Matches("they weren't expensive"), "");
  EXPECT_EQ(Matches("I don't think the price"), "");
  EXPECT_EQ(Matches("it can't crash"), "");
  EXPECT_EQ(Matches("it couldn't be slow"), "");
  EXPECT_EQ(Matches("it won't crash"), "");
  EXPECT_EQ(Matches("nothing to do with the price"), "");
  // The negation does not reach past "and".
  EXPECT_EQ(Matches("it doesn't work and it's slow"),
            "product: doesnt work, slow");
}

TEST(NegationTest, FillerWordsDoNotCountInTheDistance) {
  EXPECT_EQ(Matches("no issue with the price"), "");
  EXPECT_EQ(Matches("never had a problem with billing"), "");
  EXPECT_EQ(Matches("didn't have any issues with the pricing"), "");
  // Four words that are not fillers: too far.
  EXPECT_EQ(Matches("not once did they mention the price"), "pricing: pric");
}

TEST(NegationTest, PhraseDeniedAfterwards) {
  EXPECT_EQ(Matches("price wasn't the problem"), "");
  EXPECT_EQ(Matches("The price was not the problem"), "");
  EXPECT_EQ(Matches("the cost is not really an issue"), "");
  EXPECT_EQ(Matches("pricing was never the reason"), "");
  EXPECT_EQ(Matches("pricing isn't why I left"), "");
  EXPECT_EQ(Matches("the price doesn't matter"), "");
  EXPECT_EQ(Matches("cost is no concern"), "");
  // A negation after the phrase without a "cause" word keeps it.
  EXPECT_EQ(Matches("the price isn't fair"), "pricing: pric");
}

TEST(NegationTest, ClausesLimitNegation) {
  EXPECT_EQ(Matches("it's not about the cost, the setup was confusing"),
            "process: setup, confus");
  EXPECT_EQ(Matches("not the bugs but the price"), "pricing: pric");
  EXPECT_EQ(Matches("No bugs. Price is too high"), "pricing: pric");
  EXPECT_EQ(Matches("Not the setup; the price"), "pricing: pric");
  EXPECT_EQ(Matches("not the setup - the price"), "pricing: pric");
  EXPECT_EQ(Matches("not the setup — the price"), "pricing: pric");
  EXPECT_EQ(Matches("not the setup\nthe price"), "pricing: pric");
  EXPECT_EQ(Matches("no bugs however the price hurts"), "pricing: pric");
  // A hyphen inside a word is not a clause break.
  EXPECT_EQ(Matches("no billing-related issues"), "");
}

TEST(NegationTest, VerbsOfWantingOrTryingKeepThePhrase) {
  EXPECT_EQ(Matches("I couldn't afford it"), "pricing: afford");
  EXPECT_EQ(Matches("we can't justify the cost"), "pricing: cost");
  EXPECT_EQ(Matches("I didn't like the pricing"), "pricing: pric");
  EXPECT_EQ(Matches("I couldn't sign up"), "process: sign up");
  EXPECT_EQ(Matches("didn't expect the billing"), "pricing: bill");
  EXPECT_EQ(Matches("not a fan of the new pricing"), "pricing: pric");
}

TEST(NegationTest, PhrasesThatAreNegationsThemselves) {
  // The negator inside a phrase is part of it.
  EXPECT_EQ(Matches("I don't see the value"), "perception: dont see the valu");
  EXPECT_EQ(Matches("honestly not for me"), "perception: not for me");
  // "don't trust" counts; "trust" inside it is negated and dropped.
  EXPECT_EQ(Matches("I don't trust them with my data"),
            "perception: dont trust");
}

// --- Praise ------------------------------------------------------------------

TEST(PraiseTest, PositiveWordsAfterOrBefore) {
  EXPECT_EQ(Matches("the price is fine"), "");
  EXPECT_EQ(Matches("Support was great"), "");
  EXPECT_EQ(Matches("setup was really easy"), "");
  EXPECT_EQ(Matches("great support"), "");
  EXPECT_EQ(Matches("a fair price"), "");
  EXPECT_EQ(Matches("really worth the price"), "");
  EXPECT_EQ(Matches("happy with the price"), "");
  EXPECT_EQ(Matches("great value for money"), "");
  // A negated positive word is a complaint.
  EXPECT_EQ(Matches("the price is not fair"), "pricing: pric");
  EXPECT_EQ(Matches("support was great, but too expensive"),
            "pricing: too expensiv");
}

// --- Tags: choices -----------------------------------------------------------

TEST(TagResponseTest, SingleChoiceMapsToItsFriction) {
  EXPECT_THAT(TagSurvey({ChoiceAnswer("reason", "expensive")}, "process"),
              ElementsAre("pricing choice 0.9 primary"));
  EXPECT_THAT(TagSurvey({ChoiceAnswer("reason", "unclear")}),
              ElementsAre("perception choice 0.9 primary"));
}

TEST(TagResponseTest, ChoiceWithoutFrictionOrUnknownIsIgnored) {
  EXPECT_THAT(TagSurvey({ChoiceAnswer("reason", "other")}, "pricing"),
              ElementsAre("pricing hypothesis 0.3 primary"));
  EXPECT_THAT(
      TagSurvey(
          {ChoiceAnswer("reason", "nope"), ChoiceAnswer("nope", "expensive"),
           ChoiceAnswer("overall", "expensive"), ScoreAnswer("overall", 1)},
          "product"),
      ElementsAre("product hypothesis 0.3 primary"));
}

TEST(TagResponseTest, MultiChoiceCountsEachChoice) {
  // Two product choices beat one pricing choice.
  EXPECT_THAT(
      TagSurvey({ChoicesAnswer("problems", {"expensive", "buggy", "broken"})}),
      ElementsAre("product choice 0.9 primary", "pricing choice 0.9"));
  // A tie goes to the order product, process, pricing, perception.
  EXPECT_THAT(TagSurvey({ChoicesAnswer("problems",
                                       {"unclear", "confusing", "expensive"})}),
              ElementsAre("process choice 0.9 primary", "pricing choice 0.9",
                          "perception choice 0.9"));
  // A choice given twice in one answer counts once; choices of several
  // answers add up.
  EXPECT_THAT(TagSurvey({ChoicesAnswer("problems", {"buggy", "buggy"}),
                         ChoiceAnswer("reason", "expensive"),
                         ChoicesAnswer("problems", {"expensive"})}),
              ElementsAre("pricing choice 0.9 primary", "product choice 0.9"));
}

TEST(TagResponseTest, ChoicesNeedTheSurvey) {
  TagInput input;
  const std::vector<hark::v1::Answer> answers = {
      ChoiceAnswer("reason", "expensive")};
  input.answers = answers;
  input.hypothesis = "perception";
  EXPECT_THAT(Strs(TestTagger().TagResponse(input)),
              ElementsAre("perception hypothesis 0.3 primary"));
}

// --- Tags: text --------------------------------------------------------------

TEST(TagResponseTest, TextConfidenceGrowsWithDistinctPhrases) {
  EXPECT_THAT(TagSurvey({TextAnswer("details", "the price")}),
              ElementsAre("pricing text 0.5 primary"));
  EXPECT_THAT(TagSurvey({TextAnswer("details", "the price, the prices")}),
              ElementsAre("pricing text 0.5 primary"));
  EXPECT_THAT(TagSurvey({TextAnswer("details", "price and billing")}),
              ElementsAre("pricing text 0.6 primary"));
  EXPECT_THAT(TagSurvey({TextAnswer("details", "price, billing, cost")}),
              ElementsAre("pricing text 0.7 primary"));
  EXPECT_THAT(
      TagSurvey({TextAnswer(
          "details", "price, billing, cost, cheaper elsewhere, can't afford")}),
      ElementsAre("pricing text 0.8 primary"));
}

TEST(TagResponseTest, TextPrimaryIsTheTypeWithMostPhrases) {
  EXPECT_THAT(TagSurvey({TextAnswer("details",
                                    "setup was confusing and the price high")}),
              ElementsAre("process text 0.6 primary", "pricing text 0.5"));
  // Tie: product before pricing, whatever the file order.
  EXPECT_THAT(TagSurvey({TextAnswer("details", "price and a bug")}),
              ElementsAre("product text 0.5 primary", "pricing text 0.5"));
}

TEST(TagResponseTest, PhrasesOfSeveralTextsAddUpOnce) {
  EXPECT_THAT(TagSurvey({TextAnswer("details", "the price"),
                         TextAnswer("details", "price and billing")}),
              ElementsAre("pricing text 0.6 primary"));
}

TEST(TagResponseTest, ChoiceBeatsText) {
  EXPECT_THAT(
      TagSurvey({ChoiceAnswer("reason", "buggy"),
                 TextAnswer("details",
                            "too expensive, billing surprises, no discount")},
                "perception"),
      ElementsAre("product choice 0.9 primary", "pricing text 0.6"));
  // A type found by both is tagged once, as choice.
  EXPECT_THAT(TagSurvey({ChoiceAnswer("reason", "expensive"),
                         TextAnswer("details", "the price and a crash")}),
              ElementsAre("pricing choice 0.9 primary", "product text 0.5"));
}

TEST(TagResponseTest, InterviewNotesAreTaggedLikeText) {
  TagInput input;
  input.notes = "Said the setup took too long; support was slow to answer.";
  input.hypothesis = "pricing";
  EXPECT_THAT(Strs(TestTagger().TagResponse(input)),
              ElementsAre("process text 0.7 primary", "product text 0.5"));
}

// --- Tags: fallbacks ---------------------------------------------------------

TEST(TagResponseTest, HypothesisWhenNothingElseApplies) {
  EXPECT_THAT(
      TagSurvey({TextAnswer("details", "meh"), ScoreAnswer("overall", 2)},
                "process"),
      ElementsAre("process hypothesis 0.3 primary"));
  EXPECT_THAT(TagSurvey({TextAnswer("details", "not the price")}, "pricing"),
              ElementsAre("pricing hypothesis 0.3 primary"));
}

TEST(TagResponseTest, UnknownWithoutAHypothesis) {
  EXPECT_THAT(TagSurvey({}), ElementsAre("unknown hypothesis 0.0 primary"));
  EXPECT_THAT(TagSurvey({TextAnswer("details", "all good")}, ""),
              ElementsAre("unknown hypothesis 0.0 primary"));
  EXPECT_THAT(TagSurvey({}, "pricy"),
              ElementsAre("unknown hypothesis 0.0 primary"));
  TagInput empty;
  EXPECT_THAT(Strs(TestTagger().TagResponse(empty)),
              ElementsAre("unknown hypothesis 0.0 primary"));
}

TEST(TagResponseTest, NoTaxonomyMeansTextNeverMatches) {
  const Tagger tagger(nullptr);
  EXPECT_THAT(tagger.MatchText("too expensive and buggy"), IsEmpty());
  EXPECT_THAT(
      TagSurvey({TextAnswer("details", "too expensive")}, "product", tagger),
      ElementsAre("product hypothesis 0.3 primary"));
  // Choices still map.
  EXPECT_THAT(TagSurvey({ChoiceAnswer("reason", "expensive")}, "", tagger),
              ElementsAre("pricing choice 0.9 primary"));
}

TEST(TaggerTest, TypesWithoutUsablePhrasesAndUnknownTypesAreSkipped) {
  const rules::Taxonomy taxonomy = MakeTaxonomy({{"pricing", {"?!", "  "}},
                                                 {"cost", {"price"}},
                                                 {"perception", {"trust"}}});
  const Tagger tagger(&taxonomy);
  EXPECT_EQ(Matches(tagger, "price and trust"), "perception: trust");
}

// --- The shipped taxonomy ----------------------------------------------------

class ShippedTaxonomyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto files = rules::ReadRuleDir(HARK_SOURCE_DIR "/rules");
    ASSERT_TRUE(files.ok()) << files.status();
    std::vector<rules::LoadError> errors;
    auto set = rules::LoadRuleSet(*files, &errors);
    ASSERT_TRUE(set.ok()) << set.status();
    set_ = new std::shared_ptr<const rules::RuleSet>(*set);
    ASSERT_NE((*set_)->taxonomy(), nullptr);
    tagger_ = new Tagger((*set_)->taxonomy());
  }
  static void TearDownTestSuite() {
    delete tagger_;
    delete set_;
  }

  // The primary friction of a free-text answer, or "" when none.
  static std::string Primary(absl::string_view text) {
    TagInput input;
    const std::vector<hark::v1::Answer> answers = {TextAnswer("t", text)};
    input.answers = answers;
    const std::vector<Tag> tags = tagger_->TagResponse(input);
    return tags[0].friction == "unknown" ? "" : tags[0].friction;
  }

  static std::shared_ptr<const rules::RuleSet>* set_;
  static Tagger* tagger_;
};

std::shared_ptr<const rules::RuleSet>* ShippedTaxonomyTest::set_ = nullptr;
Tagger* ShippedTaxonomyTest::tagger_ = nullptr;

TEST_F(ShippedTaxonomyTest, TagsRealisticAnswers) {
  struct Case {
    const char* text;
    const char* primary;
  };
  const Case cases[] = {
      {"Honestly it's just too expensive for a team our size.", "pricing"},
      {"We got charged twice and the refund took weeks.", "pricing"},
      {"Found a cheaper tool that does the same thing.", "pricing"},
      {"It's not about the cost, the setup was confusing.", "process"},
      {"I couldn't figure out how to connect our calendar, and the docs "
       "didn't help.",
       "process"},
      {"We needed approval from IT before connecting our data and it took "
       "too long.",
       "process"},
      {"The app kept crashing whenever I uploaded a file.", "product"},
      {"Export to CSV doesn't work and it's really slow.", "product"},
      {"It's missing features we need, like SSO.", "product"},
      {"I don't see the value compared to the free spreadsheet we used.",
       "perception"},
      {"Not sure what it does that our CRM doesn't already.", "perception"},
      {"Price wasn't the problem - I just didn't need it any more.",
       "perception"},
      {"We couldn't see enough value between tiers to justify the jump.",
       "perception"},
      {"I don't trust it with customer data.", "perception"},
      {"Support was great, everything works, just not for me.", "perception"},
      {"Didn't crash, no bugs, but setting it up took forever.", "process"},
      {"I didn't find it confusing at all, it's just too pricey.", "pricing"},
      {"No documentation for the API, had to guess everything.", "process"},
      {"Nothing wrong with the app, we simply had no budget left.", "pricing"},
      {"Honestly, no issue with pricing or support. Just not the right time.",
       "perception"},
      {"Customer support never replied to my ticket.", "process"},
      {"Couldn’t log in after the password reset.", "process"},
      {"Error 502 every time I sync.", "product"},
      {"Not a fan of the new pricing model.", "pricing"},
      {"Our IT team needs to approve every new tool.", "process"},
      {"Great product, no complaints.", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Primary(c.text), c.primary)
        << c.text << "\n  matches: " << Matches(*tagger_, c.text);
  }
}

// The examples of rules/README.md, "Friction taxonomy".
TEST_F(ShippedTaxonomyTest, ReadmeExamples) {
  const char kText[] =
      "It's not about the cost, the setup was confusing — support was great "
      "though.";
  EXPECT_EQ(Matches(*tagger_, kText), "process: setup, confus");
  TagInput input;
  std::vector<hark::v1::Answer> answers = {TextAnswer("details", kText)};
  input.answers = answers;
  EXPECT_THAT(Strs(tagger_->TagResponse(input)),
              ElementsAre("process text 0.6 primary"));

  const rules::Survey* survey = (*set_)->FindSurvey("onboarding_dropoff");
  ASSERT_NE(survey, nullptr);
  input.survey = survey;
  answers = {ChoiceAnswer("blocker", "missing_feature"),
             TextAnswer("details", "and it costs too much")};
  input.answers = answers;
  EXPECT_THAT(Strs(tagger_->TagResponse(input)),
              ElementsAre("product choice 0.9 primary", "pricing text 0.5"));

  EXPECT_EQ(Matches(*tagger_, "DOESN’T WORK!"), "product: doesnt work");
  EXPECT_EQ(Matches(*tagger_, "not working"), "product: doesnt work");
  EXPECT_EQ(Matches(*tagger_, "it won't work"), "product: doesnt work");
  EXPECT_EQ(Matches(*tagger_, "we got billed twice"), "pricing: bill");
  EXPECT_EQ(Matches(*tagger_, "it's not worth it"), "pricing: not worth");
  EXPECT_EQ(Matches(*tagger_, "It wasn't worth it"), "pricing: not worth");
  EXPECT_EQ(Matches(*tagger_, "doesn't support SSO"),
            "product: doesnt support");
  EXPECT_EQ(Matches(*tagger_, "I don't trust it"), "perception: dont trust");
  EXPECT_EQ(Matches(*tagger_, "there's no documentation"),
            "process: no documentation");
}

TEST_F(ShippedTaxonomyTest, SurveyChoicesAndTextTogether) {
  const rules::Survey* survey = (*set_)->FindSurvey("cancel_exit");
  ASSERT_NE(survey, nullptr);
  TagInput input;
  input.survey = survey;
  const std::vector<hark::v1::Answer> answers = {
      ChoiceAnswer("reason", "not_expected"),
      TextAnswer("win_back",
                 "A cheaper plan for small teams, and fewer bugs.")};
  input.answers = answers;
  input.hypothesis = (*set_)->Find("cancellation")->friction_hypothesis;
  EXPECT_THAT(Strs(tagger_->TagResponse(input)),
              ElementsAre("perception choice 0.9 primary", "product text 0.5",
                          "pricing text 0.5"));
}

}  // namespace
}  // namespace hark::friction
