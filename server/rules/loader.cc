// LoadRuleSet and ReadRuleDir: strict YAML loading of rule files.
//
// Each file is parsed by yaml-cpp (which throws; every exception is caught
// here and becomes a LoadError) and then walked by hand: no yaml-cpp
// conversion that could throw is used on user data. The walk never stops
// at the first problem: a bad rule is skipped after all its errors are
// recorded, and the next rule is read, so a researcher sees every error of
// a file in one run. Positions are 1-based; inside a one-line `where:` the
// column points at the offending character of the expression.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "server/rules/expr.h"
#include "server/rules/rule_set.h"
#include "server/rules/suggest.h"
#include "server/rules/template.h"
#include "yaml-cpp/yaml.h"

namespace hark::rules {
namespace {

constexpr absl::string_view kFrictionTypes[] = {"product", "process", "pricing",
                                                "perception"};
constexpr absl::string_view kFrictionTypeList =
    "product, process, pricing, perception";

constexpr absl::string_view kDurationHint =
    "use a number and a unit: 30s, 10m, 2h, 14d (or combined: 1h30m)";

// Every key of the format, for "did you mean" across levels.
constexpr absl::string_view kAllKeys[] = {"rules",
                                          "contact_policy",
                                          "tests",
                                          "id",
                                          "description",
                                          "friction_hypothesis",
                                          "pattern",
                                          "action",
                                          "cooldown",
                                          "sample",
                                          "priority",
                                          "mode",
                                          "match",
                                          "count",
                                          "sequence",
                                          "event",
                                          "where",
                                          "group_by",
                                          "at_least",
                                          "within",
                                          "steps",
                                          "absent",
                                          "as",
                                          "survey",
                                          "interview",
                                          "delay",
                                          "expires",
                                          "max_prompts_per_user",
                                          "per",
                                          "max_interviews_per_user",
                                          "interviews_per",
                                          "quiet_hours",
                                          "name",
                                          "events",
                                          "identify",
                                          "expect",
                                          "run_for",
                                          "at",
                                          "user",
                                          "props",
                                          "traits",
                                          "rule",
                                          "surveys",
                                          "interviews",
                                          "quota",
                                          "max",
                                          "title",
                                          "questions",
                                          "type",
                                          "text",
                                          "required",
                                          "choices",
                                          "label",
                                          "friction",
                                          "invitation",
                                          "booking_url",
                                          "duration",
                                          "incentive",
                                          "timezone_trait",
                                          "max_staleness",
                                          "priority_window",
                                          "taxonomy",
                                          "phrases"};

struct Pos {
  int line = 0;
  int column = 0;
};

Pos PosOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

std::string PosText(absl::string_view path, Pos pos) {
  return absl::StrCat(path, ":", pos.line, ":", pos.column);
}

bool IsRuleId(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_')) {
      return false;
    }
  }
  return true;
}

bool IsEventName(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' ||
          c == '.' || c == ':' || c == '-')) {
      return false;
    }
  }
  return true;
}

bool IsAlias(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  if (!(absl::ascii_islower(s[0]) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_')) {
      return false;
    }
  }
  return true;
}

// Names the predicate language gives a meaning of its own.
bool IsReservedAlias(absl::string_view s) {
  static const absl::string_view kReserved[] = {
      "props", "user", "event", "true", "false", "null",
      "in",    "has",  "and",   "or",   "not"};
  return std::find(std::begin(kReserved), std::end(kReserved), s) !=
         std::end(kReserved);
}

// One key: value of a YAML map.
struct Entry {
  YAML::Node key;
  YAML::Node value;
  std::string name;
};

// The entries of a map, in file order, with known keys only.
class Fields {
 public:
  const Entry* Get(absl::string_view name) const {
    for (const Entry& e : entries_) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }
  void Add(Entry e) { entries_.push_back(std::move(e)); }
  const std::vector<Entry>& entries() const { return entries_; }
  // A known key that an unknown key looked like (`withn` → `within`): its
  // absence is already explained by the unknown-key error.
  void AddMisspelled(std::string name) {
    misspelled_.push_back(std::move(name));
  }
  bool Misspelled(absl::string_view name) const {
    return std::find(misspelled_.begin(), misspelled_.end(), name) !=
           misspelled_.end();
  }

 private:
  std::vector<Entry> entries_;
  std::vector<std::string> misspelled_;
};

// The YAML values of one scalar: is it written without quotes (so `3` is
// a number and `true` a boolean), or quoted / a block (always text)?
bool IsPlain(const YAML::Node& node) { return node.Tag() == "?"; }

bool LooksLikeNumber(absl::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  bool digits = false;
  while (i < s.size() && absl::ascii_isdigit(s[i])) {
    ++i;
    digits = true;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) {
      ++i;
      digits = true;
    }
  }
  if (!digits) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    bool exp = false;
    while (i < s.size() && absl::ascii_isdigit(s[i])) {
      ++i;
      exp = true;
    }
    if (!exp) return false;
  }
  return i == s.size();
}

// The words of a taxonomy phrase as the tagger (server/friction) sees them,
// before stemming: ASCII lower case, apostrophes (' and the typographic ones)
// dropped, any other ASCII character that is not a letter or digit, Latin-1
// punctuation (U+00A0-U+00BF) and general punctuation (U+2000-U+206F)
// separate words; other non-ASCII bytes belong to words. Joined by one
// space; empty when the phrase has no word. Two phrases with the same key
// can never be told apart.
std::string PhraseKey(absl::string_view text) {
  std::string out;
  bool gap = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const unsigned char c1 =
        i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    const unsigned char c2 =
        i + 2 < text.size() ? static_cast<unsigned char>(text[i + 2]) : 0;
    if (c == '\'') continue;
    if (c == 0xE2 && c1 == 0x80 && (c2 == 0x98 || c2 == 0x99)) {
      i += 2;  // U+2018, U+2019: typographic apostrophes
      continue;
    }
    if (c == 0xC2 && c1 >= 0xA0 && c1 <= 0xBF) {
      ++i;
      gap = true;
      continue;
    }
    if (c == 0xE2 && (c1 == 0x80 || (c1 == 0x81 && c2 <= 0xAF)) && c2 != 0) {
      i += 2;
      gap = true;
      continue;
    }
    if (absl::ascii_isalnum(c) || c >= 0x80) {
      if (gap && !out.empty()) out += ' ';
      gap = false;
      out += absl::ascii_tolower(c);
      continue;
    }
    gap = true;
  }
  return out;
}

// Reads one file. Errors go to `errors`; what is valid goes to the
// out-parameters of Load().
class FileLoader {
 public:
  FileLoader(const SourceFile& file, std::vector<LoadError>* errors)
      : file_(file), errors_(errors) {
    lines_ = absl::StrSplit(file_.content, '\n');
  }

  struct RuleOut {
    Rule rule;
    bool valid = false;
    Pos id_pos;
    // Of the action's survey or interview id.
    Pos action_target_pos;
  };
  // Where a template's placeholders are, for checks against the rules
  // that use it.
  struct TemplateSite {
    int question = -1;  // -1: the survey's title or the invitation
    std::string what;   // "the title of survey `x`"
    std::vector<Pos> part_pos;
  };
  struct SurveyOut {
    Survey survey;
    bool valid = false;
    Pos id_pos;
    std::vector<TemplateSite> templates;
  };
  struct InterviewOut {
    Interview interview;
    bool valid = false;
    Pos id_pos;
    std::vector<TemplateSite> templates;
  };
  struct TestOut {
    RuleTest test;
    bool valid = false;
    // Positions of expect[i].rule, for the check against the whole set.
    std::vector<Pos> expect_rule_pos;
  };
  struct PolicyOut {
    ContactPolicy policy;
    bool valid = false;
    Pos pos;
  };
  struct TaxonomyOut {
    Taxonomy taxonomy;
    Pos pos;  // of the `taxonomy` key
  };

  void Load(std::vector<RuleOut>* rules, std::vector<TestOut>* tests,
            std::optional<PolicyOut>* policy, std::vector<SurveyOut>* surveys,
            std::vector<InterviewOut>* interviews,
            std::optional<TaxonomyOut>* taxonomy) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(file_.content);
    } catch (const YAML::ParserException& e) {
      SyntaxError(e);
      return;
    } catch (const YAML::Exception& e) {
      Error(Pos{e.mark.line + 1, e.mark.column + 1},
            absl::StrCat("cannot read the YAML: ", e.msg),
            "check the indentation, quotes and brackets around here");
      return;
    } catch (const std::exception& e) {
      Error(Pos{}, absl::StrCat("cannot read the YAML: ", e.what()), "");
      return;
    }
    try {
      if (docs.empty()) return;
      if (docs.size() > 1) {
        Error(PosOf(docs[1]), "a rule file holds one YAML document",
              "remove the `---` separator, or split the file in two");
      }
      const YAML::Node& root = docs[0];
      if (root.IsNull()) return;
      Fields top;
      if (!ReadMap(root, "a rule file",
                   {"rules", "contact_policy", "tests", "surveys", "interviews",
                    "taxonomy"},
                   &top)) {
        return;
      }
      if (const Entry* e = top.Get("rules")) ReadRules(*e, rules);
      if (const Entry* e = top.Get("contact_policy")) {
        *policy = ReadPolicy(*e);
      }
      if (const Entry* e = top.Get("tests")) ReadTests(*e, tests);
      if (const Entry* e = top.Get("surveys")) ReadSurveys(*e, surveys);
      if (const Entry* e = top.Get("interviews")) {
        ReadInterviews(*e, interviews);
      }
      if (const Entry* e = top.Get("taxonomy")) *taxonomy = ReadTaxonomy(*e);
    } catch (const std::exception& e) {
      // Not expected (the walk avoids throwing calls); never let it escape.
      Error(Pos{}, absl::StrCat("internal error while reading: ", e.what()),
            "please report this file to the Hark maintainers");
    }
  }

 private:
  // --- errors --------------------------------------------------------------

  void Error(Pos pos, std::string message, std::string hint) {
    LoadError e;
    e.path = file_.path;
    e.line = pos.line;
    e.column = pos.column;
    e.message = std::move(message);
    e.hint = std::move(hint);
    errors_->push_back(std::move(e));
    ++error_count_;
  }

  // A value's position; a missing value (`key:` with nothing after it) has
  // no useful mark of its own, so its key's position stands in.
  static Pos ValuePos(const Entry& e) {
    return e.value.IsNull() ? PosOf(e.key) : PosOf(e.value);
  }

  void SyntaxError(const YAML::ParserException& e) {
    const Pos pos{e.mark.line + 1, e.mark.column + 1};
    std::string hint = "check the indentation, quotes and brackets around here";
    const absl::string_view msg = e.msg;
    bool tab = false;
    for (int l = std::max(0, e.mark.line - 1);
         l <= e.mark.line && l < static_cast<int>(lines_.size()); ++l) {
      absl::string_view line = lines_[l];
      const size_t indent_end = line.find_first_not_of(" \t");
      if (line.substr(0, indent_end).find('\t') != absl::string_view::npos) {
        tab = true;
      }
    }
    if (tab) {
      hint = "indent with spaces; YAML does not allow tabs for indentation";
    } else if (QuestionMarkInFlow(e.mark.line)) {
      hint = "inside { } or [ ], quote a text that holds a `?`: text: \"Why?\"";
    } else if (absl::StrContains(msg, "sequence flow")) {
      hint = "a [ is not closed by a matching ]";
    } else if (absl::StrContains(msg, "map flow")) {
      hint = "a { is not closed by a matching }";
    } else if (absl::StrContains(msg, "illegal map value")) {
      hint =
          "a text containing `: ` must be quoted, e.g. where: 'props.a == 1'; "
          "or a key is indented wrongly";
    } else if (UnclosedFlowBefore(e.mark.line)) {
      hint = "a { or [ above is not closed by a matching } or ]";
    } else if (absl::StrContains(msg, "end of map not found") ||
               absl::StrContains(msg, "block entry")) {
      hint = "keys of one map must start in the same column";
    } else if (absl::StrContains(msg, "anchor")) {
      hint = "`*name` refers to an `&name` defined earlier in the file";
    }
    Error(pos, absl::StrCat("YAML syntax error: ", e.msg), hint);
  }

  // Whether line `line` (0-based) has an unquoted `?` right before a space,
  // `,`, `}` or `]` after a `{` or `[`: yaml-cpp reads `{ text: Why? }` as
  // an unclosed map.
  bool QuestionMarkInFlow(int line) const {
    if (line < 0 || line >= static_cast<int>(lines_.size())) return false;
    const absl::string_view text = lines_[line];
    char quote = 0;
    bool flow = false;
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (quote != 0) {
        if (c == quote) quote = 0;
        continue;
      }
      if (c == '#') break;
      if (c == '"' || c == '\'') quote = c;
      if (c == '{' || c == '[') flow = true;
      if (flow && c == '?' && i > 0 && text[i - 1] != ' ' &&
          (i + 1 == text.size() || text[i + 1] == ' ' || text[i + 1] == ',' ||
           text[i + 1] == '}' || text[i + 1] == ']')) {
        return true;
      }
    }
    return false;
  }

  // Whether more { [ than } ] are open before line `line` (0-based),
  // ignoring quoted text and comments: the usual cause of yaml-cpp's
  // "illegal block entry" / "end of map not found" further down.
  bool UnclosedFlowBefore(int line) const {
    int depth = 0;
    for (int l = 0; l < line && l < static_cast<int>(lines_.size()); ++l) {
      char quote = 0;
      for (char c : lines_[l]) {
        if (quote != 0) {
          if (c == quote) quote = 0;
          continue;
        }
        if (c == '#') break;
        if (c == '"' || c == '\'') quote = c;
        if (c == '{' || c == '[') ++depth;
        if ((c == '}' || c == ']') && depth > 0) --depth;
      }
    }
    return depth > 0;
  }

  // --- generic readers -----------------------------------------------------

  // Hints for keys that are known elsewhere in a rule file.
  // `*means` receives the key of this same map that `key` stands for, if
  // any (a test event's `name` is its `event`).
  static std::string MisplacedHint(absl::string_view where,
                                   absl::string_view key,
                                   std::string* means = nullptr) {
    auto meaning = [&](absl::string_view known) {
      if (means != nullptr) *means = std::string(known);
    };
    if (where == "a rule file" && (IsFrictionType(key) || key == "phrases")) {
      return "friction types and their phrases go under taxonomy: "
             "taxonomy: { pricing: { phrases: [\"too expensive\", "
             "\"price\"] } }";
    }
    if (absl::StartsWith(where, "friction type") &&
        (key == "keywords" || key == "words" || key == "terms" ||
         key == "examples" || key == "patterns")) {
      meaning("phrases");
      return "the words customers use are written phrases: [\"too "
             "expensive\", \"price\"]";
    }
    if (key == "allowed_lateness") {
      return "allowed_lateness is not a rule-file setting; it is the server "
             "flag harkd --allowed-lateness (default 1m)";
    }
    static const absl::string_view kPatternKeys[] = {
        "within", "where", "event", "steps", "at_least", "group_by", "absent"};
    const bool pattern_key =
        std::find(std::begin(kPatternKeys), std::end(kPatternKeys), key) !=
        std::end(kPatternKeys);
    if (where == "a rule" && pattern_key) {
      return absl::StrCat("`", key,
                          "` belongs inside the pattern, e.g. pattern: { "
                          "count: { event: error, at_least: 3, within: "
                          "\"10m\" } }");
    }
    if (where == "a rule" &&
        (key == "match" || key == "count" || key == "sequence")) {
      return absl::StrCat("put it under pattern: pattern: { ", key,
                          ": { ... } }");
    }
    if (where == "a rule" && (key == "survey" || key == "interview" ||
                              key == "delay" || key == "expires")) {
      return absl::StrCat("`", key,
                          "` belongs inside action: action: { survey: "
                          "cancel_exit, delay: \"10m\" }");
    }
    if (where == "a rule" &&
        (key == "questions" || key == "title" || key == "invitation")) {
      return "surveys and interviews are written at the top level of a "
             "file (surveys: [...], interviews: [...]); a rule names one: "
             "action: { survey: cancel_exit }";
    }
    if (where == "a question" &&
        (key == "options" || key == "answers" || key == "choice")) {
      meaning("choices");
      return "the answers to pick from are written choices: [ { id: slow, "
             "label: \"Too slow\" } ]";
    }
    if (where == "a question" && (key == "question" || key == "title")) {
      meaning("text");
      return "a question's wording is written text: \"What got in the "
             "way?\"";
    }
    if (where == "a choice" && (key == "text" || key == "title")) {
      meaning("label");
      return "a choice's wording is written label: \"Too slow\"";
    }
    if (where == "a choice" && key == "friction_hypothesis") {
      meaning("friction");
      return "a choice maps to a friction type with friction: process";
    }
    if (where == "a rule" && key == "name") {
      meaning("id");
      return "a rule is named by id:";
    }
    if (where == "a sequence" &&
        (key == "where" || key == "event" || key == "as")) {
      return absl::StrCat("`", key,
                          "` belongs to a step: steps: [ { as: start, event: "
                          "onboarding_started } ]");
    }
    if (where == "a sequence" && (key == "at_least" || key == "group_by")) {
      return absl::StrCat("`", key, "` belongs to count patterns");
    }
    if (where == "a pattern" &&
        (key == "within" || key == "where" || key == "event")) {
      return absl::StrCat("`", key,
                          "` belongs inside the kind, e.g. pattern: { count: "
                          "{ event: error, within: \"10m\" } }");
    }
    if ((where == "a match pattern") &&
        (key == "within" || key == "at_least" || key == "group_by")) {
      return absl::StrCat(
          "a match pattern is one event; for several events in a window use "
          "count (with `",
          key, "`)");
    }
    if (where == "a test event" && (key == "name" || key == "type")) {
      meaning("event");
      return "the event's name is written event: onboarding_started";
    }
    if (where == "a test event" && (key == "properties" || key == "prop")) {
      meaning("props");
      return "properties are written props: { plan: pro }";
    }
    if (where == "a test event" && (key == "user_id")) {
      meaning("user");
      return "the user is written user: u1";
    }
    if (where == "a test event" && (key == "time" || key == "timestamp")) {
      meaning("at");
      return "the time is written at: \"5m\" (since the start of the test)";
    }
    return "";
  }

  // Reads `node` as a map with the given keys. Reports a non-map, keys that
  // are not text, duplicate keys and unknown keys (each with a hint);
  // returns false only if `node` is not a map at all.
  bool ReadMap(const YAML::Node& node, absl::string_view what,
               std::vector<absl::string_view> known, Fields* out,
               Pos pos_if_null = {}) {
    if (!node.IsMap()) {
      const Pos pos =
          node.IsNull() && pos_if_null.line > 0 ? pos_if_null : PosOf(node);
      Error(pos,
            absl::StrCat(what, " must be a map of keys (",
                         absl::StrJoin(known, ", "), ")"),
            absl::StrCat("write key: value lines indented under it, or { ",
                         known.front(), ": ... }"));
      return false;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      Entry e{it->first, it->second, ""};
      if (!e.key.IsScalar()) {
        Error(PosOf(e.key), absl::StrCat("a key of ", what, " must be a name"),
              absl::StrCat("the keys here are ", absl::StrJoin(known, ", ")));
        continue;
      }
      e.name = e.key.Scalar();
      if (std::find(known.begin(), known.end(), e.name) == known.end()) {
        std::string means;
        std::string hint = MisplacedHint(what, e.name, &means);
        if (!means.empty()) out->AddMisspelled(means);
        if (hint.empty()) {
          const std::string near = internal::Nearest(e.name, known);
          if (!near.empty()) {
            hint = absl::StrCat("did you mean `", near, "`?");
            out->AddMisspelled(near);
          }
        }
        if (hint.empty()) {
          // A misspelling of a key that belongs elsewhere: `whithin` in a
          // rule is `within`, which goes inside the pattern.
          const std::string near = internal::Nearest(e.name, kAllKeys);
          const std::string where_hint =
              near.empty() ? "" : MisplacedHint(what, near);
          if (!where_hint.empty()) {
            hint = absl::StrCat("did you mean `", near, "`? ", where_hint);
          }
        }
        if (hint.empty()) {
          hint = absl::StrCat("the keys of ", what, " are ",
                              absl::StrJoin(known, ", "));
        }
        Error(PosOf(e.key),
              absl::StrCat("unknown key `", e.name, "` in ", what), hint);
        continue;
      }
      if (const Entry* first = out->Get(e.name)) {
        Error(PosOf(e.key),
              absl::StrCat("`", e.name, "` is given twice in ", what,
                           " (first at line ", PosOf(first->key).line, ")"),
              "keep one of them");
        continue;
      }
      out->Add(std::move(e));
    }
    return true;
  }

  bool Require(const Fields& fields, const YAML::Node& map,
               absl::string_view key, absl::string_view what,
               absl::string_view hint) {
    if (fields.Get(key) != nullptr) return true;
    if (fields.Misspelled(key)) return false;
    Error(PosOf(map), absl::StrCat(what, " is missing `", key, "`"),
          std::string(hint));
    return false;
  }

  std::optional<std::string> ReadText(const Entry& e, absl::string_view hint) {
    if (!e.value.IsScalar()) {
      Error(ValuePos(e),
            e.value.IsNull()
                ? absl::StrCat("`", e.name, "` has no value")
                : absl::StrCat("`", e.name, "` must be a single value, not ",
                               e.value.IsMap() ? "a map" : "a list"),
            std::string(hint));
      return std::nullopt;
    }
    return e.value.Scalar();
  }

  std::optional<int64_t> ReadInt(const Entry& e, absl::string_view example) {
    std::optional<std::string> text =
        ReadText(e, absl::StrCat("write a whole number: ", example));
    if (!text.has_value()) return std::nullopt;
    int64_t value = 0;
    if (!IsPlain(e.value) || !absl::SimpleAtoi(*text, &value)) {
      Error(ValuePos(e),
            absl::StrCat("`", e.name, "` must be a whole number, not `", *text,
                         "`"),
            absl::StrCat("write a number without quotes: ", example));
      return std::nullopt;
    }
    return value;
  }

  std::optional<absl::Duration> ReadDuration(const Entry& e) {
    std::optional<std::string> text = ReadText(e, kDurationHint);
    if (!text.has_value()) return std::nullopt;
    absl::Duration d;
    if (!ParseRuleDuration(*text, &d)) {
      Error(ValuePos(e),
            absl::StrCat("`", *text, "` is not a duration (in `", e.name, "`)"),
            std::string(kDurationHint));
      return std::nullopt;
    }
    return d;
  }

  std::optional<std::string> ReadEventName(const Entry& e) {
    std::optional<std::string> name =
        ReadText(e, "name the event: event: onboarding_started");
    if (!name.has_value()) return std::nullopt;
    if (!IsEventName(*name)) {
      std::string hint =
          "event names use lower-case letters, digits and _ . : - (at most "
          "64), e.g. onboarding_started";
      if (*name != absl::AsciiStrToLower(*name) &&
          IsEventName(absl::AsciiStrToLower(*name))) {
        hint = absl::StrCat("event names are lower-case: ",
                            absl::AsciiStrToLower(*name));
      }
      Error(ValuePos(e), absl::StrCat("`", *name, "` is not an event name"),
            hint);
      return std::nullopt;
    }
    return name;
  }

  // The file position of byte `offset` of the scalar `node`'s value. Walks
  // the source from the scalar's mark alongside the parsed value: plain,
  // quoted and block (| >) scalars, on one line or several, map exactly;
  // anything the walk cannot follow (\x and \u escapes, explicit
  // indentation indicators) falls back to the scalar's start.
  Pos ScalarOffsetPos(const YAML::Node& node, int offset) {
    const Pos start = PosOf(node);
    const YAML::Mark mark = node.Mark();
    const std::string& value = node.Scalar();
    if (mark.line < 0 || offset < 0 ||
        offset > static_cast<int>(value.size())) {
      return start;
    }
    auto line_text = [&](int l) -> absl::string_view {
      if (l < 0 || l >= static_cast<int>(lines_.size())) return {};
      absl::string_view t = lines_[l];
      if (!t.empty() && t.back() == '\r') t.remove_suffix(1);
      return t;
    };
    auto first_non_space = [](absl::string_view t) {
      const size_t i = t.find_first_not_of(" \t");
      return i == absl::string_view::npos ? t.size() : i;
    };
    enum class Style { kPlain, kSingle, kDouble, kBlock };
    Style style = Style::kPlain;
    int line = mark.line;
    size_t col = static_cast<size_t>(mark.column);
    const absl::string_view head = line_text(line);
    if (col > head.size()) return start;
    size_t block_indent = 0;
    if (!IsPlain(node)) {
      const char c = col < head.size() ? head[col] : '\0';
      if (c == '\'') {
        style = Style::kSingle;
        ++col;
      } else if (c == '"') {
        style = Style::kDouble;
        ++col;
      } else if (c == '|' || c == '>') {
        style = Style::kBlock;
        const absl::string_view indicator = head.substr(col + 1);
        const size_t extra = indicator.find_first_not_of("+-");
        if (extra != absl::string_view::npos &&
            absl::ascii_isdigit(indicator[extra])) {
          return start;  // explicit indentation: not followed here
        }
        ++line;
        int l = line;
        while (l < static_cast<int>(lines_.size()) &&
               first_non_space(line_text(l)) == line_text(l).size()) {
          ++l;
        }
        block_indent = first_non_space(line_text(l));
        col = std::min(block_indent, line_text(line).size());
      } else {
        return start;
      }
    }
    std::vector<Pos> at(value.size() + 1);
    size_t i = 0;
    while (i < value.size()) {
      if (line >= static_cast<int>(lines_.size())) return start;
      const absl::string_view text = line_text(line);
      if (col < text.size()) {
        const char r = text[col];
        if (style == Style::kDouble && r == '\\') {
          if (col + 1 >= text.size()) return start;
          static const absl::string_view kFrom = "\\\"/tn";
          static const absl::string_view kTo = "\\\"/\t\n";
          const size_t k = kFrom.find(text[col + 1]);
          if (k == absl::string_view::npos || kTo[k] != value[i]) return start;
          at[i++] = {line + 1, static_cast<int>(col) + 1};
          col += 2;
          continue;
        }
        if (style == Style::kSingle && r == '\'') {
          if (col + 1 < text.size() && text[col + 1] == '\'' &&
              value[i] == '\'') {
            at[i++] = {line + 1, static_cast<int>(col) + 1};
            col += 2;
            continue;
          }
          return start;
        }
        if (style == Style::kDouble && r == '"') return start;
        if (r == value[i]) {
          at[i++] = {line + 1, static_cast<int>(col) + 1};
          ++col;
          continue;
        }
        // Flow scalars drop the spaces before a line break.
        if (style != Style::kBlock && (r == ' ' || r == '\t') &&
            first_non_space(text.substr(col)) == text.size() - col) {
          col = text.size();
          continue;
        }
        return start;
      }
      // A line break in the source: a space or a newline in the value.
      if (value[i] != ' ' && value[i] != '\n') return start;
      at[i++] = {line + 1, static_cast<int>(col) + 1};
      ++line;
      const absl::string_view next = line_text(line);
      col = style == Style::kBlock ? std::min(block_indent, next.size())
                                   : first_non_space(next);
    }
    at[value.size()] = {line + 1, static_cast<int>(col) + 1};
    return at[offset];
  }

  // Compiles a `where:`. Null on error (reported at the exact character).
  std::shared_ptr<const Predicate> ReadWhere(const Entry& e, const ExprEnv& env,
                                             bool* ok) {
    std::optional<std::string> text =
        ReadText(e,
                 "write the condition in quotes: where: 'props.plan == "
                 "\"pro\"'");
    if (!text.has_value()) {
      *ok = false;
      return nullptr;
    }
    ExprError error;
    absl::StatusOr<std::unique_ptr<const Predicate>> compiled =
        CompilePredicate(*text, env, &error);
    if (!compiled.ok()) {
      *ok = false;
      Error(ScalarOffsetPos(e.value, error.offset),
            absl::StrCat("in where: ", error.message), error.hint);
      return nullptr;
    }
    return std::shared_ptr<const Predicate>(std::move(compiled).value());
  }

  // {event, where} (plus `extra` keys the caller reads itself).
  bool ReadFilter(const Fields& fields, const YAML::Node& map,
                  absl::string_view what, const ExprEnv& env,
                  EventFilter* out) {
    bool ok = Require(fields, map, "event", what,
                      "name the event: event: onboarding_started");
    if (const Entry* e = fields.Get("event")) {
      std::optional<std::string> name = ReadEventName(*e);
      if (name.has_value()) {
        out->event = *name;
      } else {
        ok = false;
      }
    }
    if (const Entry* e = fields.Get("where")) {
      out->where = ReadWhere(*e, env, &ok);
    }
    return ok;
  }

  // --- rules ---------------------------------------------------------------

  void ReadRules(const Entry& e, std::vector<RuleOut>* rules) {
    if (e.value.IsNull()) return;
    if (!e.value.IsSequence()) {
      Error(ValuePos(e), "`rules` must be a list of rules",
            "start each rule with `- id: ...`");
      return;
    }
    for (auto it = e.value.begin(); it != e.value.end(); ++it) {
      RuleOut out;
      const int before = error_count_;
      ReadRule(*it, &out);
      out.valid = error_count_ == before;
      rules->push_back(std::move(out));
    }
  }

  void ReadRule(const YAML::Node& node, RuleOut* out) {
    Rule& rule = out->rule;
    rule.pos = {file_.path, PosOf(node).line, PosOf(node).column};
    Fields f;
    if (!ReadMap(node, "a rule",
                 {"id", "description", "friction_hypothesis", "pattern",
                  "action", "cooldown", "sample", "priority", "mode", "quota"},
                 &f)) {
      return;
    }
    Require(f, node, "id", "a rule", "give it a name: id: repeated_errors");
    if (const Entry* e = f.Get("id")) {
      std::optional<std::string> id =
          ReadText(*e, "give it a name: id: repeated_errors");
      if (id.has_value()) {
        if (!IsRuleId(*id)) {
          Error(ValuePos(*e),
                absl::StrCat("`", *id, "` is not a valid rule id"),
                "use lower-case letters, digits and _ (at most 64), e.g. "
                "repeated_errors");
        } else {
          rule.id = *id;
          out->id_pos = ValuePos(*e);
        }
      }
    }
    if (const Entry* e = f.Get("description")) {
      if (std::optional<std::string> d = ReadText(*e, "write it as text")) {
        rule.description = *d;
      }
    }
    if (const Entry* e = f.Get("friction_hypothesis")) {
      ReadFriction(*e, &rule.friction_hypothesis);
    }
    if (Require(f, node, "pattern", "a rule",
                "say what to watch: pattern: { match: { event: ... } }")) {
      ReadPattern(*f.Get("pattern"), &rule.pattern);
    }
    if (const Entry* e = f.Get("action")) {
      ReadAction(*e, &rule.action, &out->action_target_pos);
    }
    if (const Entry* e = f.Get("quota")) rule.quota = ReadQuota(*e);
    if (const Entry* e = f.Get("cooldown")) {
      rule.cooldown = ReadDuration(*e);
    }
    if (const Entry* e = f.Get("sample")) ReadSample(*e, &rule.sample);
    if (const Entry* e = f.Get("priority")) {
      if (std::optional<int64_t> p = ReadInt(*e, "priority: 10")) {
        if (*p < -1000000 || *p > 1000000) {
          Error(ValuePos(*e), "priority must be between -1000000 and 1000000",
                "higher numbers win: priority: 10");
        } else {
          rule.priority = static_cast<int>(*p);
        }
      }
    }
    if (const Entry* e = f.Get("mode")) {
      if (std::optional<std::string> m = ReadText(*e, "mode: live")) {
        if (*m == "shadow") {
          rule.shadow = true;
        } else if (*m != "live") {
          Error(ValuePos(*e), absl::StrCat("unknown mode `", *m, "`"),
                "mode is live (the default: matches ask users) or shadow "
                "(matches are recorded, nobody is asked)");
        }
      }
    }
  }

  void ReadFriction(const Entry& e, std::string* out) {
    static const absl::string_view kTypes[] = {"product", "process", "pricing",
                                               "perception"};
    std::optional<std::string> text =
        ReadText(e, "one of product, process, pricing, perception");
    if (!text.has_value()) return;
    if (std::find(std::begin(kTypes), std::end(kTypes), *text) ==
        std::end(kTypes)) {
      const std::string near = internal::Nearest(*text, kTypes);
      Error(ValuePos(e), absl::StrCat("`", *text, "` is not a friction type"),
            near.empty()
                ? std::string("one of product, process, pricing, perception")
                : absl::StrCat("did you mean `", near,
                               "`? (product, process, pricing, perception)"));
      return;
    }
    *out = *text;
  }

  void ReadSample(const Entry& e, double* out) {
    std::optional<std::string> text =
        ReadText(e, "a share of users between 0 and 1: sample: 0.5");
    if (!text.has_value()) return;
    double value = 0;
    if (!IsPlain(e.value) || !LooksLikeNumber(*text) ||
        !absl::SimpleAtod(*text, &value)) {
      Error(ValuePos(e),
            absl::StrCat("`sample` must be a number, not `", *text, "`"),
            "a share of users, without quotes: sample: 0.5");
      return;
    }
    if (!(value > 0 && value <= 1)) {
      Error(
          ValuePos(e),
          absl::StrCat("sample must be more than 0 and at most 1, not ", *text),
          "sample: 0.5 asks half of the matched users (the same users "
          "every time); 1 asks everyone");
      return;
    }
    *out = value;
  }

  void ReadAction(const Entry& e, std::optional<Action>* out, Pos* target_pos) {
    Fields f;
    if (!ReadMap(e.value, "an action",
                 {"survey", "interview", "delay", "expires"}, &f,
                 PosOf(e.key))) {
      return;
    }
    Action action;
    const Entry* survey = f.Get("survey");
    const Entry* interview = f.Get("interview");
    bool ok = true;
    if (survey == nullptr && interview == nullptr) {
      Error(PosOf(e.value), "an action needs `survey` or `interview`",
            "action: { survey: cancel_exit } or action: { interview: "
            "pricing_interview }");
      ok = false;
    } else if (survey != nullptr && interview != nullptr) {
      const Entry* second =
          PosOf(survey->key).line > PosOf(interview->key).line ||
                  (PosOf(survey->key).line == PosOf(interview->key).line &&
                   PosOf(survey->key).column > PosOf(interview->key).column)
              ? survey
              : interview;
      Error(PosOf(second->key),
            "an action has either `survey` or `interview`, not both",
            "make two rules if both should be asked");
      ok = false;
    } else {
      const Entry* target = survey != nullptr ? survey : interview;
      action.kind =
          survey != nullptr ? Action::Kind::kSurvey : Action::Kind::kInterview;
      std::optional<std::string> id =
          ReadText(*target, "name it: survey: cancel_exit");
      if (!id.has_value()) {
        ok = false;
      } else if (!IsRuleId(*id)) {
        Error(ValuePos(*target),
              absl::StrCat("`", *id, "` is not a valid ", target->name, " id"),
              "use lower-case letters, digits and _, e.g. cancel_exit");
        ok = false;
      } else {
        action.target = *id;
        *target_pos = ValuePos(*target);
      }
    }
    if (const Entry* d = f.Get("delay")) {
      std::optional<absl::Duration> delay = ReadDuration(*d);
      if (delay.has_value()) {
        action.delay = *delay;
      } else {
        ok = false;
      }
    }
    if (const Entry* x = f.Get("expires")) {
      std::optional<absl::Duration> expires = ReadDuration(*x);
      if (!expires.has_value()) {
        ok = false;
      } else if (*expires <= absl::ZeroDuration()) {
        Error(ValuePos(*x), "expires must be longer than 0s",
              "how long the prompt stays valid: expires: \"24h\"");
        ok = false;
      } else {
        action.expires = *expires;
      }
    }
    if (ok) *out = std::move(action);
  }

  void ReadPattern(const Entry& e, Pattern* out) {
    Fields f;
    if (!ReadMap(e.value, "a pattern", {"match", "count", "sequence"}, &f,
                 PosOf(e.key))) {
      return;
    }
    if (f.entries().empty()) {
      Error(PosOf(e.value), "a pattern needs one of match, count, sequence",
            "pattern: { match: { event: subscription_cancelled } }");
      return;
    }
    if (f.entries().size() > 1) {
      for (size_t i = 1; i < f.entries().size(); ++i) {
        Error(PosOf(f.entries()[i].key),
              absl::StrCat("a pattern has exactly one kind; this one is "
                           "already `",
                           f.entries()[0].name, "`"),
              "write a separate rule for each kind");
      }
      return;
    }
    const Entry& kind = f.entries()[0];
    if (kind.name == "match") {
      MatchPattern match;
      Fields m;
      if (ReadMap(kind.value, "a match pattern", {"event", "where"}, &m,
                  PosOf(kind.key)) &&
          ReadFilter(m, kind.value, "a match pattern", ExprEnv{},
                     &match.filter)) {
        *out = std::move(match);
      }
    } else if (kind.name == "count") {
      ReadCount(kind, out);
    } else {
      ReadSequence(kind, out);
    }
  }

  bool ReadWithin(const Fields& f, const YAML::Node& map,
                  absl::string_view kind, absl::Duration* out) {
    if (!Require(f, map, "within", absl::StrCat("a ", kind, " pattern"),
                 absl::StrCat("every ", kind,
                              " pattern needs a window: within: \"10m\""))) {
      return false;
    }
    const Entry& e = *f.Get("within");
    std::optional<absl::Duration> d = ReadDuration(e);
    if (!d.has_value()) return false;
    if (*d <= absl::ZeroDuration()) {
      Error(ValuePos(e), "within must be longer than 0s", "within: \"10m\"");
      return false;
    }
    *out = *d;
    return true;
  }

  void ReadCount(const Entry& kind, Pattern* out) {
    CountPattern count;
    Fields f;
    if (!ReadMap(kind.value, "a count pattern",
                 {"event", "where", "group_by", "at_least", "within"}, &f,
                 PosOf(kind.key))) {
      return;
    }
    bool ok =
        ReadFilter(f, kind.value, "a count pattern", ExprEnv{}, &count.filter);
    if (const Entry* g = f.Get("group_by")) {
      ok = ReadGroupBy(*g, &count.group_by) && ok;
    }
    if (Require(f, kind.value, "at_least", "a count pattern",
                "how many events: at_least: 3")) {
      const Entry& a = *f.Get("at_least");
      std::optional<int64_t> n = ReadInt(a, "at_least: 3");
      if (!n.has_value()) {
        ok = false;
      } else if (*n < 1 || *n > 1000000) {
        Error(ValuePos(a),
              absl::StrCat("at_least must be at least 1, not ", *n),
              "how many matching events make a match: at_least: 3");
        ok = false;
      } else {
        count.at_least = static_cast<int>(*n);
      }
    } else {
      ok = false;
    }
    ok = ReadWithin(f, kind.value, "count", &count.within) && ok;
    if (ok) *out = std::move(count);
  }

  bool ReadGroupBy(const Entry& e, std::vector<std::string>* out) {
    if (!e.value.IsSequence()) {
      Error(ValuePos(e), "group_by must be a list of event properties",
            "group_by: [props.code]");
      return false;
    }
    bool ok = true;
    for (auto it = e.value.begin(); it != e.value.end(); ++it) {
      const YAML::Node& item = *it;
      const std::string text = item.IsScalar() ? item.Scalar() : "";
      std::string key;
      if (absl::StartsWith(text, "props.")) {
        key = text.substr(6);
      } else if (absl::StartsWith(text, "props[\"") &&
                 absl::EndsWith(text, "\"]")) {
        key = text.substr(7, text.size() - 9);
      }
      const bool spaced = key.find_first_of(" \t\"[]") != std::string::npos;
      if (key.empty() || spaced) {
        Error(PosOf(item),
              item.IsScalar()
                  ? absl::StrCat("group_by entry `", text,
                                 "` is not an event property")
                  : std::string("a group_by entry must be props.<name>"),
              absl::StartsWith(text, "user.")
                  ? "group_by names event properties (props.code); user "
                    "traits cannot group"
                  : "write props.<name>, e.g. group_by: [props.code]");
        ok = false;
        continue;
      }
      if (std::find(out->begin(), out->end(), key) != out->end()) {
        Error(PosOf(item), absl::StrCat("`", text, "` is listed twice"),
              "list each property once");
        ok = false;
        continue;
      }
      out->push_back(key);
    }
    return ok;
  }

  void ReadSequence(const Entry& kind, Pattern* out) {
    SequencePattern seq;
    Fields f;
    if (!ReadMap(kind.value, "a sequence", {"steps", "absent", "within"}, &f,
                 PosOf(kind.key))) {
      return;
    }
    bool ok = Require(f, kind.value, "steps", "a sequence",
                      "steps: [ { as: start, event: onboarding_started } ]");
    // Pass 1: each step's map and alias, so that a condition naming a later
    // step can be told so.
    std::vector<Fields> step_fields;
    std::vector<YAML::Node> step_nodes;
    std::vector<std::string> aliases;
    std::map<std::string, Pos> alias_pos;
    if (const Entry* s = f.Get("steps")) {
      if (!s->value.IsSequence() || s->value.size() == 0) {
        Error(ValuePos(*s),
              s->value.IsSequence() ? "a sequence needs at least one step"
                                    : "steps must be a list of steps",
              "steps: [ { as: start, event: onboarding_started } ]");
        ok = false;
      } else {
        for (auto it = s->value.begin(); it != s->value.end(); ++it) {
          Fields sf;
          if (!ReadMap(*it, "a step", {"as", "event", "where"}, &sf)) {
            ok = false;
            continue;
          }
          std::string alias;
          if (const Entry* a = sf.Get("as")) {
            std::optional<std::string> name =
                ReadText(*a, "name the step: as: start");
            if (!name.has_value()) {
              ok = false;
            } else if (!IsAlias(*name) || IsReservedAlias(*name)) {
              Error(
                  ValuePos(*a),
                  IsReservedAlias(*name)
                      ? absl::StrCat("`", *name,
                                     "` cannot name a step: the conditions "
                                     "use it already")
                      : absl::StrCat("`", *name, "` is not a valid step name"),
                  "use lower-case letters, digits and _, starting with a "
                  "letter: as: start");
              ok = false;
            } else if (auto first = alias_pos.find(*name);
                       first != alias_pos.end()) {
              Error(ValuePos(*a),
                    absl::StrCat("two steps are named `", *name, "` (first at ",
                                 PosText(file_.path, first->second), ")"),
                    "give each step its own name");
              ok = false;
            } else {
              alias = *name;
              alias_pos.emplace(*name, ValuePos(*a));
            }
          }
          aliases.push_back(alias);
          step_fields.push_back(std::move(sf));
          step_nodes.push_back(*it);
        }
      }
    }
    // Pass 2: events and conditions; a step reads earlier steps only.
    for (size_t i = 0; i < step_fields.size(); ++i) {
      ExprEnv env;
      env.step_aliases.assign(aliases.begin(), aliases.begin() + i);
      env.later_step_aliases.assign(aliases.begin() + i, aliases.end());
      SequencePattern::Step step;
      step.alias = aliases[i];
      ok = ReadFilter(step_fields[i], step_nodes[i], "a step", env,
                      &step.filter) &&
           ok;
      seq.steps.push_back(std::move(step));
    }
    if (const Entry* a = f.Get("absent")) {
      Fields af;
      if (ReadMap(a->value, "absent", {"event", "where"}, &af, PosOf(a->key))) {
        ExprEnv env;
        env.step_aliases = aliases;
        EventFilter absent;
        if (ReadFilter(af, a->value, "absent", env, &absent)) {
          seq.absent = std::move(absent);
        } else {
          ok = false;
        }
      } else {
        ok = false;
      }
    }
    ok = ReadWithin(f, kind.value, "sequence", &seq.within) && ok;
    if (ok) *out = std::move(seq);
  }

  // --- contact policy ------------------------------------------------------

  std::optional<PolicyOut> ReadPolicy(const Entry& e) {
    PolicyOut out;
    out.pos = PosOf(e.key);
    Fields f;
    const int before = error_count_;
    if (!ReadMap(e.value, "contact_policy",
                 {"max_prompts_per_user", "per", "max_interviews_per_user",
                  "interviews_per", "quiet_hours", "timezone_trait",
                  "max_staleness", "priority_window"},
                 &f, PosOf(e.key))) {
      return out;
    }
    ContactPolicy& p = out.policy;
    auto count = [&](absl::string_view key, std::optional<int>* dst) {
      const Entry* x = f.Get(key);
      if (x == nullptr) return;
      std::optional<int64_t> n = ReadInt(*x, absl::StrCat(key, ": 1"));
      if (!n.has_value()) return;
      if (*n < 0 || *n > 1000000) {
        Error(ValuePos(*x), absl::StrCat(key, " must be 0 or more"),
              absl::StrCat(key, ": 1"));
        return;
      }
      *dst = static_cast<int>(*n);
    };
    auto window = [&](absl::string_view key,
                      std::optional<absl::Duration>* dst) {
      const Entry* x = f.Get(key);
      if (x == nullptr) return;
      std::optional<absl::Duration> d = ReadDuration(*x);
      if (!d.has_value()) return;
      if (*d <= absl::ZeroDuration()) {
        Error(ValuePos(*x), absl::StrCat(key, " must be longer than 0s"),
              absl::StrCat(key, ": \"7d\""));
        return;
      }
      *dst = *d;
    };
    count("max_prompts_per_user", &p.max_prompts_per_user);
    window("per", &p.per);
    count("max_interviews_per_user", &p.max_interviews_per_user);
    window("interviews_per", &p.interviews_per);
    auto pair = [&](absl::string_view limit, absl::string_view per) {
      const Entry* l = f.Get(limit);
      const Entry* w = f.Get(per);
      if ((l == nullptr) == (w == nullptr)) return;
      const Entry* given = l != nullptr ? l : w;
      Error(PosOf(given->key),
            absl::StrCat("`", limit, "` and `", per, "` go together"),
            absl::StrCat("e.g. ", limit, ": 1, ", per, ": \"7d\""));
    };
    pair("max_prompts_per_user", "per");
    pair("max_interviews_per_user", "interviews_per");
    if (const Entry* q = f.Get("quiet_hours")) {
      if (!q->value.IsNull()) {
        std::optional<std::string> text =
            ReadText(*q, "quiet_hours: \"22:00-08:00\" or quiet_hours: null");
        if (text.has_value()) {
          std::optional<ContactPolicy::QuietHours> hours =
              ParseQuietHours(*text);
          if (!hours.has_value()) {
            Error(ValuePos(*q),
                  absl::StrCat("`", *text, "` is not a time range"),
                  "write start-end in 24-hour time, e.g. quiet_hours: "
                  "\"22:00-08:00\"; null for none");
          } else {
            p.quiet_hours = *hours;
          }
        }
      }
    }
    if (const Entry* t = f.Get("timezone_trait")) {
      std::optional<std::string> name =
          ReadText(*t,
                   "the trait holding the user's time zone: "
                   "timezone_trait: timezone");
      if (name.has_value()) {
        bool ok = !name->empty() && name->size() <= 64;
        for (char c : *name) {
          ok = ok &&
               (absl::ascii_isalnum(c) || c == '_' || c == '-' || c == '.');
        }
        if (!ok) {
          Error(ValuePos(*t), absl::StrCat("`", *name, "` is not a trait name"),
                "name the trait holding the user's time zone (e.g. "
                "\"Europe/Berlin\"): timezone_trait: timezone");
        } else {
          p.timezone_trait = *name;
        }
      }
    }
    if (const Entry* x = f.Get("max_staleness")) {
      std::optional<absl::Duration> d = ReadDuration(*x);
      if (d.has_value() && *d <= absl::ZeroDuration()) {
        Error(ValuePos(*x), "max_staleness must be longer than 0s",
              "matches older than this when decided are not asked about: "
              "max_staleness: \"1h\"");
      } else if (d.has_value()) {
        p.max_staleness = *d;
      }
    }
    if (const Entry* x = f.Get("priority_window")) {
      std::optional<absl::Duration> d = ReadDuration(*x);
      if (d.has_value()) p.priority_window = *d;
    }
    out.valid = error_count_ == before;
    return out;
  }

  static std::optional<ContactPolicy::QuietHours> ParseQuietHours(
      absl::string_view text) {
    auto clock = [](absl::string_view t) {
      if (t.size() != 5 || t[2] != ':') return -1;
      for (int i : {0, 1, 3, 4}) {
        if (!absl::ascii_isdigit(t[i])) return -1;
      }
      const int h = (t[0] - '0') * 10 + (t[1] - '0');
      const int m = (t[3] - '0') * 10 + (t[4] - '0');
      if (h > 23 || m > 59) return -1;
      return h * 60 + m;
    };
    std::vector<absl::string_view> parts = absl::StrSplit(text, '-');
    if (parts.size() != 2) return std::nullopt;
    const int a = clock(parts[0]);
    const int b = clock(parts[1]);
    if (a < 0 || b < 0 || a == b) return std::nullopt;
    return ContactPolicy::QuietHours{a, b};
  }

  // --- surveys and interviews ----------------------------------------------

  // `max: 5, per: "7d"`.
  std::optional<Quota> ReadQuota(const Entry& e) {
    Fields f;
    if (!ReadMap(e.value, "a quota", {"max", "per"}, &f, PosOf(e.key))) {
      return std::nullopt;
    }
    Quota quota;
    bool ok = Require(f, e.value, "max", "a quota",
                      "how many at most: quota: { max: 5, per: \"7d\" }");
    if (const Entry* m = f.Get("max")) {
      std::optional<int64_t> n = ReadInt(*m, "max: 5");
      if (!n.has_value()) {
        ok = false;
      } else if (*n < 1 || *n > 1000000) {
        Error(ValuePos(*m), absl::StrCat("max must be at least 1, not ", *n),
              "quota: { max: 5, per: \"7d\" }");
        ok = false;
      } else {
        quota.max = static_cast<int>(*n);
      }
    }
    ok = Require(f, e.value, "per", "a quota",
                 "within how long: quota: { max: 5, per: \"7d\" }") &&
         ok;
    if (const Entry* p = f.Get("per")) {
      std::optional<absl::Duration> d = ReadDuration(*p);
      if (!d.has_value()) {
        ok = false;
      } else if (*d <= absl::ZeroDuration()) {
        Error(ValuePos(*p), "per must be longer than 0s",
              "quota: { max: 5, per: \"7d\" }");
        ok = false;
      } else {
        quota.per = *d;
      }
    }
    if (!ok) return std::nullopt;
    return quota;
  }

  std::optional<bool> ReadBool(const Entry& e, absl::string_view example) {
    std::optional<std::string> text =
        ReadText(e, absl::StrCat("true or false: ", example));
    if (!text.has_value()) return std::nullopt;
    if (IsPlain(e.value) && (*text == "true" || *text == "false")) {
      return *text == "true";
    }
    Error(
        ValuePos(e),
        absl::StrCat("`", e.name, "` must be true or false, not `", *text, "`"),
        absl::StrCat("write it without quotes: ", example));
    return std::nullopt;
  }

  // An id of a survey, question, choice or interview.
  std::optional<std::string> ReadId(const Fields& f, const YAML::Node& map,
                                    absl::string_view what,
                                    absl::string_view kind,
                                    absl::string_view example, Pos* pos) {
    const std::string hint = absl::StrCat("give it a name: id: ", example);
    if (!Require(f, map, "id", what, hint)) return std::nullopt;
    const Entry& e = *f.Get("id");
    std::optional<std::string> id = ReadText(e, hint);
    if (!id.has_value()) return std::nullopt;
    if (!IsRuleId(*id)) {
      Error(ValuePos(e),
            absl::StrCat("`", *id, "` is not a valid ", kind, " id"),
            absl::StrCat("use lower-case letters, digits and _ (at most 64), "
                         "e.g. ",
                         example));
      return std::nullopt;
    }
    *pos = ValuePos(e);
    return id;
  }

  // A text with {{placeholders}}: syntax and the shape of each path are
  // checked here; what a rule can fill is checked against the rules using
  // it once every file is read.
  bool ReadTemplate(const Entry& e, absl::string_view what,
                    absl::string_view example, Template* out,
                    TemplateSite* site) {
    std::optional<std::string> text =
        ReadText(e, absl::StrCat("write the text in quotes: ", example));
    if (!text.has_value()) return false;
    if (absl::StripAsciiWhitespace(*text).empty()) {
      Error(ValuePos(e), absl::StrCat("`", e.name, "` is empty"),
            absl::StrCat("write the text in quotes: ", example));
      return false;
    }
    out->source = *text;
    out->pos = {file_.path, ValuePos(e).line, ValuePos(e).column};
    std::vector<int> offsets;
    internal::TemplateError error;
    if (!internal::ParseTemplate(*text, &out->parts, &offsets, &error)) {
      Error(ScalarOffsetPos(e.value, error.offset),
            absl::StrCat("in ", what, ": ", error.message), error.hint);
      return false;
    }
    bool ok = true;
    site->what = std::string(what);
    for (size_t i = 0; i < out->parts.size(); ++i) {
      const Pos pos = ScalarOffsetPos(e.value, offsets[i]);
      site->part_pos.push_back(pos);
      if (out->parts[i].path.empty()) continue;
      internal::TemplateError shape =
          internal::CheckPlaceholderShape(out->parts[i]);
      if (!shape.message.empty()) {
        Error(pos, absl::StrCat("in ", what, ": ", shape.message), shape.hint);
        ok = false;
      }
    }
    return ok;
  }

  template <typename Out, typename Fn>
  void ReadList(const Entry& e, absl::string_view what, absl::string_view item,
                std::vector<Out>* outs, Fn read) {
    if (e.value.IsNull()) return;
    if (!e.value.IsSequence()) {
      Error(ValuePos(e),
            absl::StrCat("`", e.name, "` must be a list of ", what),
            absl::StrCat("start each ", item, " with `- id: ...`"));
      return;
    }
    for (auto it = e.value.begin(); it != e.value.end(); ++it) {
      Out out;
      const int before = error_count_;
      read(*it, &out);
      out.valid = error_count_ == before;
      outs->push_back(std::move(out));
    }
  }

  void ReadSurveys(const Entry& e, std::vector<SurveyOut>* surveys) {
    ReadList(
        e, "surveys", "survey", surveys,
        [&](const YAML::Node& node, SurveyOut* out) { ReadSurvey(node, out); });
  }

  void ReadInterviews(const Entry& e, std::vector<InterviewOut>* interviews) {
    ReadList(e, "interviews", "interview", interviews,
             [&](const YAML::Node& node, InterviewOut* out) {
               ReadInterview(node, out);
             });
  }

  void ReadSurvey(const YAML::Node& node, SurveyOut* out) {
    Survey& survey = out->survey;
    survey.pos = {file_.path, PosOf(node).line, PosOf(node).column};
    Fields f;
    if (!ReadMap(node, "a survey", {"id", "title", "questions"}, &f)) return;
    if (std::optional<std::string> id =
            ReadId(f, node, "a survey", "survey", "onboarding_dropoff",
                   &out->id_pos)) {
      survey.id = *id;
    }
    const std::string name =
        survey.id.empty() ? "" : absl::StrCat(" `", survey.id, "`");
    if (Require(f, node, "title", "a survey",
                "a short heading: title: \"Quick question\"")) {
      TemplateSite site;
      if (ReadTemplate(*f.Get("title"),
                       absl::StrCat("the title of survey", name),
                       "title: \"Quick question\"", &survey.title, &site)) {
        out->templates.push_back(std::move(site));
      }
    }
    if (!Require(f, node, "questions", "a survey",
                 "questions: [ { id: blocker, type: text, text: \"What got "
                 "in the way?\" } ]")) {
      return;
    }
    const Entry& q = *f.Get("questions");
    if (!q.value.IsSequence() || q.value.size() == 0 || q.value.size() > 5) {
      Error(ValuePos(q),
            !q.value.IsSequence()
                ? std::string("`questions` must be a list of questions")
                : absl::StrCat("a survey has 1 to 5 questions, not ",
                               q.value.size()),
            "short surveys get answers: ask one to three questions, each "
            "starting with `- id: ...`");
      return;
    }
    absl::flat_hash_map<std::string, Pos> ids;
    for (auto it = q.value.begin(); it != q.value.end(); ++it) {
      Question question;
      Pos id_pos;
      TemplateSite site;
      const int before = error_count_;
      ReadQuestion(*it, name, &question, &id_pos, &site);
      if (!question.id.empty()) {
        auto [first, inserted] = ids.emplace(question.id, id_pos);
        if (!inserted) {
          Error(id_pos,
                absl::StrCat("two questions of survey", name, " are named `",
                             question.id, "` (first at ",
                             PosText(file_.path, first->second), ")"),
                "give each question of a survey its own id");
        }
      }
      if (error_count_ == before) {
        site.question = static_cast<int>(survey.questions.size());
        out->templates.push_back(std::move(site));
        survey.questions.push_back(std::move(question));
      }
    }
  }

  void ReadQuestion(const YAML::Node& node, absl::string_view survey_name,
                    Question* question, Pos* id_pos, TemplateSite* site) {
    question->pos = {file_.path, PosOf(node).line, PosOf(node).column};
    Fields f;
    if (!ReadMap(node, "a question",
                 {"id", "type", "text", "required", "choices"}, &f)) {
      return;
    }
    if (std::optional<std::string> id =
            ReadId(f, node, "a question", "question", "blocker", id_pos)) {
      question->id = *id;
    }
    static constexpr absl::string_view kTypes[] = {
        "rating", "nps", "ces", "single_choice", "multi_choice", "text"};
    static constexpr Question::Type kTypeValues[] = {
        Question::Type::kRating,      Question::Type::kNps,
        Question::Type::kCes,         Question::Type::kSingleChoice,
        Question::Type::kMultiChoice, Question::Type::kText};
    constexpr absl::string_view kTypeList =
        "rating (1-5), nps (0-10), ces (1-7, effort), single_choice, "
        "multi_choice, text (free text)";
    bool type_known = false;
    if (Require(f, node, "type", "a question",
                absl::StrCat("say how it is answered: type: single_choice; "
                             "types: ",
                             kTypeList))) {
      const Entry& t = *f.Get("type");
      if (std::optional<std::string> type =
              ReadText(t, absl::StrCat("one of ", kTypeList))) {
        const auto* found =
            std::find(std::begin(kTypes), std::end(kTypes), *type);
        if (found == std::end(kTypes)) {
          const std::string near = internal::Nearest(*type, kTypes);
          Error(ValuePos(t),
                absl::StrCat("`", *type, "` is not a question type"),
                near.empty() ? absl::StrCat("the types are ", kTypeList)
                             : absl::StrCat("did you mean `", near, "`? (",
                                            kTypeList, ")"));
        } else {
          question->type = kTypeValues[found - std::begin(kTypes)];
          type_known = true;
        }
      }
    }
    if (Require(f, node, "text", "a question",
                "the question itself: text: \"What got in the way?\"")) {
      ReadTemplate(
          *f.Get("text"),
          absl::StrCat("question `", question->id, "` of survey", survey_name),
          "text: \"What got in the way?\"", &question->text, site);
    }
    if (const Entry* r = f.Get("required")) {
      if (std::optional<bool> b = ReadBool(*r, "required: true")) {
        question->required = *b;
      }
    }
    const bool choice_type = question->type == Question::Type::kSingleChoice ||
                             question->type == Question::Type::kMultiChoice;
    const Entry* c = f.Get("choices");
    if (!type_known) return;
    if (!choice_type) {
      if (c != nullptr) {
        Error(PosOf(c->key),
              "only single_choice and multi_choice questions have choices",
              "remove choices, or use type: single_choice");
      }
      return;
    }
    if (!Require(f, node, "choices", "a choice question",
                 "choices: [ { id: slow, label: \"Too slow\" }, { id: "
                 "other, label: \"Something else\" } ]")) {
      return;
    }
    if (!c->value.IsSequence() || c->value.size() < 2) {
      Error(ValuePos(*c),
            c->value.IsSequence()
                ? std::string("a choice question needs at least 2 choices")
                : std::string("`choices` must be a list of choices"),
            "choices: [ { id: slow, label: \"Too slow\" }, { id: other, "
            "label: \"Something else\" } ]");
      return;
    }
    absl::flat_hash_map<std::string, Pos> ids;
    for (auto it = c->value.begin(); it != c->value.end(); ++it) {
      Fields cf;
      if (!ReadMap(*it, "a choice", {"id", "label", "friction"}, &cf)) {
        continue;
      }
      Question::Choice choice;
      Pos pos;
      if (std::optional<std::string> id =
              ReadId(cf, *it, "a choice", "choice", "too_slow", &pos)) {
        auto [first, inserted] = ids.emplace(*id, pos);
        if (!inserted) {
          Error(pos,
                absl::StrCat("two choices of question `", question->id,
                             "` are named `", *id, "` (first at ",
                             PosText(file_.path, first->second), ")"),
                "give each choice of a question its own id");
        }
        choice.id = *id;
      }
      if (Require(cf, *it, "label", "a choice",
                  "what the user sees: label: \"Too slow\"")) {
        const Entry& l = *cf.Get("label");
        if (std::optional<std::string> label =
                ReadText(l, "label: \"Too slow\"")) {
          if (absl::StripAsciiWhitespace(*label).empty()) {
            Error(ValuePos(l), "`label` is empty",
                  "what the user sees: label: \"Too slow\"");
          }
          choice.label = *label;
        }
      }
      if (const Entry* fr = cf.Get("friction")) {
        ReadFriction(*fr, &choice.friction);
      }
      question->choices.push_back(std::move(choice));
    }
  }

  void ReadInterview(const YAML::Node& node, InterviewOut* out) {
    Interview& interview = out->interview;
    interview.pos = {file_.path, PosOf(node).line, PosOf(node).column};
    Fields f;
    if (!ReadMap(node, "an interview",
                 {"id", "invitation", "booking_url", "duration", "incentive",
                  "quota"},
                 &f)) {
      return;
    }
    if (std::optional<std::string> id =
            ReadId(f, node, "an interview", "interview", "pricing_interview",
                   &out->id_pos)) {
      interview.id = *id;
    }
    const std::string name =
        interview.id.empty() ? "" : absl::StrCat(" `", interview.id, "`");
    constexpr absl::string_view kInvitation =
        "invitation: \"Could we talk for 30 minutes?\"";
    if (Require(f, node, "invitation", "an interview",
                absl::StrCat("what the user reads: ", kInvitation))) {
      TemplateSite site;
      if (ReadTemplate(*f.Get("invitation"),
                       absl::StrCat("the invitation of interview", name),
                       kInvitation, &interview.invitation, &site)) {
        out->templates.push_back(std::move(site));
      }
    }
    constexpr absl::string_view kUrlHint =
        "an http(s) link; {{token}} marks where the prompt's token goes, "
        "e.g. booking_url: \"https://calendar.example.com/hark?token="
        "{{token}}\"";
    if (Require(f, node, "booking_url", "an interview", kUrlHint)) {
      const Entry& u = *f.Get("booking_url");
      if (std::optional<std::string> url = ReadText(u, kUrlHint)) {
        ReadBookingUrl(u, *url, &interview.booking_url);
      }
    }
    if (Require(f, node, "duration", "an interview",
                "how long the call takes: duration: \"30m\"")) {
      const Entry& d = *f.Get("duration");
      std::optional<absl::Duration> duration = ReadDuration(d);
      if (duration.has_value() && *duration <= absl::ZeroDuration()) {
        Error(ValuePos(d), "duration must be longer than 0s",
              "how long the call takes: duration: \"30m\"");
      } else if (duration.has_value()) {
        interview.duration = *duration;
      }
    }
    if (const Entry* i = f.Get("incentive")) {
      if (std::optional<std::string> text =
              ReadText(*i, "incentive: \"$50 gift card\"")) {
        interview.incentive = *text;
      }
    }
    if (const Entry* q = f.Get("quota")) interview.quota = ReadQuota(*q);
  }

  void ReadBookingUrl(const Entry& e, const std::string& url,
                      std::string* out) {
    // `{{ token }}` is `{{token}}`.
    std::string normalized;
    absl::string_view rest = url;
    for (size_t at = rest.find("{{"); at != absl::string_view::npos;
         at = rest.find("{{")) {
      absl::StrAppend(&normalized, rest.substr(0, at));
      const size_t close = rest.find("}}", at);
      const absl::string_view inner =
          close == absl::string_view::npos
              ? absl::string_view()
              : absl::StripAsciiWhitespace(rest.substr(at + 2, close - at - 2));
      if (inner != "token") {
        Error(ScalarOffsetPos(e.value,
                              static_cast<int>(url.size() - rest.size() + at)),
              close == absl::string_view::npos
                  ? std::string("in booking_url: `{{` is not closed by `}}`")
                  : absl::StrCat("in booking_url: only {{token}} can be "
                                 "filled in, not {{",
                                 std::string(inner), "}}"),
              "booking links carry the prompt's token: "
              "https://calendar.example.com/hark?token={{token}}");
        return;
      }
      absl::StrAppend(&normalized, "{{token}}");
      rest.remove_prefix(close + 2);
    }
    absl::StrAppend(&normalized, rest);
    absl::string_view host = normalized;
    const bool scheme = absl::ConsumePrefix(&host, "https://") ||
                        absl::ConsumePrefix(&host, "http://");
    const bool spaced =
        normalized.find_first_of(" \t\n\"<>") != std::string::npos;
    if (!scheme || host.empty() || host[0] == '/' || spaced) {
      Error(ValuePos(e), absl::StrCat("`", url, "` is not an http(s) link"),
            "write the full link without spaces, starting with https://, "
            "e.g. https://calendar.example.com/hark?token={{token}}");
      return;
    }
    *out = std::move(normalized);
  }

  // --- taxonomy ------------------------------------------------------------

  // The first place a phrase was written, for duplicate errors.
  struct PhraseSite {
    std::string type;
    std::string text;
    Pos pos;
  };

  std::optional<TaxonomyOut> ReadTaxonomy(const Entry& e) {
    TaxonomyOut out;
    out.pos = PosOf(e.key);
    out.taxonomy.pos = {file_.path, out.pos.line, out.pos.column};
    constexpr absl::string_view kExample =
        "taxonomy: { pricing: { description: \"Cost and billing\", phrases: "
        "[\"too expensive\", \"price\"] } }";
    if (!e.value.IsMap()) {
      Error(ValuePos(e),
            absl::StrCat("`taxonomy` must be a map from friction types (",
                         kFrictionTypeList, ") to their phrases"),
            std::string(kExample));
      return out;
    }
    if (e.value.size() == 0) {
      Error(ValuePos(e), "the taxonomy names no friction type",
            absl::StrCat("give at least one of ", kFrictionTypeList,
                         " its phrases: ", kExample,
                         "; or remove `taxonomy:` (free text is then tagged "
                         "with the rule's friction_hypothesis)"));
      return out;
    }
    absl::flat_hash_map<std::string, Pos> types;
    // Phrases by PhraseKey(), across all types of the taxonomy.
    absl::flat_hash_map<std::string, PhraseSite> phrases;
    for (auto it = e.value.begin(); it != e.value.end(); ++it) {
      // Copies: the iterator's value is a temporary.
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        Error(PosOf(key), "a key of the taxonomy must be a friction type",
              absl::StrCat("the keys of the taxonomy are ", kFrictionTypeList));
        continue;
      }
      const std::string name = key.Scalar();
      if (!IsFrictionType(name)) {
        std::string hint;
        if (name == "description" || name == "phrases") {
          hint = absl::StrCat("`", name,
                              "` belongs under a friction type: ", kExample);
        } else {
          const std::string near = internal::Nearest(name, kFrictionTypes);
          hint = absl::StrCat(
              near.empty() ? "" : absl::StrCat("did you mean `", near, "`? "),
              "the keys of the taxonomy are the friction types ",
              kFrictionTypeList);
        }
        Error(PosOf(key),
              absl::StrCat("`", name, "` is not a friction type (in taxonomy)"),
              hint);
        continue;
      }
      if (auto first = types.find(name); first != types.end()) {
        Error(PosOf(key),
              absl::StrCat("friction type `", name,
                           "` is given twice in the taxonomy (first at line ",
                           first->second.line, ")"),
              "keep one entry per friction type, with all its phrases in "
              "one list");
        continue;
      }
      types.emplace(name, PosOf(key));
      Taxonomy::Type type;
      if (ReadTaxonomyType(name, key, value, &phrases, &type)) {
        out.taxonomy.types.push_back(std::move(type));
      }
    }
    return out;
  }

  // One friction type of the taxonomy; false if it has errors.
  bool ReadTaxonomyType(const std::string& name, const YAML::Node& key,
                        const YAML::Node& value,
                        absl::flat_hash_map<std::string, PhraseSite>* phrases,
                        Taxonomy::Type* type) {
    const int before = error_count_;
    type->name = name;
    type->pos = {file_.path, PosOf(key).line, PosOf(key).column};
    const std::string what = absl::StrCat("friction type `", name, "`");
    const std::string example =
        absl::StrCat(name,
                     ": { description: \"...\", phrases: [\"too "
                     "expensive\", \"price\"] }");
    if (value.IsSequence()) {
      Error(PosOf(value),
            absl::StrCat(what,
                         " must be a map of description and phrases, not a "
                         "list"),
            absl::StrCat("put the list under phrases: ", example));
      return false;
    }
    Fields f;
    if (!ReadMap(value, what, {"description", "phrases"}, &f, PosOf(key))) {
      return false;
    }
    if (const Entry* d = f.Get("description")) {
      const std::string hint = absl::StrCat(
          "say in a few words what the type covers: description: \"Cost, "
          "value for money, billing surprises\"");
      if (std::optional<std::string> text = ReadText(*d, hint)) {
        if (absl::StripAsciiWhitespace(*text).empty()) {
          Error(ValuePos(*d), "`description` is empty", hint);
        }
        type->description = *text;
      }
    }
    if (!Require(
            f, value, "phrases", what,
            absl::StrCat("list the words customers use for it: ", example))) {
      return false;
    }
    const Entry& list = *f.Get("phrases");
    if (!list.value.IsSequence()) {
      Error(ValuePos(list),
            list.value.IsNull()
                ? absl::StrCat(what, " has no phrases")
                : absl::StrCat("`phrases` must be a list of texts, not ",
                               list.value.IsMap() ? "a map" : "one text"),
            absl::StrCat("phrases: [\"too expensive\", \"price\"]"));
      return false;
    }
    if (list.value.size() == 0) {
      Error(ValuePos(list), absl::StrCat(what, " has no phrases"),
            absl::StrCat("add the words customers use, e.g. phrases: [\"too "
                         "expensive\", \"price\"], or remove `",
                         name, "` from the taxonomy"));
      return false;
    }
    for (auto it = list.value.begin(); it != list.value.end(); ++it) {
      const YAML::Node node = *it;
      if (!node.IsScalar()) {
        const Pos pos = PosOf(node);
        Error(pos.line > 0 ? pos : ValuePos(list),
              node.IsNull() ? std::string("a phrase is empty")
                            : absl::StrCat("a phrase must be a text, not ",
                                           node.IsMap() ? "a map" : "a list"),
              "write each phrase as a quoted text: \"too expensive\"");
        continue;
      }
      const std::string& text = node.Scalar();
      const std::string phrase_key = PhraseKey(text);
      if (phrase_key.empty()) {
        Error(
            PosOf(node),
            absl::StripAsciiWhitespace(text).empty()
                ? std::string("a phrase is empty")
                : absl::StrCat("phrase `", text, "` has no letters or digits"),
            "phrases are matched word by word; write the words customers "
            "use: \"too expensive\"");
        continue;
      }
      auto [first, inserted] =
          phrases->emplace(phrase_key, PhraseSite{name, text, PosOf(node)});
      if (!inserted) {
        const PhraseSite& site = first->second;
        if (site.type == name) {
          Error(PosOf(node),
                absl::StrCat("phrase `", text, "` of friction type `", name,
                             "` is the same as `", site.text, "` at ",
                             PosText(file_.path, site.pos),
                             " (case, spaces and punctuation do not count)"),
                "remove one of them");
        } else {
          Error(PosOf(node),
                absl::StrCat("phrase `", text, "` of friction type `", name,
                             "` is already a phrase of `", site.type, "` at ",
                             PosText(file_.path, site.pos)),
                "a phrase tags one friction type: keep it where it belongs "
                "most often, or make both longer and specific (\"not worth "
                "the price\", \"price page is confusing\")");
        }
        continue;
      }
      type->phrases.push_back(text);
    }
    return error_count_ == before;
  }

  // --- tests ---------------------------------------------------------------

  void ReadTests(const Entry& e, std::vector<TestOut>* tests) {
    if (e.value.IsNull()) return;
    if (!e.value.IsSequence()) {
      Error(ValuePos(e), "`tests` must be a list of tests",
            "start each test with `- name: ...`");
      return;
    }
    for (auto it = e.value.begin(); it != e.value.end(); ++it) {
      TestOut out;
      const int before = error_count_;
      ReadTest(*it, &out);
      if (!out.test.name.empty()) {
        auto [first, inserted] = test_names_.emplace(out.test.name, PosOf(*it));
        if (!inserted) {
          Error(PosOf(*it),
                absl::StrCat("two tests are named `", out.test.name,
                             "` (first at ", PosText(file_.path, first->second),
                             ")"),
                "give each test its own name");
        }
      }
      out.valid = error_count_ == before;
      tests->push_back(std::move(out));
    }
  }

  void ReadTest(const YAML::Node& node, TestOut* out) {
    RuleTest& test = out->test;
    test.pos = {file_.path, PosOf(node).line, PosOf(node).column};
    Fields f;
    if (!ReadMap(node, "a test",
                 {"name", "events", "identify", "expect", "run_for"}, &f)) {
      return;
    }
    if (Require(f, node, "name", "a test",
                "name it: name: abandons_after_30m")) {
      if (std::optional<std::string> n =
              ReadText(*f.Get("name"), "name: abandons_after_30m")) {
        test.name = *n;
      }
    }
    if (const Entry* e = f.Get("events")) {
      ForEachItem(*e, "events", [&](const YAML::Node& item) {
        ReadTestEvent(item, test.name, test.events.size(), &test.events);
      });
    }
    if (const Entry* e = f.Get("identify")) {
      ForEachItem(*e, "identify", [&](const YAML::Node& item) {
        ReadIdentify(item, &test.traits);
      });
    }
    if (const Entry* e = f.Get("expect")) {
      ForEachItem(*e, "expect",
                  [&](const YAML::Node& item) { ReadExpect(item, out); });
    }
    if (const Entry* e = f.Get("run_for")) test.run_for = ReadDuration(*e);
  }

  template <typename Fn>
  void ForEachItem(const Entry& e, absl::string_view what, Fn fn) {
    if (e.value.IsNull()) return;
    if (!e.value.IsSequence()) {
      Error(ValuePos(e), absl::StrCat("`", what, "` must be a list"),
            absl::StrCat("start each item with `- ` or write ", what,
                         ": [ {...}, {...} ]"));
      return;
    }
    for (auto it = e.value.begin(); it != e.value.end(); ++it) fn(*it);
  }

  bool ReadUser(const Fields& f, const YAML::Node& map, absl::string_view what,
                std::string* out) {
    if (!Require(f, map, "user", what, "user: u1")) return false;
    const Entry& e = *f.Get("user");
    std::optional<std::string> user = ReadText(e, "user: u1");
    if (!user.has_value()) return false;
    if (user->empty() || user->size() > 256) {
      Error(ValuePos(e), "a user id has 1 to 256 characters", "user: u1");
      return false;
    }
    *out = *user;
    return true;
  }

  bool ReadAt(const Fields& f, const YAML::Node& map, absl::string_view what,
              absl::Duration* out) {
    if (!Require(f, map, "at", what,
                 "the time since the start of the test: at: \"5m\"")) {
      return false;
    }
    std::optional<absl::Duration> d = ReadDuration(*f.Get("at"));
    if (!d.has_value()) return false;
    *out = *d;
    return true;
  }

  void ReadTestEvent(const YAML::Node& node, absl::string_view test_name,
                     size_t index, std::vector<RuleTest::Event>* events) {
    Fields f;
    if (!ReadMap(node, "a test event", {"at", "user", "event", "id", "props"},
                 &f)) {
      return;
    }
    RuleTest::Event ev;
    bool ok = ReadAt(f, node, "a test event", &ev.at);
    ok = ReadUser(f, node, "a test event", &ev.user) && ok;
    if (Require(f, node, "event", "a test event",
                "name the event: event: onboarding_started")) {
      std::optional<std::string> name = ReadEventName(*f.Get("event"));
      if (name.has_value()) {
        ev.event = *name;
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (const Entry* e = f.Get("id")) {
      std::optional<std::string> id = ReadText(*e, "id: e1");
      if (!id.has_value()) {
        ok = false;
      } else if (id->empty() || id->size() > 128) {
        Error(ValuePos(*e), "an event id has 1 to 128 characters", "id: e1");
        ok = false;
      } else if (auto [first, inserted] = event_ids_.emplace(
                     absl::StrCat(test_name, "\n", *id), ValuePos(*e));
                 !inserted) {
        Error(
            ValuePos(*e),
            absl::StrCat("event id `", *id, "` is used twice in this test (",
                         "first at ", PosText(file_.path, first->second), ")"),
            "the server stores an event id once; give each event its own "
            "id or leave id out");
        ok = false;
      } else {
        ev.event_id = *id;
      }
    } else {
      // Deterministic, and unlike anything a sender would choose.
      ev.event_id = absl::StrCat("test:", test_name, ":", index + 1);
    }
    if (const Entry* e = f.Get("props")) {
      ok = ReadValues(*e, "props", &ev.props) && ok;
    }
    if (ok) events->push_back(std::move(ev));
  }

  void ReadIdentify(const YAML::Node& node,
                    std::vector<RuleTest::Trait>* traits) {
    Fields f;
    if (!ReadMap(node, "an identify entry", {"at", "user", "traits"}, &f)) {
      return;
    }
    RuleTest::Trait t;
    bool ok = ReadAt(f, node, "an identify entry", &t.at);
    ok = ReadUser(f, node, "an identify entry", &t.user) && ok;
    if (Require(f, node, "traits", "an identify entry",
                "traits: { plan: pro }")) {
      ok = ReadValues(*f.Get("traits"), "traits", &t.traits) && ok;
    } else {
      ok = false;
    }
    if (ok) traits->push_back(std::move(t));
  }

  void ReadExpect(const YAML::Node& node, TestOut* out) {
    Fields f;
    if (!ReadMap(node, "an expected match", {"rule", "user", "at"}, &f)) {
      return;
    }
    RuleTest::Expect x;
    bool ok = true;
    Pos rule_pos;
    if (Require(f, node, "rule", "an expected match",
                "rule: onboarding_abandonment")) {
      const Entry& r = *f.Get("rule");
      std::optional<std::string> rule =
          ReadText(r, "rule: onboarding_abandonment");
      if (rule.has_value()) {
        x.rule = *rule;
        rule_pos = ValuePos(r);
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    ok = ReadUser(f, node, "an expected match", &x.user) && ok;
    ok = ReadAt(f, node, "an expected match", &x.at) && ok;
    if (ok) {
      out->test.expect.push_back(std::move(x));
      out->expect_rule_pos.push_back(rule_pos);
    }
  }

  // A map of name: value, each value a text, number, true/false or time.
  bool ReadValues(const Entry& e, absl::string_view what,
                  google::protobuf::Map<std::string, hark::v1::Value>* out) {
    if (e.value.IsNull()) return true;
    Fields f;
    if (!e.value.IsMap()) {
      Error(ValuePos(e), absl::StrCat("`", what, "` must be a map"),
            absl::StrCat(what, ": { plan: pro, seats: 3 }"));
      return false;
    }
    bool ok = true;
    absl::flat_hash_set<std::string> seen;
    for (auto it = e.value.begin(); it != e.value.end(); ++it) {
      // Copies: `it->` points into a temporary proxy (yaml-cpp).
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      if (!key.IsScalar() || key.Scalar().empty() || key.Scalar().size() > 64) {
        Error(PosOf(key), "a key here is a name of 1 to 64 characters",
              absl::StrCat(what, ": { plan: pro }"));
        ok = false;
        continue;
      }
      if (!seen.insert(key.Scalar()).second) {
        Error(PosOf(key),
              absl::StrCat("`", key.Scalar(), "` is given twice in ", what),
              "keep one of them");
        ok = false;
        continue;
      }
      if (!value.IsScalar()) {
        Error(value.IsNull() ? PosOf(key) : PosOf(value),
              value.IsNull() ? absl::StrCat("`", key.Scalar(), "` has no value")
                             : absl::StrCat("`", key.Scalar(),
                                            "` must be a single value, not ",
                                            value.IsMap() ? "a map" : "a list"),
              "values are text (\"pro\"), numbers (3), true/false or times "
              "(2024-05-01T10:00:00Z); write \"\" for empty text");
        ok = false;
        continue;
      }
      (*out)[key.Scalar()] = ToValue(value);
    }
    return ok;
  }

  // Quoted → text; unquoted true/false → bool, numbers → number, RFC 3339
  // times → timestamp, anything else → text (as YAML reads it).
  static hark::v1::Value ToValue(const YAML::Node& node) {
    hark::v1::Value v;
    const std::string& s = node.Scalar();
    if (!IsPlain(node)) {
      v.set_string_value(s);
      return v;
    }
    if (s == "true" || s == "True" || s == "TRUE") {
      v.set_bool_value(true);
      return v;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
      v.set_bool_value(false);
      return v;
    }
    double n = 0;
    if (LooksLikeNumber(s) && absl::SimpleAtod(s, &n) && std::isfinite(n)) {
      v.set_number_value(n);
      return v;
    }
    absl::Time t;
    std::string err;
    if (s.size() >= 20 && absl::ascii_isdigit(s[0]) &&
        absl::ParseTime(absl::RFC3339_full, s, &t, &err)) {
      const int64_t seconds = absl::ToUnixSeconds(t);
      v.mutable_timestamp_value()->set_seconds(seconds);
      v.mutable_timestamp_value()->set_nanos(static_cast<int32_t>(
          absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
      return v;
    }
    v.set_string_value(s);
    return v;
  }

  const SourceFile& file_;
  std::vector<LoadError>* errors_;
  std::vector<absl::string_view> lines_;
  int error_count_ = 0;
  absl::flat_hash_map<std::string, Pos> test_names_;
  absl::flat_hash_map<std::string, Pos> event_ids_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const RuleSet>> LoadRuleSet(
    absl::Span<const SourceFile> files, std::vector<LoadError>* errors) {
  std::vector<LoadError> local;
  if (errors == nullptr) errors = &local;
  // Per file, so that errors found later (duplicates across files, tests
  // naming unknown rules) still come out in file order.
  std::vector<std::vector<LoadError>> file_errors(files.size());
  std::vector<std::vector<FileLoader::RuleOut>> file_rules(files.size());
  std::vector<std::vector<FileLoader::TestOut>> file_tests(files.size());
  std::vector<std::vector<FileLoader::SurveyOut>> file_surveys(files.size());
  std::vector<std::vector<FileLoader::InterviewOut>> file_interviews(
      files.size());
  struct IdSite {
    size_t file;
    Pos pos;
  };
  absl::flat_hash_map<std::string, IdSite> ids;
  // Every survey and interview id written, valid or not (an action naming
  // a survey with errors of its own is not an error too).
  absl::flat_hash_map<std::string, IdSite> survey_ids;
  absl::flat_hash_map<std::string, IdSite> interview_ids;
  auto unique = [&](absl::flat_hash_map<std::string, IdSite>* seen,
                    absl::string_view kind, size_t i, const std::string& id,
                    Pos pos, bool* valid) {
    if (id.empty()) return;
    auto [first, inserted] = seen->emplace(id, IdSite{i, pos});
    if (inserted) return;
    file_errors[i].push_back(LoadError{
        files[i].path, pos.line, pos.column,
        absl::StrCat(
            kind, " id `", id, "` is already used at ",
            PosText(files[first->second.file].path, first->second.pos)),
        absl::StrCat("every ", kind, " needs its own id; rename one of them")});
    *valid = false;
  };
  std::optional<std::pair<size_t, FileLoader::PolicyOut>> policy;
  std::optional<std::pair<size_t, FileLoader::TaxonomyOut>> taxonomy;
  for (size_t i = 0; i < files.size(); ++i) {
    std::optional<FileLoader::PolicyOut> file_policy;
    std::optional<FileLoader::TaxonomyOut> file_taxonomy;
    FileLoader(files[i], &file_errors[i])
        .Load(&file_rules[i], &file_tests[i], &file_policy, &file_surveys[i],
              &file_interviews[i], &file_taxonomy);
    for (FileLoader::SurveyOut& s : file_surveys[i]) {
      unique(&survey_ids, "survey", i, s.survey.id, s.id_pos, &s.valid);
    }
    for (FileLoader::InterviewOut& v : file_interviews[i]) {
      unique(&interview_ids, "interview", i, v.interview.id, v.id_pos,
             &v.valid);
    }
    for (FileLoader::RuleOut& r : file_rules[i]) {
      if (r.rule.id.empty()) continue;
      auto [first, inserted] = ids.emplace(r.rule.id, IdSite{i, r.id_pos});
      if (!inserted) {
        file_errors[i].push_back(LoadError{
            files[i].path, r.id_pos.line, r.id_pos.column,
            absl::StrCat(
                "rule id `", r.rule.id, "` is already used at ",
                PosText(files[first->second.file].path, first->second.pos)),
            "every rule needs its own id; rename one of them"});
        r.valid = false;
      }
    }
    if (file_policy.has_value()) {
      if (policy.has_value()) {
        file_errors[i].push_back(LoadError{
            files[i].path, file_policy->pos.line, file_policy->pos.column,
            absl::StrCat(
                "contact_policy is already set at ",
                PosText(files[policy->first].path, policy->second.pos)),
            "keep one contact_policy for the whole rules folder"});
      } else {
        policy.emplace(i, std::move(*file_policy));
      }
    }
    if (file_taxonomy.has_value()) {
      if (taxonomy.has_value()) {
        file_errors[i].push_back(LoadError{
            files[i].path, file_taxonomy->pos.line, file_taxonomy->pos.column,
            absl::StrCat(
                "taxonomy is already defined at ",
                PosText(files[taxonomy->first].path, taxonomy->second.pos)),
            "keep one taxonomy for the whole rules folder (by convention "
            "rules/taxonomy.yaml) and merge the phrase lists into it"});
      } else {
        taxonomy.emplace(i, std::move(*file_taxonomy));
      }
    }
  }
  // Expected matches must name rules of the set.
  std::vector<absl::string_view> all_ids;
  for (const auto& [id, site] : ids) all_ids.push_back(id);
  std::sort(all_ids.begin(), all_ids.end());
  for (size_t i = 0; i < files.size(); ++i) {
    for (FileLoader::TestOut& t : file_tests[i]) {
      for (size_t k = 0; k < t.test.expect.size(); ++k) {
        const std::string& rule = t.test.expect[k].rule;
        if (ids.contains(rule)) continue;
        const std::string near = internal::Nearest(rule, all_ids);
        file_errors[i].push_back(LoadError{
            files[i].path, t.expect_rule_pos[k].line,
            t.expect_rule_pos[k].column,
            absl::StrCat("test `", t.test.name, "` expects rule `", rule,
                         "`, which no file defines"),
            near.empty()
                ? absl::StrCat("the rules are ",
                               all_ids.empty() ? std::string("(none)")
                                               : absl::StrJoin(all_ids, ", "))
                : absl::StrCat("did you mean `", near, "`?")});
        t.valid = false;
      }
    }
  }
  // Actions must name surveys and interviews of the set, and their
  // templates must be fillable from the rule's matches.
  absl::flat_hash_map<std::string,
                      std::pair<size_t, const FileLoader::SurveyOut*>>
      valid_surveys;
  absl::flat_hash_map<std::string,
                      std::pair<size_t, const FileLoader::InterviewOut*>>
      valid_interviews;
  for (size_t i = 0; i < files.size(); ++i) {
    for (const FileLoader::SurveyOut& s : file_surveys[i]) {
      if (s.valid) valid_surveys.emplace(s.survey.id, std::pair{i, &s});
    }
    for (const FileLoader::InterviewOut& v : file_interviews[i]) {
      if (v.valid) valid_interviews.emplace(v.interview.id, std::pair{i, &v});
    }
  }
  auto sorted_ids = [](const absl::flat_hash_map<std::string, IdSite>& m) {
    std::vector<absl::string_view> out;
    for (const auto& [id, site] : m) out.push_back(id);
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::vector<absl::string_view> all_surveys = sorted_ids(survey_ids);
  const std::vector<absl::string_view> all_interviews =
      sorted_ids(interview_ids);
  // One template against one rule; errors go to the template's file.
  auto check_template = [&](size_t file, const Template& t,
                            const FileLoader::TemplateSite& site,
                            const Rule& rule) {
    for (size_t k = 0; k < t.parts.size() && k < site.part_pos.size(); ++k) {
      if (t.parts[k].path.empty()) continue;
      internal::TemplateError e =
          internal::CheckPlaceholderForRule(t.parts[k], rule);
      if (e.message.empty()) continue;
      file_errors[file].push_back(LoadError{
          files[file].path, site.part_pos[k].line, site.part_pos[k].column,
          absl::StrCat("in ", site.what, ": ", e.message), e.hint});
    }
  };
  for (size_t i = 0; i < files.size(); ++i) {
    for (FileLoader::RuleOut& r : file_rules[i]) {
      if (!r.rule.action.has_value()) continue;
      const Action& action = *r.rule.action;
      const bool survey = action.kind == Action::Kind::kSurvey;
      const absl::string_view kind = survey ? "survey" : "interview";
      const auto& declared = survey ? survey_ids : interview_ids;
      if (!declared.contains(action.target)) {
        const auto& other = survey ? interview_ids : survey_ids;
        const std::vector<absl::string_view>& known =
            survey ? all_surveys : all_interviews;
        const std::string near = internal::Nearest(action.target, known);
        std::string hint;
        if (other.contains(action.target)) {
          hint = absl::StrCat("`", action.target, "` is ",
                              survey ? "an interview" : "a survey",
                              ": action: { ", survey ? "interview" : "survey",
                              ": ", action.target, " }");
        } else if (!near.empty()) {
          hint = absl::StrCat("did you mean `", near, "`?");
        } else if (!known.empty()) {
          hint =
              absl::StrCat("the ", kind, "s are ", absl::StrJoin(known, ", "));
        } else {
          hint = survey ? "define it in a file of the rules folder, e.g. "
                          "rules/surveys/"
                        : "define it in a file of the rules folder, e.g. "
                          "rules/interviews.yaml, under interviews:";
          if (survey) {
            absl::StrAppend(&hint, action.target,
                            ".yaml, under surveys: [ { id: ", action.target,
                            ", ... } ]");
          }
        }
        file_errors[i].push_back(LoadError{
            files[i].path, r.action_target_pos.line, r.action_target_pos.column,
            absl::StrCat("rule `", r.rule.id, "` asks for ", kind, " `",
                         action.target, "`, which no file defines"),
            hint});
        r.valid = false;
        continue;
      }
      if (!r.valid) continue;
      if (survey) {
        auto it = valid_surveys.find(action.target);
        if (it == valid_surveys.end()) continue;
        const FileLoader::SurveyOut& s = *it->second.second;
        for (const FileLoader::TemplateSite& site : s.templates) {
          const Template& t = site.question < 0
                                  ? s.survey.title
                                  : s.survey.questions[site.question].text;
          check_template(it->second.first, t, site, r.rule);
        }
      } else {
        auto it = valid_interviews.find(action.target);
        if (it == valid_interviews.end()) continue;
        const FileLoader::InterviewOut& v = *it->second.second;
        for (const FileLoader::TemplateSite& site : v.templates) {
          check_template(it->second.first, v.interview.invitation, site,
                         r.rule);
        }
      }
    }
  }
  size_t count = 0;
  for (std::vector<LoadError>& list : file_errors) {
    std::stable_sort(
        list.begin(), list.end(), [](const LoadError& a, const LoadError& b) {
          return std::tie(a.line, a.column) < std::tie(b.line, b.column);
        });
    count += list.size();
    for (LoadError& e : list) errors->push_back(std::move(e));
  }
  if (count > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        count, count == 1 ? " error" : " errors", " in the rule files; first: ",
        (*errors)[errors->size() - count].ToString()));
  }
  RuleSetBuilder builder;
  for (auto& rules : file_rules) {
    for (FileLoader::RuleOut& r : rules) builder.AddRule(std::move(r.rule));
  }
  for (auto& tests : file_tests) {
    for (FileLoader::TestOut& t : tests) builder.AddTest(std::move(t.test));
  }
  if (policy.has_value()) builder.SetContactPolicy(policy->second.policy);
  if (taxonomy.has_value()) {
    builder.SetTaxonomy(std::move(taxonomy->second.taxonomy));
  }
  for (auto& surveys : file_surveys) {
    for (FileLoader::SurveyOut& s : surveys) {
      builder.AddSurvey(std::move(s.survey));
    }
  }
  for (auto& interviews : file_interviews) {
    for (FileLoader::InterviewOut& v : interviews) {
      builder.AddInterview(std::move(v.interview));
    }
  }
  absl::StatusOr<std::shared_ptr<const RuleSet>> set = builder.Build();
  if (!set.ok()) {
    // The checks above cover what Build() checks; this is a safety net.
    errors->push_back(LoadError{"", 0, 0, std::string(set.status().message()),
                                "please report this to the Hark maintainers"});
  }
  return set;
}

absl::StatusOr<std::vector<SourceFile>> ReadRuleDir(absl::string_view dir) {
  namespace fs = std::filesystem;
  const fs::path root{std::string(dir)};
  std::error_code ec;
  if (!fs::exists(root, ec)) {
    return absl::NotFoundError(
        absl::StrCat("rules folder ", dir, " does not exist"));
  }
  if (!fs::is_directory(root, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rules folder ", dir, " is not a folder"));
  }
  std::vector<SourceFile> files;
  fs::recursive_directory_iterator it(
      root, fs::directory_options::follow_directory_symlink, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot list ", dir, ": ", ec.message()));
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot list ", dir, ": ", ec.message()));
    }
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    // Hidden files and folders (.git, editor swap files) are not rules.
    if (!name.empty() && name[0] == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    const std::string ext = path.extension().string();
    if (ext != ".yaml" && ext != ".yml") continue;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return absl::UnavailableError(
          absl::StrCat("cannot read ", path.string()));
    }
    files.push_back(SourceFile{path.lexically_relative(root).generic_string(),
                               content.str()});
  }
  std::sort(
      files.begin(), files.end(),
      [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  return files;
}

}  // namespace hark::rules
