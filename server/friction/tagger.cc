#include "server/friction/tagger.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"

namespace hark::friction {
namespace {

// The friction types in the order that breaks ties.
constexpr std::array<absl::string_view, 4> kTypes = {"product", "process",
                                                     "pricing", "perception"};

int TypeIndex(absl::string_view name) {
  for (int i = 0; i < static_cast<int>(kTypes.size()); ++i) {
    if (kTypes[i] == name) return i;
  }
  return -1;
}

constexpr double kChoiceConfidence = 0.9;
constexpr double kHypothesisConfidence = 0.3;

double TextConfidence(int distinct_phrases) {
  return std::min(0.8, 0.5 + 0.1 * (distinct_phrases - 1));
}

// --- stemming ----------------------------------------------------------------

bool EndsWith(const std::string& w, absl::string_view suffix) {
  return absl::EndsWith(w, suffix);
}

bool HasVowel(absl::string_view s) {
  return s.find_first_of("aeiouy") != absl::string_view::npos;
}

// "stopp" -> "stop"; not l, s, z ("bill", "miss", "buzz"), and never below
// 3 letters ("add").
std::string Undouble(std::string s) {
  const size_t n = s.size();
  if (n >= 4 && s[n - 1] == s[n - 2] && !HasVowel(s.substr(n - 1)) &&
      s[n - 1] != 'l' && s[n - 1] != 's' && s[n - 1] != 'z') {
    s.pop_back();
  }
  return s;
}

std::string Stem(std::string w) {
  if (w.size() <= 3) return w;
  for (char c : w) {
    if (!absl::ascii_islower(static_cast<unsigned char>(c))) return w;
  }
  if (EndsWith(w, "thing")) return w;
  // 1. Plurals and the third person.
  if (EndsWith(w, "ies") && w.size() > 4) {
    w.resize(w.size() - 3);
    w += 'y';
  } else if (EndsWith(w, "sses") || EndsWith(w, "shes") ||
             EndsWith(w, "ches") || EndsWith(w, "xes") || EndsWith(w, "zes")) {
    w.resize(w.size() - 2);
  } else if (EndsWith(w, "s") && !EndsWith(w, "ss") && !EndsWith(w, "us") &&
             !EndsWith(w, "is")) {
    w.pop_back();
  }
  // 2. -ing, -ed.
  if (EndsWith(w, "ing")) {
    const std::string stem = w.substr(0, w.size() - 3);
    if (stem.size() >= 3 && HasVowel(stem)) w = Undouble(stem);
  } else if (EndsWith(w, "ied") && w.size() > 4) {
    w.resize(w.size() - 3);
    w += 'y';
  } else if (EndsWith(w, "ed") && !EndsWith(w, "eed")) {
    const std::string stem = w.substr(0, w.size() - 2);
    if (stem.size() >= 3 && HasVowel(stem)) w = Undouble(stem);
  }
  // 3. A final e ("price" and "pricing" meet at "pric").
  if (w.size() > 3 && EndsWith(w, "e") && !EndsWith(w, "ee")) w.pop_back();
  return w;
}

// --- word lists (stemmed when built) ----------------------------------------

using WordSet = absl::flat_hash_set<std::string>;

WordSet Stemmed(std::initializer_list<absl::string_view> words) {
  WordSet out;
  for (absl::string_view w : words) out.insert(Stem(std::string(w)));
  return out;
}

// Negation words that are interchangeable inside a phrase: plain negation
// ("not") and inability ("cant").
const WordSet& NotWords() {
  static const WordSet* const kSet =
      new WordSet(Stemmed({"not", "never", "isnt", "wasnt", "arent", "werent",
                           "dont", "doesnt", "didnt", "wont", "wouldnt",
                           "shouldnt", "hasnt", "havent", "hadnt", "aint"}));
  return *kSet;
}

const WordSet& CantWords() {
  static const WordSet* const kSet =
      new WordSet(Stemmed({"cant", "cannot", "couldnt"}));
  return *kSet;
}

// Words that negate a phrase shortly after them (rule (a)).
bool IsNegator(const std::string& w) {
  static const WordSet* const kMore =
      new WordSet(Stemmed({"no", "nothing", "without", "hardly"}));
  return NotWords().contains(w) || CantWords().contains(w) ||
         kMore->contains(w);
}

// Words that start a denial after a phrase (rule (b)).
bool IsDenial(const std::string& w) {
  static const WordSet* const kSet =
      new WordSet(Stemmed({"not", "no", "never", "isnt", "wasnt", "arent",
                           "werent", "dont", "doesnt", "didnt"}));
  return kSet->contains(w);
}

bool IsCause(const std::string& w) {
  static const WordSet* const kSet = new WordSet(
      Stemmed({"problem", "issue", "reason", "concern", "factor", "deal",
               "dealbreaker", "matter", "why", "complaint"}));
  return kSet->contains(w);
}

// Words that do not count in the distance of rule (a).
bool IsFiller(const std::string& w) {
  static const WordSet* const kSet = new WordSet(Stemmed(
      {"the",  "a",    "an",     "my",      "our",   "your",     "their",
       "its",  "his",  "her",    "this",    "that",  "these",    "those",
       "any",  "some", "really", "very",    "so",    "much",     "about",
       "with", "of",   "for",    "by",      "at",    "all",      "even",
       "real", "big",  "major",  "problem", "issue", "complaint"}));
  return kSet->contains(w);
}

// Fillers that may stand between a positive word and the phrase it praises
// (rule (c): "a fair price", "really great support", "worth the price").
bool IsIntensifierOrArticle(const std::string& w) {
  static const WordSet* const kSet =
      new WordSet(Stemmed({"the", "a", "an", "its", "this", "that", "really",
                           "very", "so", "pretty", "super", "quite"}));
  return kSet->contains(w);
}

// Words of wanting, liking or trying (exception to rule (a)).
bool IsAttemptVerb(const std::string& w) {
  static const WordSet* const kSet = new WordSet(Stemmed(
      {"get",     "understand", "access", "afford",  "justify", "expect",
       "like",    "love",       "enjoy",  "fan",     "want",    "know",
       "reach",   "complete",   "finish", "pay",     "sign",    "log",
       "login",   "set",        "cancel", "connect", "export",  "import",
       "install", "upgrade",    "open",   "save",    "sync"}));
  return kSet->contains(w);
}

bool IsPositive(const std::string& w) {
  static const WordSet* const kSet = new WordSet(Stemmed(
      {"fine",       "ok",         "okay",    "good",      "great",
       "fair",       "reasonable", "clear",   "easy",      "easily",
       "excellent",  "perfect",    "helpful", "quick",     "quickly",
       "fast",       "simple",     "smooth",  "intuitive", "straightforward",
       "painless",   "seamless",   "nice",    "awesome",   "amazing",
       "responsive", "friendly",   "worth",   "happy",     "satisfied",
       "pleased"}));
  return kSet->contains(w);
}

bool IsClauseWord(const std::string& w) {
  static const WordSet* const kSet =
      new WordSet(Stemmed({"but", "however", "although", "though"}));
  return kSet->contains(w);
}

// The word a phrase matches on: negation words of one group are one word.
std::string MatchKey(const std::string& word) {
  if (NotWords().contains(word)) return "not";
  if (CantWords().contains(word)) return "cant";
  return word;
}

// --- tokenizing
// ---------------------------------------------------------------

struct Token {
  std::string word;  // normalised
  std::string key;   // MatchKey(word)
  int clause = 0;
};

bool IsAsciiSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

std::vector<Token> Tokenize(absl::string_view text) {
  std::vector<Token> tokens;
  std::string word;
  int clause = 0;
  bool pending_break = false;
  auto flush = [&]() {
    if (word.empty()) return;
    std::string stemmed = Stem(std::move(word));
    word.clear();
    if (pending_break || IsClauseWord(stemmed)) ++clause;
    pending_break = false;
    Token t;
    t.key = MatchKey(stemmed);
    t.word = std::move(stemmed);
    t.clause = clause;
    tokens.push_back(std::move(t));
  };
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const unsigned char c1 =
        i + 1 < n ? static_cast<unsigned char>(text[i + 1]) : 0;
    const unsigned char c2 =
        i + 2 < n ? static_cast<unsigned char>(text[i + 2]) : 0;
    if (c == '\'') continue;
    if (absl::ascii_isalnum(c)) {
      word += absl::ascii_tolower(c);
      continue;
    }
    if (c >= 0x80) {
      if (c == 0xE2 && c1 == 0x80 && (c2 == 0x98 || c2 == 0x99)) {
        i += 2;  // U+2018, U+2019: typographic apostrophes
        continue;
      }
      if (c == 0xC2 && c1 >= 0xA0 && c1 <= 0xBF) {
        flush();  // Latin-1 punctuation and the no-break space
        ++i;
        continue;
      }
      if (c == 0xE2 && c2 >= 0x80 && c2 <= 0xBF &&
          (c1 == 0x80 || (c1 == 0x81 && c2 <= 0xAF))) {
        flush();  // general punctuation
        // U+2013 en dash, U+2014 em dash, U+2026 ellipsis end a clause.
        if (c1 == 0x80 && (c2 == 0x93 || c2 == 0x94 || c2 == 0xA6)) {
          pending_break = true;
        }
        i += 2;
        continue;
      }
      word += static_cast<char>(c);
      continue;
    }
    flush();
    switch (c) {
      case '.':
      case ',': {
        const bool between_digits =
            i > 0 &&
            absl::ascii_isdigit(static_cast<unsigned char>(text[i - 1])) &&
            absl::ascii_isdigit(c1);
        if (!between_digits) pending_break = true;
        break;
      }
      case ';':
      case '!':
      case '?':
      case '\n':
        pending_break = true;
        break;
      case '-':
        // A dash set off by spaces; not the hyphen of "sign-up".
        if (i == 0 || i + 1 == n ||
            IsAsciiSpace(static_cast<unsigned char>(text[i - 1])) ||
            IsAsciiSpace(c1)) {
          pending_break = true;
        }
        break;
      default:
        break;
    }
  }
  flush();
  return tokens;
}

// --- discounting
// ----------------------------------------------------------------

// Rule (a): a negator among the 3 non-filler words before [start, end).
bool NegatedBefore(const std::vector<Token>& t, int start) {
  const int clause = t[start].clause;
  const bool attempt_phrase = IsAttemptVerb(t[start].word);
  bool attempt_between = false;
  int distance = 0;
  for (int j = start - 1; j >= 0 && t[j].clause == clause; --j) {
    const std::string& w = t[j].word;
    // "doesn't work and it's slow": the negation stays with "work".
    if (w == "and") break;
    if (!IsFiller(w) && ++distance > 3) break;
    if (IsNegator(w)) return !(attempt_phrase || attempt_between);
    if (IsAttemptVerb(w)) attempt_between = true;
  }
  return false;
}

// Rule (b): "X wasn't the problem".
bool DeniedAfter(const std::vector<Token>& t, int end) {
  const int n = static_cast<int>(t.size());
  if (end >= n) return false;
  const int clause = t[end - 1].clause;
  for (int k = end; k < n && k < end + 3 && t[k].clause == clause; ++k) {
    if (!IsDenial(t[k].word)) continue;
    for (int m = k + 1; m < n && m <= k + 3 && t[m].clause == clause; ++m) {
      if (IsCause(t[m].word)) return true;
    }
    return false;
  }
  return false;
}

// Rule (c): praise after or before.
bool Praised(const std::vector<Token>& t, int start, int end) {
  const int n = static_cast<int>(t.size());
  const int clause = t[start].clause;
  for (int k = end; k < n && k < end + 3 && t[k].clause == clause; ++k) {
    if (IsNegator(t[k].word)) break;
    if (IsPositive(t[k].word)) return true;
  }
  auto same = [&](int j) { return j >= 0 && t[j].clause == clause; };
  if (same(start - 1) && IsPositive(t[start - 1].word)) return true;
  if (same(start - 2) && IsPositive(t[start - 2].word) &&
      IsIntensifierOrArticle(t[start - 1].word)) {
    return true;
  }
  // "happy with the price": positive, "with", fillers only.
  for (int j = start - 1; same(j); --j) {
    if (t[j].word == "with") {
      return same(j - 1) && IsPositive(t[j - 1].word);
    }
    if (!IsFiller(t[j].word)) break;
  }
  return false;
}

}  // namespace

std::vector<std::string> NormalizeWords(absl::string_view text) {
  std::vector<std::string> words;
  for (Token& t : Tokenize(text)) words.push_back(std::move(t.word));
  return words;
}

Tagger::Tagger(const rules::Taxonomy* taxonomy) {
  if (taxonomy == nullptr) return;
  for (absl::string_view name : kTypes) {
    Type type;
    type.name = std::string(name);
    absl::flat_hash_set<std::string> seen;
    for (const rules::Taxonomy::Type& in : taxonomy->types) {
      if (in.name != name) continue;
      for (const std::string& text : in.phrases) {
        Phrase p;
        for (Token& t : Tokenize(text)) {
          p.words.push_back(std::move(t.key));
          if (!p.text.empty()) p.text += ' ';
          p.text += t.word;
        }
        if (p.words.empty()) continue;
        if (!seen.insert(absl::StrJoin(p.words, " ")).second) continue;
        type.phrases.push_back(std::move(p));
      }
    }
    if (type.phrases.empty()) continue;
    const int type_index = static_cast<int>(types_.size());
    for (int i = 0; i < static_cast<int>(type.phrases.size()); ++i) {
      by_first_word_[type.phrases[i].words[0]].emplace_back(type_index, i);
    }
    types_.push_back(std::move(type));
  }
}

std::vector<Tagger::TextMatch> Tagger::MatchText(absl::string_view text) const {
  std::vector<TextMatch> out;
  if (types_.empty()) return out;
  const std::vector<Token> tokens = Tokenize(text);
  const int n = static_cast<int>(tokens.size());
  struct Occurrence {
    int type;
    int phrase;
    int start;
    int end;
  };
  std::vector<Occurrence> found;
  for (int i = 0; i < n; ++i) {
    auto it = by_first_word_.find(tokens[i].key);
    if (it == by_first_word_.end()) continue;
    for (const auto& [type, phrase] : it->second) {
      const std::vector<std::string>& words =
          types_[type].phrases[phrase].words;
      const int len = static_cast<int>(words.size());
      if (i + len > n) continue;
      bool match = true;
      for (int k = 0; k < len && match; ++k) {
        match = tokens[i + k].key == words[k] &&
                tokens[i + k].clause == tokens[i].clause;
      }
      if (!match) continue;
      if (NegatedBefore(tokens, i) || DeniedAfter(tokens, i + len) ||
          Praised(tokens, i, i + len)) {
        continue;
      }
      found.push_back({type, phrase, i, i + len});
    }
  }
  // Rule (d): an occurrence inside a longer one does not count.
  std::vector<Occurrence> counted;
  for (const Occurrence& a : found) {
    bool inside = false;
    for (const Occurrence& b : found) {
      if (b.start <= a.start && a.end <= b.end &&
          b.end - b.start > a.end - a.start) {
        inside = true;
        break;
      }
    }
    if (!inside) counted.push_back(a);
  }
  // `found` is ordered by start, so phrases come in order of occurrence.
  for (int type = 0; type < static_cast<int>(types_.size()); ++type) {
    TextMatch match;
    std::vector<int> seen;
    for (const Occurrence& o : counted) {
      if (o.type != type) continue;
      if (std::find(seen.begin(), seen.end(), o.phrase) != seen.end()) {
        continue;
      }
      seen.push_back(o.phrase);
      match.phrases.push_back(types_[type].phrases[o.phrase].text);
    }
    if (match.phrases.empty()) continue;
    match.friction = types_[type].name;
    out.push_back(std::move(match));
  }
  return out;
}

std::vector<Tag> Tagger::TagResponse(const TagInput& input) const {
  std::array<int, kTypes.size()> choices{};
  // Distinct phrases per type over every text of the response.
  std::array<std::vector<std::string>, kTypes.size()> phrases;
  auto add_text = [&](absl::string_view text) {
    for (TextMatch& m : MatchText(text)) {
      std::vector<std::string>& list = phrases[TypeIndex(m.friction)];
      for (std::string& p : m.phrases) {
        if (std::find(list.begin(), list.end(), p) == list.end()) {
          list.push_back(std::move(p));
        }
      }
    }
  };
  for (const hark::v1::Answer& answer : input.answers) {
    if (answer.value_case() == hark::v1::Answer::kText) {
      add_text(answer.text());
      continue;
    }
    if (input.survey == nullptr) continue;
    std::vector<absl::string_view> ids;
    if (answer.value_case() == hark::v1::Answer::kChoice) {
      ids.push_back(answer.choice());
    } else if (answer.value_case() == hark::v1::Answer::kChoices) {
      for (const std::string& id : answer.choices().ids()) {
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
          ids.push_back(id);
        }
      }
    } else {
      continue;
    }
    const rules::Question* question = nullptr;
    for (const rules::Question& q : input.survey->questions) {
      if (q.id == answer.question_id()) question = &q;
    }
    if (question == nullptr ||
        (question->type != rules::Question::Type::kSingleChoice &&
         question->type != rules::Question::Type::kMultiChoice)) {
      continue;
    }
    for (absl::string_view id : ids) {
      for (const rules::Question::Choice& choice : question->choices) {
        if (choice.id != id) continue;
        const int type = TypeIndex(choice.friction);
        if (type >= 0) ++choices[type];
      }
    }
  }
  if (!input.notes.empty()) add_text(input.notes);

  struct Candidate {
    int type;
    int source_rank;  // 0 choice, 1 text
    int evidence;
  };
  std::vector<Candidate> candidates;
  for (int type = 0; type < static_cast<int>(kTypes.size()); ++type) {
    if (choices[type] > 0) {
      candidates.push_back({type, 0, choices[type]});
    } else if (!phrases[type].empty()) {
      candidates.push_back({type, 1, static_cast<int>(phrases[type].size())});
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) {
              if (a.source_rank != b.source_rank) {
                return a.source_rank < b.source_rank;
              }
              if (a.evidence != b.evidence) return a.evidence > b.evidence;
              return a.type < b.type;
            });
  std::vector<Tag> tags;
  for (const Candidate& c : candidates) {
    Tag tag;
    tag.friction = std::string(kTypes[c.type]);
    tag.source = c.source_rank == 0 ? "choice" : "text";
    tag.confidence =
        c.source_rank == 0 ? kChoiceConfidence : TextConfidence(c.evidence);
    tag.primary = tags.empty();
    tags.push_back(std::move(tag));
  }
  if (tags.empty()) {
    Tag tag;
    tag.source = "hypothesis";
    tag.primary = true;
    if (TypeIndex(input.hypothesis) >= 0) {
      tag.friction = std::string(input.hypothesis);
      tag.confidence = kHypothesisConfidence;
    } else {
      tag.friction = "unknown";
      tag.confidence = 0;
    }
    tags.push_back(std::move(tag));
  }
  return tags;
}

}  // namespace hark::friction
