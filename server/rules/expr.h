#ifndef HARK_SERVER_RULES_EXPR_H_
#define HARK_SERVER_RULES_EXPR_H_

// The predicate language of `where:` (DESIGN.md, "Rule files"): a small
// CEL-compatible subset, parsed and type-checked when a rule file loads and
// compiled to a tree that evaluates without allocating.
//
//   literals        "text" 'text' 12 3.5 true false
//   names           event.name, props.x, props["x-y"], user.x (traits),
//                   <alias>.props.x (a property of an earlier sequence step)
//   operators       == != < <= > >= && || ! ( )
//   membership      props.severity in ["error", "fatal"]
//   functions       has(props.x), has(user.x), s.startsWith("a"),
//                   s.contains("a")
//
// Run-time semantics: a property or trait that is missing, or whose value
// has a different type than the comparison needs, makes that comparison
// (or in/startsWith/contains) false; each such case is counted in
// EvalStats::type_mismatches. `!` and `&&`/`||` then work on that false.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hark/v1/common.pb.h"

namespace hark::rules {

// What names an expression may use.
struct ExprEnv {
  // Aliases of earlier steps of the sequence, in step order, one entry per
  // earlier step (empty for a step without `as:`, which no name can reach):
  // ExprRefs::StepProp::step and EvalInput::StepProp's `step` are indexes
  // into this vector, i.e. step indexes of the sequence. `alias.props.x` may
  // name only these. Empty outside sequences and for the first step.
  std::vector<std::string> step_aliases;
  // Aliases of this and later steps: not usable here, named only to explain
  // the error ("step `down` comes later").
  std::vector<std::string> later_step_aliases;
};

// A compile error at a byte offset inside the expression text.
struct ExprError {
  int offset = 0;
  std::string message;
  // How to fix it, e.g. "strings are quoted: props.plan == \"pro\"".
  std::string hint;
};

// What an expression reads, for the engine (which step properties a
// sequence must keep) and for documentation/tools.
struct ExprRefs {
  struct StepProp {
    int step;  // index into ExprEnv::step_aliases
    std::string key;
    bool operator==(const StepProp&) const = default;
  };
  std::vector<std::string> props;
  std::vector<std::string> traits;
  std::vector<StepProp> step_props;
  bool reads_event_name = false;
};

// The inputs of one evaluation. Implemented by the engine (and by tests).
// Returned pointers stay valid for the evaluation; nullptr means missing.
class EvalInput {
 public:
  virtual ~EvalInput() = default;
  virtual absl::string_view EventName() const = 0;
  virtual const hark::v1::Value* Prop(absl::string_view key) const = 0;
  virtual const hark::v1::Value* Trait(absl::string_view key) const = 0;
  // A property of the event matched by earlier step `step`.
  virtual const hark::v1::Value* StepProp(int step,
                                          absl::string_view key) const = 0;
};

// Counters of an evaluator's run-time surprises.
struct EvalStats {
  uint64_t type_mismatches = 0;  // missing values or wrong types
};

// A condition an expression needs, for indexing rules by a property's
// value: the expression's leftmost `&&` operand (the whole expression if
// it has no top-level `&&`) is `props.<key> == <literal>` (either side) or
// `props.<key> in [<literals>]`. Because `&&` evaluates left to right, the
// expression is false without evaluating anything else when the property
// is missing or of another kind than the literals (one type mismatch, as
// EvalStats counts it) or holds none of the values (no mismatch).
struct EqualityGuard {
  enum class Kind { kString, kNumber, kBool };
  std::string key;
  Kind kind = Kind::kString;
  // Of `kind`; the others empty. Numbers compare as doubles (-0 == 0).
  std::vector<std::string> strings;
  std::vector<double> numbers;
  std::vector<bool> bools;
};

class Predicate {
 public:
  virtual ~Predicate() = default;
  // True if the event satisfies the expression. Thread-safe (const).
  virtual bool Eval(const EvalInput& input, EvalStats* stats) const = 0;
  virtual const ExprRefs& refs() const = 0;
  // The expression's EqualityGuard, if it has one.
  virtual const std::optional<EqualityGuard>& guard() const = 0;
  // Eval() for an event known to pass guard() (which must exist): only the
  // rest of the expression is evaluated, e.g. nothing for `props.k == "x"`
  // and the right side of `props.k == "x" && props.n > 3`.
  virtual bool EvalAfterGuard(const EvalInput& input,
                              EvalStats* stats) const = 0;
  // The source text, as written.
  virtual const std::string& text() const = 0;
};

// Parses and type-checks `text` (which must be a boolean expression).
// On failure returns INVALID_ARGUMENT and fills `*error` with the first
// error's offset, message and hint.
absl::StatusOr<std::unique_ptr<const Predicate>> CompilePredicate(
    absl::string_view text, const ExprEnv& env, ExprError* error);

// The expression's tokens joined by single spaces, strings re-quoted with
// double quotes and numbers in one spelling: equal for texts that differ
// only in layout or quoting (`a=="x"` and `a == 'x'`). Used for pattern
// versions. Text that does not lex comes back with its whitespace runs
// collapsed.
std::string NormalizeExprText(absl::string_view text);

}  // namespace hark::rules

#endif  // HARK_SERVER_RULES_EXPR_H_
