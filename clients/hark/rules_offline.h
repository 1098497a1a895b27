#ifndef HARK_CLIENTS_HARK_RULES_OFFLINE_H_
#define HARK_CLIENTS_HARK_RULES_OFFLINE_H_

// `hark rules check` and `hark rules test`: work on a rules folder without a
// running harkd, with harkd's own loader (server/rules) and engine
// (server/engine), so that what passes here loads and behaves the same in
// the server. This is the only part of the CLI that links server code; it
// lives in its own target, hark_cli_offline.

#include <ostream>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hark/v1/rules.pb.h"
#include "server/engine/engine.h"
#include "server/rules/rule_set.h"

namespace hark::cli {

hark::v1::RuleError ToRuleError(const rules::LoadError& error);
hark::v1::TestResult ToTestResult(const engine::TestOutcome& outcome);

// Reads every rule file under `dir` (see rules::ReadRuleDir) into `*files`.
// On failure prints "hark: rules folder DIR does not exist (NOT_FOUND)" (or
// whatever else went wrong) and a hint to `err` and returns false.
bool ReadRuleFolder(absl::string_view dir,
                    std::vector<rules::SourceFile>* files, std::ostream& err);

// `hark rules check DIR`: prints every load error (see FormatRuleErrors) and
// its summary, or "ok: N rules in M files", to `out`. Returns the exit code:
// 0 when the set loads, 1 on errors or when DIR cannot be read.
int RunRulesCheck(absl::string_view dir, std::ostream& out, std::ostream& err);

// `hark rules test DIR`: loads like RunRulesCheck (errors: exit 1), then runs
// every `tests:` case (engine::RunRuleTests) and prints FormatTestResults.
// Returns 0 when every test passed, 1 otherwise.
int RunRulesTest(absl::string_view dir, absl::Duration allowed_lateness,
                 std::ostream& out, std::ostream& err);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_RULES_OFFLINE_H_
