// PatternVersion: a stable hash of a pattern's canonical text.
//
// The version must be equal for equal patterns in every process and every
// build (reload and restart compare it with versions of earlier runs), so
// it is FNV-1a 64 over a text that spells out each part of the pattern with
// a length prefix, never a seeded or pointer-based hash. Predicates enter in
// NormalizeExprText form, so reformatting a `where:` keeps the version.
// Only the pattern counts: action, cooldown, sampling, priority, mode and
// descriptions can change without resetting matching state.

#include <cstdint>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "server/rules/expr.h"
#include "server/rules/rule_set.h"

namespace hark::rules {
namespace {

void Field(std::string* out, absl::string_view name, absl::string_view value) {
  absl::StrAppend(out, name, "=", value.size(), ":", value, ";");
}

void AppendFilter(std::string* out, absl::string_view prefix,
                  const EventFilter& filter) {
  Field(out, absl::StrCat(prefix, ".event"), filter.event);
  Field(out, absl::StrCat(prefix, ".where"),
        filter.where == nullptr ? std::string()
                                : NormalizeExprText(filter.where->text()));
}

uint64_t Fnv1a64(absl::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

std::string PatternVersion(const Pattern& pattern) {
  // Bump "v1" if the canonical text ever changes meaning: that resets the
  // state of every rule once, which is the honest outcome.
  std::string canonical = "hark-pattern-v1;";
  if (const auto* match = std::get_if<MatchPattern>(&pattern)) {
    Field(&canonical, "kind", "match");
    AppendFilter(&canonical, "filter", match->filter);
  } else if (const auto* count = std::get_if<CountPattern>(&pattern)) {
    Field(&canonical, "kind", "count");
    AppendFilter(&canonical, "filter", count->filter);
    for (const std::string& key : count->group_by) {
      Field(&canonical, "group_by", key);
    }
    Field(&canonical, "at_least", absl::StrCat(count->at_least));
    Field(&canonical, "within", absl::FormatDuration(count->within));
  } else if (const auto* seq = std::get_if<SequencePattern>(&pattern)) {
    Field(&canonical, "kind", "sequence");
    for (size_t i = 0; i < seq->steps.size(); ++i) {
      const std::string prefix = absl::StrCat("step", i);
      Field(&canonical, absl::StrCat(prefix, ".as"), seq->steps[i].alias);
      AppendFilter(&canonical, prefix, seq->steps[i].filter);
    }
    if (seq->absent.has_value()) {
      AppendFilter(&canonical, "absent", *seq->absent);
    }
    Field(&canonical, "within", absl::FormatDuration(seq->within));
  }
  return absl::StrFormat("%016x", Fnv1a64(canonical));
}

}  // namespace hark::rules
