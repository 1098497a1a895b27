// ParseRuleDuration: the duration syntax of rule files.

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/rules/rule_set.h"

namespace hark::rules {
namespace {

// Units from largest to smallest; a duration names each at most once, in
// this order ("1h30m", not "30m1h"), so every text has one reading.
struct Unit {
  char name;
  absl::Duration size;
};
constexpr int kUnits = 4;
const Unit kUnitTable[kUnits] = {{'d', absl::Hours(24)},
                                 {'h', absl::Hours(1)},
                                 {'m', absl::Minutes(1)},
                                 {'s', absl::Seconds(1)}};

// Nine digits per part keep every value far from overflow (and far beyond
// any sensible window).
constexpr int kMaxDigits = 9;

}  // namespace

bool ParseRuleDuration(absl::string_view text, absl::Duration* out) {
  if (text.empty()) return false;
  absl::Duration total = absl::ZeroDuration();
  int next_unit = 0;  // index of the largest unit still allowed
  size_t i = 0;
  while (i < text.size()) {
    const size_t digits_start = i;
    int64_t value = 0;
    while (i < text.size() && absl::ascii_isdigit(text[i])) {
      if (i - digits_start >= kMaxDigits) return false;
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == digits_start || i == text.size()) return false;
    const char unit = text[i++];
    int u = next_unit;
    while (u < kUnits && kUnitTable[u].name != unit) ++u;
    if (u == kUnits) return false;
    total += value * kUnitTable[u].size;
    next_unit = u + 1;
  }
  *out = total;
  return true;
}

}  // namespace hark::rules
