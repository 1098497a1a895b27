#ifndef HARK_CLIENTS_HARK_RULES_FORMAT_H_
#define HARK_CLIENTS_HARK_RULES_FORMAT_H_

// Output of `hark rules ...` and `hark matches`. Everything works on the
// hark.v1 messages, so errors and test results print the same whether they
// come from the offline loader (converted by rules_offline.h) or from harkd.

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "clients/hark/format.h"
#include "google/protobuf/timestamp.pb.h"
#include "hark/v1/rules.pb.h"

namespace hark::cli {

// `path` (relative to the rules folder) as the user can open it: "DIR/path".
// DIR's trailing slashes are dropped; "." and "" leave `path` alone.
std::string RulePath(absl::string_view dir, absl::string_view path);

// One error, ending in a newline:
//   DIR/path:line:col: message
//     hint: ...
// Without a line (an error about the whole file): "DIR/path: message". The
// hint line is left out when there is none.
std::string FormatRuleError(const hark::v1::RuleError& error,
                            absl::string_view dir);

// "1 error in 1 file", "5 errors in 2 files" (files that have errors).
std::string ErrorSummary(absl::Span<const hark::v1::RuleError> errors);

// Every error, then the summary line.
std::string FormatRuleErrors(absl::Span<const hark::v1::RuleError> errors,
                             absl::string_view dir);

// "ok: 4 rules in 3 files".
std::string OkSummary(int rules, int files);

// The report of `hark rules test`: per test "PASS  DIR/path: name" or
// "FAIL  DIR/path: name" followed by the expected and the actual matches
// (lines in one list only are marked), then "N passed, M failed".
std::string FormatTestResults(absl::Span<const hark::v1::TestResult> results,
                              absl::string_view dir);

// RFC 3339 in UTC without fractional seconds: "2026-11-01T09:30:00Z".
std::string FormatTimeSeconds(const google::protobuf::Timestamp& t);

// The matched events in a few words: consecutive events of the same name
// (and step alias) are counted, steps are joined by arrows:
//   "error×3", "plan_changed(up) → plan_changed(down)",
//   "onboarding_started(start)"; "-" for none.
std::string SummarizeMatchedEvents(const hark::v1::Match& match);

// The table of `hark matches`: TIME USER RULE GROUP EVENTS, one line per
// match in the given order, ending in a newline; "no matches\n" when empty.
std::string FormatMatchTable(absl::Span<const hark::v1::Match> matches);

// The table of `hark rules list`: ID KIND VERSION FRICTION FILE, then the
// load time and source of the set.
std::string FormatRuleList(const hark::v1::GetRulesResponse& rules);

// What an accepted `hark rules apply` did, e.g.
//   applied 3 rules from rules/
//     added    cancellation
//     kept     onboarding_abandonment  (unchanged: state kept)
//     reset    repeated_errors  (pattern changed: state starts fresh)
//     dropped  old_rule  (no longer in the set: state gone)
// Empty groups are left out.
std::string FormatApplyResult(const hark::v1::ApplyRulesResponse& response,
                              absl::string_view dir);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_RULES_FORMAT_H_
