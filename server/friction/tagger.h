#ifndef HARK_SERVER_FRICTION_TAGGER_H_
#define HARK_SERVER_FRICTION_TAGGER_H_

// Friction tagging (DESIGN.md, "Responses and friction"): decides the
// friction types of a response. Pure: no clock, no store, no threads.
//
// Order of evidence, strongest first:
//   1. choice      a chosen answer mapped to a friction type in the survey
//                  (`friction:` of a choice); confidence 0.9. Each chosen
//                  choice counts once (a multi-choice answer picking two
//                  product choices is 2 for product).
//   2. text        free text (text answers and interview notes, each on its
//                  own) matched against the taxonomy's phrases after
//                  normalisation (NormalizeWords: lower case, punctuation
//                  removed, simple stemming, so "prices" and "pricing" match
//                  "price"); the evidence of a type is the number of its
//                  distinct phrases found; confidence 0.5 for one phrase,
//                  +0.1 for each further one, at most 0.8.
//   3. hypothesis  the rule's friction_hypothesis; confidence 0.3.
//   4. unknown     nothing applies and the rule has no hypothesis (or one
//                  that is not a friction type); source "hypothesis",
//                  confidence 0.
// The primary tag is the strongest piece of evidence: the friction type with
// the most choices if any choice maps to one, else the type with the most
// distinct phrases; ties are broken by the order product, process, pricing,
// perception. Every other friction type found by choice or text is a
// secondary tag (one tag per type, with its strongest source), ordered by
// source, then evidence, then that order. The hypothesis is used only when
// neither choice nor text found anything.
//
// Phrase matching, exactly:
//   * A phrase matches where its normalised words occur consecutively in one
//     clause of the text. Clauses end at . , ; ! ? a line break, an en or em
//     dash or " - ", "…", and before the words but, however, although,
//     though (a '.' or ',' between two digits does not end one: "2.5").
//   * Inside a phrase, negation words of one group are interchangeable:
//     not, never, isnt, wasnt, arent, werent, dont, doesnt, didnt, wont,
//     wouldnt, shouldnt, hasnt, havent, hadnt, aint match each other (the
//     phrase "not worth" also matches "wasn't worth", "doesn't work" also
//     "didn't work"), and so do cant, cannot, couldnt ("couldn't find" also
//     matches "can't find" but not "didn't find it confusing").
//   * An occurrence does not count (is discounted) when:
//     (a) negated before: a negator (the words above, plus no, nothing,
//         without, hardly) stands among the 3 words before it in its clause
//         and after the last "and" ("doesn't work and it's slow" keeps
//         "slow"), not counting the filler words the a an my our your their its
//         his her this that these those any some really very so much about with
//         of for by at all even real big major problem issue complaint
//         ("not the price", "no issue with the price", "never had a
//         problem with billing", "not about the cost"). Except when a word
//         of wanting, liking or trying stands between the negator and the
//         phrase or begins the phrase (get understand access afford justify
//         expect like love enjoy fan want know reach complete finish pay
//         sign log login set cancel connect export import install upgrade
//         open save sync): then the customer could not do or did not like
//         something, which is the friction ("couldn't afford the price",
//         "didn't like the pricing", "not a fan of the pricing", "couldn't
//         sign up").
//     (b) denied after: within the 3 words after it, in its clause, comes
//         not, no, never, isnt, wasnt, arent, werent, dont, doesnt or didnt
//         and within the 3 words after that a word saying "cause": problem
//         issue reason concern factor deal dealbreaker matter why complaint
//         ("price wasn't the problem", "the cost is not really an issue",
//         "pricing doesn't matter").
//     (c) praised: within the 3 words after it, in its clause and before
//         any negator, comes a positive word (fine ok okay good great fair
//         reasonable clear easy easily excellent perfect helpful quick
//         quickly fast simple smooth intuitive straightforward painless
//         seamless nice awesome amazing responsive friendly worth happy
//         satisfied pleased): "the price is fine", "support was great"; or
//         a positive word stands right before it, or two words before it
//         with one of the a an its this that really very so pretty super
//         quite between ("great support", "a fair price", "worth the
//         price"), or a positive word and "with" stand before it with only
//         filler words between ("happy with the price").
//     (d) inside a longer counted occurrence (of any type): "missing
//         feature" counts once, not also as "feature".
//   So a complaint that is itself a negation ("no documentation", "don't
//   trust", "not worth") is written as a phrase of its own in the taxonomy:
//   the negator inside a phrase is part of it, not a negation of it.

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
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

// Normalises text for phrase matching: ASCII lower case; a word is a run of
// ASCII letters and digits and non-ASCII UTF-8 bytes (so "größe" stays one
// word), except that Latin-1 punctuation (U+00A0-U+00BF, e.g. a no-break
// space) and general punctuation (U+2000-U+206F: dashes, typographic
// quotes) separate words like any other ASCII character; apostrophes (',
// U+2018, U+2019) are dropped, so "wasn't" becomes "wasnt". Each word of
// ASCII letters only is stemmed (words with digits or non-ASCII bytes are
// kept as they are), in three steps:
//   1. plural / third person: "ies" -> "y" (words over 4 letters);
//      "sses" -> "ss"; "shes" "ches" "xes" "zes" lose "es"; otherwise a
//      final "s" goes, except after s, u or i ("class", "status", "this").
//   2. "ing" and "ed" go when at least 3 letters with a vowel (a e i o u y)
//      remain ("ied" -> "y" for words over 4 letters, "eed" stays: "need");
//      a doubled final consonant other than l, s, z is then undoubled when
//      3 letters remain ("stopped" -> "stop", "billing" -> "bill").
//   3. a final "e" goes (not "ee") when 3 letters remain.
// Words of 3 letters or less and words ending in "thing" ("nothing") are
// not stemmed. So "price", "prices", "pricing", "priced" -> "pric" and
// "crash", "crashes", "crashed", "crashing" -> "crash". Exposed for tests.
std::vector<std::string> NormalizeWords(absl::string_view text);

// A compiled taxonomy. Immutable and thread-safe once built.
class Tagger {
 public:
  // `taxonomy` may be null: then free text never matches.
  explicit Tagger(const rules::Taxonomy* taxonomy);

  // The tags of a response, primary first. Never empty.
  std::vector<Tag> TagResponse(const TagInput& input) const;

  // The friction types found in `text` (in the order product, process,
  // pricing, perception) with the phrases that counted (normalised text, in
  // the order of their first occurrence, each once); discounted occurrences
  // are left out. For tests and `hark` diagnostics.
  struct TextMatch {
    std::string friction;
    std::vector<std::string> phrases;
  };
  std::vector<TextMatch> MatchText(absl::string_view text) const;

 private:
  struct Phrase {
    // Normalised, with negation words replaced by "not" or "cant" (the
    // matching key).
    std::vector<std::string> words;
    std::string text;  // normalised, joined by ' '
  };
  struct Type {
    std::string name;
    std::vector<Phrase> phrases;
  };
  // The types of the taxonomy in the order product, process, pricing,
  // perception; phrases unique per type by `words`.
  std::vector<Type> types_;
  // (type, phrase) indexes by the phrase's first matching word.
  absl::flat_hash_map<std::string, std::vector<std::pair<int, int>>>
      by_first_word_;
};

}  // namespace hark::friction

#endif  // HARK_SERVER_FRICTION_TAGGER_H_
