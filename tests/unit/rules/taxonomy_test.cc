// The friction taxonomy (`taxonomy:`): loading, every error class with its
// position, the builder's checks and the shipped rules/taxonomy.yaml.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/rules/rule_set.h"

namespace hark::rules {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
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

// The errors of loading `content` as taxonomy.yaml, as
// "path:line:col: message (hint: ...)". Every error must have a hint.
std::vector<std::string> Errors(std::vector<SourceFile> files) {
  std::vector<LoadError> errors;
  absl::StatusOr<std::shared_ptr<const RuleSet>> set =
      LoadRuleSet(files, &errors);
  EXPECT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> out;
  for (const LoadError& e : errors) {
    EXPECT_FALSE(e.hint.empty()) << e.ToString();
    out.push_back(e.ToString());
  }
  return out;
}

std::vector<std::string> Errors(const std::string& content) {
  return Errors({{"taxonomy.yaml", content}});
}

// ---------------------------------------------------------------------------
// Valid taxonomies.

TEST(TaxonomyTest, LoadsTypesInFileOrderWithPhrasesAsWritten) {
  auto set = LoadOk({{"taxonomy.yaml", R"(# researchers' phrases
taxonomy:
  pricing:
    description: "Cost, value for money, billing surprises"
    phrases: ["Too expensive", "price", "didn't expect the charge"]
  product:
    description: Bugs and missing features
    phrases:
      - bug
      - crash
)"}});
  ASSERT_NE(set, nullptr);
  const Taxonomy* taxonomy = set->taxonomy();
  ASSERT_NE(taxonomy, nullptr);
  EXPECT_EQ(taxonomy->pos.path, "taxonomy.yaml");
  EXPECT_EQ(taxonomy->pos.line, 2);
  EXPECT_EQ(taxonomy->pos.column, 1);
  ASSERT_THAT(taxonomy->types, SizeIs(2));
  const Taxonomy::Type& pricing = taxonomy->types[0];
  EXPECT_EQ(pricing.name, "pricing");
  EXPECT_EQ(pricing.description, "Cost, value for money, billing surprises");
  EXPECT_THAT(pricing.phrases, ElementsAre("Too expensive", "price",
                                           "didn't expect the charge"));
  EXPECT_EQ(pricing.pos.line, 3);
  EXPECT_EQ(pricing.pos.column, 3);
  const Taxonomy::Type& product = taxonomy->types[1];
  EXPECT_EQ(product.name, "product");
  EXPECT_EQ(product.description, "Bugs and missing features");
  EXPECT_THAT(product.phrases, ElementsAre("bug", "crash"));
  EXPECT_EQ(product.pos.line, 6);
}

TEST(TaxonomyTest, DescriptionIsOptionalAndNumbersArePhrases) {
  auto set = LoadOk({{"t.yaml", R"(taxonomy:
  product: { phrases: [404, error 500, "502"] }
)"}});
  ASSERT_NE(set, nullptr);
  ASSERT_NE(set->taxonomy(), nullptr);
  ASSERT_THAT(set->taxonomy()->types, SizeIs(1));
  EXPECT_EQ(set->taxonomy()->types[0].description, "");
  EXPECT_THAT(set->taxonomy()->types[0].phrases,
              ElementsAre("404", "error 500", "502"));
}

TEST(TaxonomyTest, NoTaxonomyKeyMeansNull) {
  auto set = LoadOk({{"a.yaml", "rules: []\n"}});
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->taxonomy(), nullptr);
}

TEST(TaxonomyTest, LivesBesideRulesInAnyFile) {
  auto set = LoadOk({{"rules.yaml", R"(rules:
  - id: r
    friction_hypothesis: pricing
    pattern: { match: { event: plan_changed } }
)"},
                     {"sub/taxonomy.yml", R"(taxonomy:
  perception: { description: "Value", phrases: ["don't see the value"] }
)"}});
  ASSERT_NE(set, nullptr);
  ASSERT_NE(set->taxonomy(), nullptr);
  EXPECT_EQ(set->taxonomy()->pos.path, "sub/taxonomy.yml");
  EXPECT_EQ(set->taxonomy()->types[0].name, "perception");
}

// ---------------------------------------------------------------------------
// Errors, each with its position and a hint.

TEST(TaxonomyErrorTest, NotAMap) {
  EXPECT_THAT(
      Errors("taxonomy: [pricing, product]\n"),
      ElementsAre(AllOf(
          StartsWith("taxonomy.yaml:1:11: `taxonomy` must be a map from "
                     "friction types (product, process, pricing, perception) "
                     "to their phrases (hint: taxonomy: { pricing: "),
          HasSubstr("phrases: [\"too expensive\", \"price\"] } })"))));
  EXPECT_THAT(Errors("taxonomy:\n"),
              ElementsAre(StartsWith("taxonomy.yaml:1:1: `taxonomy` must be a "
                                     "map from friction types")));
}

TEST(TaxonomyErrorTest, EmptyMap) {
  EXPECT_THAT(Errors("taxonomy: {}\n"),
              ElementsAre(AllOf(
                  StartsWith("taxonomy.yaml:1:11: the taxonomy names no "
                             "friction type (hint: give at least one of "),
                  HasSubstr("or remove `taxonomy:`"))));
}

TEST(TaxonomyErrorTest, UnknownFrictionTypeWithDidYouMean) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  prcing: { phrases: [price] }
  Product: { phrases: [bug] }
  ux: { phrases: [ugly] }
)"),
      ElementsAre(
          "taxonomy.yaml:2:3: `prcing` is not a friction type (in taxonomy) "
          "(hint: did you mean `pricing`? the keys of the taxonomy are the "
          "friction types product, process, pricing, perception)",
          "taxonomy.yaml:3:3: `Product` is not a friction type (in taxonomy) "
          "(hint: did you mean `product`? the keys of the taxonomy are the "
          "friction types product, process, pricing, perception)",
          "taxonomy.yaml:4:3: `ux` is not a friction type (in taxonomy) "
          "(hint: the keys of the taxonomy are the friction types product, "
          "process, pricing, perception)"));
}

TEST(TaxonomyErrorTest, PhrasesWithoutAFrictionType) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  description: "Cost"
  phrases: [price]
)"),
      ElementsAre(
          StartsWith("taxonomy.yaml:2:3: `description` is not a friction "
                     "type (in taxonomy) (hint: `description` belongs under "
                     "a friction type: taxonomy: { pricing: "),
          StartsWith("taxonomy.yaml:3:3: `phrases` is not a friction type (in "
                     "taxonomy) (hint: `phrases` belongs under a friction "
                     "type")));
}

TEST(TaxonomyErrorTest, FrictionTypeAtTheTopLevel) {
  EXPECT_THAT(Errors("pricing: { phrases: [price] }\n"),
              ElementsAre(StartsWith(
                  "taxonomy.yaml:1:1: unknown key `pricing` in a rule file "
                  "(hint: friction types and their phrases go under "
                  "taxonomy: taxonomy: { pricing: { phrases: ")));
}

TEST(TaxonomyErrorTest, FrictionTypeGivenTwice) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  pricing: { phrases: [price] }
  product: { phrases: [bug] }
  pricing: { phrases: [cost] }
)"),
      ElementsAre("taxonomy.yaml:4:3: friction type `pricing` is given twice "
                  "in the taxonomy (first at line 2) (hint: keep one entry "
                  "per friction type, with all its phrases in one list)"));
}

TEST(TaxonomyErrorTest, TypeIsAListOrNothing) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  pricing: [price, cost]
  product:
)"),
      ElementsAre(
          "taxonomy.yaml:2:12: friction type `pricing` must be a map of "
          "description and phrases, not a list (hint: put the list under "
          "phrases: pricing: { description: \"...\", phrases: [\"too "
          "expensive\", \"price\"] })",
          StartsWith("taxonomy.yaml:3:3: friction type `product` must be a "
                     "map of keys (description, phrases)")));
}

TEST(TaxonomyErrorTest, UnknownKeyInAType) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  pricing:
    descripton: "Cost"
    phrase: [price]
  product:
    keywords: [bug]
)"),
      ElementsAre("taxonomy.yaml:3:5: unknown key `descripton` in friction "
                  "type `pricing` (hint: did you mean `description`?)",
                  "taxonomy.yaml:4:5: unknown key `phrase` in friction type "
                  "`pricing` (hint: did you mean `phrases`?)",
                  "taxonomy.yaml:6:5: unknown key `keywords` in friction type "
                  "`product` (hint: the words customers use are written "
                  "phrases: [\"too expensive\", \"price\"])"));
}

TEST(TaxonomyErrorTest, MissingPhrases) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  pricing:
    description: "Cost"
)"),
      ElementsAre(StartsWith("taxonomy.yaml:3:5: friction type `pricing` is "
                             "missing `phrases` (hint: list the words "
                             "customers use for it: pricing: {")));
}

TEST(TaxonomyErrorTest, DescriptionOfTheWrongTypeOrEmpty) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  pricing:
    description: [cost]
    phrases: [price]
  product:
    description: "  "
    phrases: [bug]
)"),
      ElementsAre(StartsWith("taxonomy.yaml:3:18: `description` must be a "
                             "single value, not a list (hint: say in a few "
                             "words what the type covers"),
                  StartsWith("taxonomy.yaml:6:18: `description` is empty "
                             "(hint: say in a few words")));
}

TEST(TaxonomyErrorTest, PhrasesNotAListOrEmpty) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  pricing:
    phrases: "too expensive"
  product:
    phrases: []
  process:
    phrases:
  perception:
    phrases: { value: 1 }
)"),
      ElementsAre(
          "taxonomy.yaml:3:14: `phrases` must be a list of texts, not one "
          "text (hint: phrases: [\"too expensive\", \"price\"])",
          "taxonomy.yaml:5:14: friction type `product` has no phrases (hint: "
          "add the words customers use, e.g. phrases: [\"too expensive\", "
          "\"price\"], or remove `product` from the taxonomy)",
          "taxonomy.yaml:7:5: friction type `process` has no phrases (hint: "
          "phrases: [\"too expensive\", \"price\"])",
          "taxonomy.yaml:9:14: `phrases` must be a list of texts, not a map "
          "(hint: phrases: [\"too expensive\", \"price\"])"));
}

TEST(TaxonomyErrorTest, BadPhrases) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  pricing:
    phrases:
      - price
      - { too: expensive }
      - [cost]
      - "   "
      - "?!"
      - ~
      - cost
)"),
      ElementsAre(
          "taxonomy.yaml:5:9: a phrase must be a text, not a map (hint: write "
          "each phrase as a quoted text: \"too expensive\")",
          "taxonomy.yaml:6:9: a phrase must be a text, not a list (hint: "
          "write each phrase as a quoted text: \"too expensive\")",
          "taxonomy.yaml:7:9: a phrase is empty (hint: phrases are matched "
          "word by word; write the words customers use: \"too expensive\")",
          "taxonomy.yaml:8:9: phrase `?!` has no letters or digits (hint: "
          "phrases are matched word by word; write the words customers use: "
          "\"too expensive\")",
          StartsWith("taxonomy.yaml:9:9: a phrase is empty (hint: write each "
                     "phrase as a quoted text")));
}

TEST(TaxonomyErrorTest, DuplicatePhraseWithinAType) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  product:
    phrases: ["doesn't work", bug, "Doesnt   Work!", " BUG ", "don’t load",
              "don't load"]
)"),
      ElementsAre(
          "taxonomy.yaml:3:36: phrase `Doesnt   Work!` of friction type "
          "`product` is the same as `doesn't work` at taxonomy.yaml:3:15 "
          "(case, spaces and punctuation do not count) (hint: remove one of "
          "them)",
          "taxonomy.yaml:3:54: phrase ` BUG ` of friction type `product` is "
          "the same as `bug` at taxonomy.yaml:3:31 (case, spaces and "
          "punctuation do not count) (hint: remove one of them)",
          StartsWith("taxonomy.yaml:4:15: phrase `don't load` of friction "
                     "type `product` is the same as `don’t load` at "
                     "taxonomy.yaml:3:63")));
}

TEST(TaxonomyErrorTest, PhraseInTwoTypes) {
  EXPECT_THAT(
      Errors(R"(taxonomy:
  pricing:
    phrases: [cost, price]
  perception:
    phrases: [value, Price]
)"),
      ElementsAre(AllOf(
          StartsWith("taxonomy.yaml:5:22: phrase `Price` of friction type "
                     "`perception` is already a phrase of `pricing` at "
                     "taxonomy.yaml:3:21 (hint: a phrase tags one friction "
                     "type: keep it where it belongs most often"),
          HasSubstr("\"not worth the price\""))));
}

TEST(TaxonomyErrorTest, SecondTaxonomyInAnotherFile) {
  EXPECT_THAT(
      Errors({{"a.yaml", "taxonomy: { pricing: { phrases: [price] } }\n"},
              {"rules/b.yaml",
               "# more\ntaxonomy: { product: { phrases: [bug] } }\n"}}),
      ElementsAre("rules/b.yaml:2:1: taxonomy is already defined at "
                  "a.yaml:1:1 (hint: keep one taxonomy for the whole rules "
                  "folder (by convention rules/taxonomy.yaml) and merge the "
                  "phrase lists into it)"));
}

TEST(TaxonomyErrorTest, SecondTaxonomyInTheSameFile) {
  EXPECT_THAT(Errors(R"(taxonomy: { pricing: { phrases: [price] } }
taxonomy: { product: { phrases: [bug] } }
)"),
              ElementsAre(StartsWith("taxonomy.yaml:2:1: `taxonomy` is given "
                                     "twice in a rule file (first at line "
                                     "1)")));
}

TEST(TaxonomyErrorTest, EveryErrorOfAFileInOnePassInFileOrder) {
  const std::vector<std::string> errors = Errors({{"taxonomy.yaml", R"(taxonomy:
  pricing:
    description: "Cost"
    phrases: [price, cost, Price]
  procss:
    phrases: [setup]
  product:
    phrases: []
  perception:
    phrases: [value, cost]
    extra: 1
rules:
  - id: r
    pattern: { match: { event: x } }
    cooldown: "7 days"
)"}});
  EXPECT_THAT(errors,
              ElementsAre(StartsWith("taxonomy.yaml:4:28: phrase `Price`"),
                          StartsWith("taxonomy.yaml:5:3: `procss` is not a "
                                     "friction type (in taxonomy) (hint: did "
                                     "you mean `process`?"),
                          StartsWith("taxonomy.yaml:8:14: friction type "
                                     "`product` has no phrases"),
                          StartsWith("taxonomy.yaml:10:22: phrase `cost` of "
                                     "friction type `perception` is already a "
                                     "phrase of `pricing` at "
                                     "taxonomy.yaml:4:22"),
                          StartsWith("taxonomy.yaml:11:5: unknown key `extra` "
                                     "in friction type `perception`"),
                          StartsWith("taxonomy.yaml:15:15: `7 days` is not a "
                                     "duration")));
}

// ---------------------------------------------------------------------------
// The builder (rule sets made in code).

TEST(TaxonomyBuilderTest, ChecksTypesAndPhrases) {
  auto build = [](Taxonomy taxonomy) {
    RuleSetBuilder builder;
    builder.SetTaxonomy(std::move(taxonomy));
    return builder.Build();
  };
  Taxonomy ok;
  ok.types.push_back({"pricing", "Cost", {"price"}, {}});
  ok.types.push_back({"product", "", {"bug", "crash"}, {}});
  auto set = build(ok);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_NE((*set)->taxonomy(), nullptr);
  EXPECT_THAT((*set)->taxonomy()->types, SizeIs(2));

  Taxonomy bad_name;
  bad_name.types.push_back({"cost", "", {"price"}, {}});
  EXPECT_THAT(build(bad_name).status().message(),
              HasSubstr("\"cost\" is not a friction type"));
  Taxonomy twice;
  twice.types.push_back({"pricing", "", {"price"}, {}});
  twice.types.push_back({"pricing", "", {"cost"}, {}});
  EXPECT_THAT(build(twice).status().message(), HasSubstr("given twice"));
  Taxonomy empty;
  empty.types.push_back({"process", "", {}, {}});
  EXPECT_THAT(build(empty).status().message(), HasSubstr("has no phrases"));
  EXPECT_EQ(build(empty).status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// The shipped rules folder.

TEST(ShippedTaxonomyTest, HasAllFourTypesWithDescriptionsAndPhrases) {
  auto files = ReadRuleDir(HARK_SOURCE_DIR "/rules");
  ASSERT_TRUE(files.ok()) << files.status();
  auto set = LoadOk(*files);
  ASSERT_NE(set, nullptr);
  const Taxonomy* taxonomy = set->taxonomy();
  ASSERT_NE(taxonomy, nullptr);
  EXPECT_EQ(taxonomy->pos.path, "taxonomy.yaml");
  std::vector<std::string> names;
  for (const Taxonomy::Type& type : taxonomy->types) {
    names.push_back(type.name);
    EXPECT_FALSE(type.description.empty()) << type.name;
    EXPECT_GE(type.phrases.size(), 20u) << type.name;
    EXPECT_LE(type.phrases.size(), 40u) << type.name;
  }
  EXPECT_THAT(names,
              ElementsAre("product", "process", "pricing", "perception"));
}

}  // namespace
}  // namespace hark::rules
