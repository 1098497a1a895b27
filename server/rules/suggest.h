#ifndef HARK_SERVER_RULES_SUGGEST_H_
#define HARK_SERVER_RULES_SUGGEST_H_

// "Did you mean ...?" for misspelled keys and names (internal to
// server/rules).

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace hark::rules::internal {

// Levenshtein distance, case-insensitive (a researcher's `startswith` is
// one step from `startsWith`, not three).
int EditDistance(absl::string_view a, absl::string_view b);

// The candidate closest to `word`, if it is close enough to be a plausible
// typo (at most 2 edits, and fewer than half of the word); else "".
std::string Nearest(absl::string_view word,
                    absl::Span<const absl::string_view> candidates);

}  // namespace hark::rules::internal

#endif  // HARK_SERVER_RULES_SUGGEST_H_
