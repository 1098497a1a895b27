#ifndef HARK_SERVER_FRICTION_TAGGER_H_
#define HARK_SERVER_FRICTION_TAGGER_H_

// Friction tagging (DESIGN.md, "Responses and friction"): decides the
// friction types of a response. Pure: no clock, no store, no threads.
//
// Order of evidence, strongest first:
//   1. choice      a chosen answer mapped to a friction type in the survey
//                  (`friction:` of a choice); confidence 0.9.
//   2. text        free text (answers and interview notes) matched against
//                  the taxonomy's phrases after normalisation: lower case,
//                  punctuation removed, simple stemming ("prices" and
//                  "pricing" match "price"), negation ("not the price",
//                  "price wasn't the problem", "no issue with price" do not
//                  count for pricing); confidence grows with the number of
//                  distinct phrases found, between 0.5 and 0.8.
//   3. hypothesis  the rule's friction_hypothesis; confidence 0.3.
//   4. unknown     nothing applies and the rule has no hypothesis;
//                  source "hypothesis", confidence 0.
// The primary tag is the strongest piece of evidence (for choice and text,
// the friction type with the most evidence, ties broken by taxonomy order
// product, process, pricing, perception); every other friction type found by
// choice or text is a secondary tag. The hypothesis is used only when neither
// choice nor text found anything.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "hark/v1/prompts.pb.h"
#include "server/rules/rule_set.h"

namespace hark::friction {

struct Tag {
  // product, process, pricing, perception or unknown.
  std::string friction;
  // choice, text or hypothesis.
  std::string source;
  double confidence = 0;
  bool primary = false;
};

struct TagInput {
  // The survey answered, for choice mapping; null for interviews or when
  // the survey is not loaded any more.
  const rules::Survey* survey = nullptr;
  absl::Span<const hark::v1::Answer> answers;
  // Interview notes, tagged like free-text answers (may be empty).
  absl::string_view notes;
  // The rule's friction_hypothesis (may be empty).
  absl::string_view hypothesis;
};

// Normalises text for phrase matching: lower case, letters and digits only
// (other characters separate words; apostrophes are dropped so "wasn't"
// becomes "wasnt"), each word stemmed. Exposed for tests.
std::vector<std::string> NormalizeWords(absl::string_view text);

// A compiled taxonomy. Immutable and thread-safe once built.
class Tagger {
 public:
  // `taxonomy` may be null: then free text never matches.
  explicit Tagger(const rules::Taxonomy* taxonomy);

  // The tags of a response, primary first. Never empty.
  std::vector<Tag> TagResponse(const TagInput& input) const;

  // The friction types found in `text` with the phrases that matched
  // (normalised), in taxonomy order; for tests and `hark` diagnostics.
  struct TextMatch {
    std::string friction;
    std::vector<std::string> phrases;
  };
  std::vector<TextMatch> MatchText(absl::string_view text) const;

 private:
  struct Phrase {
    std::vector<std::string> words;  // normalised
    std::string text;                // normalised, joined by ' '
  };
  struct Type {
    std::string name;
    std::vector<Phrase> phrases;
  };
  std::vector<Type> types_;
};

}  // namespace hark::friction

#endif  // HARK_SERVER_FRICTION_TAGGER_H_
