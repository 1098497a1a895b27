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

  // "match", "count" or "sequence".
  absl::string_view kind() const;
};

struct ContactPolicy {
  std::optional<int> max_prompts_per_user;
  std::optional<absl::Duration> per;
  std::optional<int> max_interviews_per_user;
  std::optional<absl::Duration> interviews_per;
  // "HH:MM-HH:MM" in the user's time zone trait, when set.
  std::optional<std::string> quiet_hours;
};

// A `tests:` case, run by `hark rules test` with a pseudo clock that starts
// at an arbitrary instant T0; `at` values are offsets from T0.
struct RuleTest {
  struct Event {
    absl::Duration at;
    std::string user;
    std::string event;
    std::string event_id;  // generated when not given
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
  // The pseudo clock runs until the last event plus this (default: the
  // longest `within` of the set, so absence deadlines can fire).
  std::optional<absl::Duration> run_for;
};

class RuleSet {
 public:
  const std::vector<Rule>& rules() const { return rules_; }
  const Rule* Find(absl::string_view id) const;
  // Indexes into rules() of the rules that an event with this name can
  // affect (any step, filter or absent event). Empty span if none.
  absl::Span<const int> RulesForEvent(absl::string_view event_name) const;
  const std::vector<RuleTest>& tests() const { return tests_; }
  const ContactPolicy& contact_policy() const { return contact_policy_; }
  // The longest `within` of any rule (zero if none).
  absl::Duration max_within() const { return max_within_; }

 private:
  friend class RuleSetBuilder;
  std::vector<Rule> rules_;
  std::vector<RuleTest> tests_;
  ContactPolicy contact_policy_;
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
  // INVALID_ARGUMENT on a duplicate rule id.
  absl::StatusOr<std::shared_ptr<const RuleSet>> Build();

 private:
  std::shared_ptr<RuleSet> set_;
};

// The version of a pattern (what Build() stores in Rule::version).
std::string PatternVersion(const Pattern& pattern);

// Loads and compiles a set of files (already read). On any error returns
// INVALID_ARGUMENT and appends every error found, in file order, to
// `*errors`. Duplicate rule ids across files are errors.
absl::StatusOr<std::shared_ptr<const RuleSet>> LoadRuleSet(
    absl::Span<const SourceFile> files, std::vector<LoadError>* errors);

// Reads every *.yaml and *.yml file under `dir` (recursively), sorted by
// path, paths relative to `dir`. NOT_FOUND if `dir` does not exist.
absl::StatusOr<std::vector<SourceFile>> ReadRuleDir(absl::string_view dir);

// Parses "30s", "10m", "2h", "14d", "1h30m" (also "0s"). False if invalid.
bool ParseRuleDuration(absl::string_view text, absl::Duration* out);

}  // namespace hark::rules

#endif  // HARK_SERVER_RULES_RULE_SET_H_
