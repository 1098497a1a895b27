#ifndef HARK_SERVER_RULES_RULE_SET_H_
#define HARK_SERVER_RULES_RULE_SET_H_

// Rule files (DESIGN.md, "Rule files"): strict YAML loading into an
// immutable, compiled RuleSet that the engine evaluates. Every error has a
// file:line:col position and a hint, and all errors of a set are reported
// in one pass.

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hark/v1/common.pb.h"
#include "hark/v1/rules.pb.h"
#include "server/rules/expr.h"

namespace hark::rules {

// One file of a rule set: a path relative to the rules folder and its text.
struct SourceFile {
  std::string path;
  std::string content;
};

struct LoadError {
  std::string path;
  int line = 0;    // 1-based; 0 when the error concerns the whole file
  int column = 0;  // 1-based
  std::string message;
  std::string hint;
  // "path:line:col: message (hint: ...)"
  std::string ToString() const;
};

// Where something was written, for errors found after loading.
struct SourcePos {
  std::string path;
  int line = 0;
  int column = 0;
};

// "the event named `event` whose `where` holds".
struct EventFilter {
  std::string event;
  // Null when there is no `where:`.
  std::shared_ptr<const Predicate> where;
};

// One event that satisfies a filter.
struct MatchPattern {
  EventFilter filter;
};

// At least `at_least` matching events within a sliding `within`, per value
// of the `group_by` property keys (e.g. {"code"} for props.code).
struct CountPattern {
  EventFilter filter;
  std::vector<std::string> group_by;
  int at_least = 1;
  absl::Duration within;
};

// Ordered steps within `within` of the first step; with `absent`, "and no
// such event within `within` after the last step" (the match happens at the
// deadline).
struct SequencePattern {
  struct Step {
    std::string alias;  // may be empty
    EventFilter filter;
  };
  std::vector<Step> steps;
  std::optional<EventFilter> absent;
  absl::Duration within;
};

using Pattern = std::variant<MatchPattern, CountPattern, SequencePattern>;

// A text with {{placeholders}} filled from a match (DESIGN.md, "Rule
// files"; surveys and interview invitations). Placeholder paths:
//   user.KEY                 the user's trait KEY at match time
//   match.props.KEY          property KEY of the match's last matched event
//   match.ALIAS.props.KEY    property KEY of the event matched by step ALIAS
//   match.rule               the rule id
//   match.event              the name of the match's last matched event
//   match.count              the number of matched events
// `{{path | default: "text"}}` gives the text used when the value is
// missing at run time. The loader refuses a template that names something
// the rule using it can never provide (an unknown root, a step alias the
// rule does not have) and a placeholder that may be missing at run time and
// has no default (every user.* and match.*.props.* path, except
// match.props.KEY of a count rule grouping by props.KEY).
struct Template {
  struct Part {
    // Literal text when `path` is empty, else a placeholder.
    std::string literal;
    std::string path;
    std::optional<std::string> default_value;
  };
  std::string source;
  SourcePos pos;
  std::vector<Part> parts;
};

// Fills `t` from `match` (traits are match.traits()). Strings as they are,
// numbers without a trailing ".0" when integral, booleans true/false,
// timestamps as RFC 3339 UTC. A missing value uses the default, or the empty
// string when the placeholder has none (the loader prevents that for values
// that can be missing).
std::string RenderTemplate(const Template& t, const hark::v1::Match& match);

// A value as templates show it (see RenderTemplate); false when unset.
bool FormatValue(const hark::v1::Value& value, std::string* out);

// A rolling quota: at most `max` within any `per`.
struct Quota {
  int max = 0;
  absl::Duration per;
};

// Friction types (DESIGN.md, "Responses and friction").
// "product", "process", "pricing", "perception".
bool IsFrictionType(absl::string_view name);

// The friction taxonomy (DESIGN.md, "Responses and friction"): top-level
// `taxonomy:` of one file (by convention rules/taxonomy.yaml). Each of the
// four friction types has a description and the phrases customers use for
// it; free-text answers are matched against the phrases (server/friction).
struct Taxonomy {
  struct Type {
    // product, process, pricing or perception.
    std::string name;
    std::string description;
    // As written, in file order: at least one, each with at least one
    // word. The loader refuses two phrases of the taxonomy (of one type or
    // of two) that differ only in case, spaces and punctuation ("Doesn't
    // work" and "doesnt  work"); phrases that differ only by stemming
    // ("price" and "prices") are not refused (the rules module has no
    // stemmer); the tagger counts them as one phrase.
    std::vector<std::string> phrases;
    SourcePos pos;
  };
  // In file order; every friction type at most once.
  std::vector<Type> types;
  SourcePos pos;
};

struct Question {
  enum class Type { kRating, kNps, kCes, kSingleChoice, kMultiChoice, kText };
  struct Choice {
    std::string id;
    std::string label;
    // A friction type or empty.
    std::string friction;
  };
  std::string id;
  Type type = Type::kRating;
  Template text;
  bool required = false;
  // For kSingleChoice and kMultiChoice only (at least 2, unique ids).
  std::vector<Choice> choices;
  SourcePos pos;
};

// A micro-survey: top-level `surveys:` list of any file (by convention
// rules/surveys/*.yaml).
struct Survey {
  std::string id;
  SourcePos pos;
  Template title;
  // 1 to 5 questions with unique ids.
  std::vector<Question> questions;
};

// An interview invitation: top-level `interviews:` list of any file.
struct Interview {
  std::string id;
  SourcePos pos;
  Template invitation;
  // http(s) URL. Where it contains "{{token}}" the prompt's token goes
  // there; otherwise RenderBookingUrl() appends it as a query parameter.
  std::string booking_url;
  absl::Duration duration;
  std::string incentive;
  std::optional<Quota> quota;
};

// The booking link of one prompt: `token` (URL-safe) in place of
// "{{token}}", or appended as "?hark_token=" / "&hark_token=".
std::string RenderBookingUrl(const Interview& interview,
                             absl::string_view token);

// What a match asks for (used by orchestration).
struct Action {
  enum class Kind { kSurvey, kInterview };
  Kind kind = Kind::kSurvey;
  std::string target;  // survey or interview id
  absl::Duration delay = absl::ZeroDuration();
  std::optional<absl::Duration> expires;
};

struct Rule {
  std::string id;
  SourcePos pos;
  // product, process, pricing, perception, or empty.
  std::string friction_hypothesis;
  std::string description;
  Pattern pattern;
  // A hash of the pattern's canonical form (hex, 16 chars): equal patterns
  // have equal versions across loads, so reloads can keep their state.
  std::string version;
  std::optional<Action> action;
  std::optional<absl::Duration> cooldown;
  double sample = 1.0;
  int priority = 0;
  bool shadow = false;  // mode: shadow
  // quota: { max: 100, per: "1d" } — sent prompts of this rule.
  std::optional<Quota> quota;

  // "match", "count" or "sequence".
  absl::string_view kind() const;
};

struct ContactPolicy {
  std::optional<int> max_prompts_per_user;
  std::optional<absl::Duration> per;
  std::optional<int> max_interviews_per_user;
  std::optional<absl::Duration> interviews_per;
  // quiet_hours: "22:00-08:00" in the user's time zone; the range may
  // wrap midnight. Minutes since local midnight, start != end.
  struct QuietHours {
    int start_minute = 0;
    int end_minute = 0;
  };
  std::optional<QuietHours> quiet_hours;
  // The trait holding the user's IANA time zone ("Europe/Berlin");
  // `timezone_trait`, default "timezone". Users without it: UTC.
  std::string timezone_trait = "timezone";
  // A match whose moment is older than this when decided is suppressed as
  // stale; `max_staleness`, default 1h.
  absl::Duration max_staleness = absl::Hours(1);
  // Matches of one user arriving within this window compete by priority;
  // `priority_window`, default "0s" (only matches decided together, e.g.
  // from one event, compete). A longer window delays every prompt by it.
  absl::Duration priority_window = absl::ZeroDuration();
};

// A `tests:` case, run by `hark rules test` with a pseudo clock that starts
// at an arbitrary instant T0; `at` values are offsets from T0.
struct RuleTest {
  struct Event {
    absl::Duration at;
    std::string user;
    std::string event;
    // Generated by the loader when not given: "test:<test name>:<n>", n
    // counting the test's events from 1 in file order. Explicit ids are
    // unique within a test.
    std::string event_id;
    google::protobuf::Map<std::string, hark::v1::Value> props;
  };
  struct Trait {
    absl::Duration at;
    std::string user;
    google::protobuf::Map<std::string, hark::v1::Value> traits;
  };
  struct Expect {
    std::string rule;
    std::string user;
    absl::Duration at;
  };
  std::string name;
  SourcePos pos;
  std::vector<Event> events;
  std::vector<Trait> traits;  // `identify:` entries
  std::vector<Expect> expect;
  // The pseudo clock runs until the last event plus this. Unset: the
  // runner's default (engine::RunRuleTests: the longest `within` of the
  // set plus the allowed lateness, so absence deadlines can fire).
  std::optional<absl::Duration> run_for;
};

class RuleSet {
 public:
  const std::vector<Rule>& rules() const { return rules_; }
  const Rule* Find(absl::string_view id) const;
  // Indexes into rules() of the rules that an event with this name can
  // affect (any step, filter or absent event). Empty span if none.
  absl::Span<const int> RulesForEvent(absl::string_view event_name) const;
  // The event names some rule reads, in no particular order.
  std::vector<absl::string_view> EventNames() const;
  const std::vector<RuleTest>& tests() const { return tests_; }
  const ContactPolicy& contact_policy() const { return contact_policy_; }
  const std::vector<Survey>& surveys() const { return surveys_; }
  const std::vector<Interview>& interviews() const { return interviews_; }
  const Survey* FindSurvey(absl::string_view id) const;
  const Interview* FindInterview(absl::string_view id) const;
  // Null when no file has a `taxonomy:` key.
  const Taxonomy* taxonomy() const { return taxonomy_ ? &*taxonomy_ : nullptr; }
  // The longest `within` of any rule (zero if none).
  absl::Duration max_within() const { return max_within_; }

 private:
  friend class RuleSetBuilder;
  std::vector<Rule> rules_;
  std::vector<RuleTest> tests_;
  ContactPolicy contact_policy_;
  std::vector<Survey> surveys_;
  std::vector<Interview> interviews_;
  std::optional<Taxonomy> taxonomy_;
  absl::flat_hash_map<std::string, std::vector<int>> by_event_;
  absl::flat_hash_map<std::string, int> by_id_;
  absl::Duration max_within_ = absl::ZeroDuration();
};

// Builds a RuleSet from rules made in code (tests, benchmarks) and, inside
// the loader, from parsed files: computes versions and the event index.
class RuleSetBuilder {
 public:
  RuleSetBuilder();
  // `rule.version` is computed by Build(); `rule.id` must be unique.
  RuleSetBuilder& AddRule(Rule rule);
  RuleSetBuilder& AddTest(RuleTest test);
  RuleSetBuilder& SetContactPolicy(ContactPolicy policy);
  // Ids must be unique per kind; Build() checks that every rule's action
  // names a known survey or interview.
  RuleSetBuilder& AddSurvey(Survey survey);
  RuleSetBuilder& AddInterview(Interview interview);
  // Build() checks that each type is a friction type, given once, with at
  // least one phrase.
  RuleSetBuilder& SetTaxonomy(Taxonomy taxonomy);
  // INVALID_ARGUMENT on a duplicate rule id or a rule the engine cannot
  // run (empty id or event name, at_least < 1, within <= 0 for count and
  // sequence, no steps, empty group_by key, sample outside (0, 1]). The
  // builder is empty again afterwards, whatever the outcome.
  absl::StatusOr<std::shared_ptr<const RuleSet>> Build();

 private:
  std::shared_ptr<RuleSet> set_;
};

// The version of a pattern (what Build() stores in Rule::version).
std::string PatternVersion(const Pattern& pattern);

// Loads and compiles a set of files (already read). On any error returns
// INVALID_ARGUMENT and appends every error found to `*errors` (may be
// null): files in the given order, within a file by line and column.
// Duplicate rule ids across files are errors (at the later one, naming the
// earlier), and so are a second contact_policy and a test expecting a rule
// no file defines. So are an action naming a survey or interview no file
// defines, duplicate survey or interview ids, and templates the rule using
// them cannot fill (see Template), and a second `taxonomy:`. Top-level keys
// of a file: rules, contact_policy, tests, surveys, interviews, taxonomy.
// Never throws.
absl::StatusOr<std::shared_ptr<const RuleSet>> LoadRuleSet(
    absl::Span<const SourceFile> files, std::vector<LoadError>* errors);

// Reads every *.yaml and *.yml file under `dir` (recursively), sorted by
// path, paths relative to `dir` with '/' separators. Hidden files and
// folders (name starting with '.') are skipped. NOT_FOUND if `dir` does not
// exist, INVALID_ARGUMENT if it is not a folder.
absl::StatusOr<std::vector<SourceFile>> ReadRuleDir(absl::string_view dir);

// Parses "30s", "10m", "2h", "14d", "1h30m" (also "0s"). False if invalid.
bool ParseRuleDuration(absl::string_view text, absl::Duration* out);

}  // namespace hark::rules

#endif  // HARK_SERVER_RULES_RULE_SET_H_
