#include "server/rules/suggest.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"

namespace hark::rules::internal {

int EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<int> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    int diagonal = row[0];
    row[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int above = row[j];
      const bool same =
          absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 1]);
      row[j] =
          std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Nearest(absl::string_view word,
                    absl::Span<const absl::string_view> candidates) {
  std::string best;
  int best_distance = 3;
  for (absl::string_view candidate : candidates) {
    if (candidate.empty()) continue;
    const int d = EditDistance(word, candidate);
    if (d < best_distance && 2 * d < static_cast<int>(word.size())) {
      best_distance = d;
      best = std::string(candidate);
    }
  }
  return best;
}

}  // namespace hark::rules::internal
