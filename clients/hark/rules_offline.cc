#include "clients/hark/rules_offline.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/hark/rules_format.h"

namespace hark::cli {
namespace {

// The set in `files`, or nullptr after printing its errors to `out`.
std::shared_ptr<const rules::RuleSet> LoadOrReport(
    absl::string_view dir, const std::vector<rules::SourceFile>& files,
    std::ostream& out) {
  std::vector<rules::LoadError> errors;
  absl::StatusOr<std::shared_ptr<const rules::RuleSet>> set =
      rules::LoadRuleSet(files, &errors);
  if (set.ok() && errors.empty()) return *std::move(set);
  std::vector<hark::v1::RuleError> shown;
  for (const rules::LoadError& e : errors) shown.push_back(ToRuleError(e));
  if (shown.empty()) {
    // The loader failed without saying where; still tell the user why.
    hark::v1::RuleError e;
    e.set_message(set.ok() ? "the rule set did not load"
                           : std::string(set.status().message()));
    shown.push_back(std::move(e));
  }
  out << FormatRuleErrors(shown, dir);
  return nullptr;
}

void WarnIfEmpty(absl::string_view dir,
                 const std::vector<rules::SourceFile>& files,
                 std::ostream& err) {
  if (!files.empty()) return;
  err << "hark: warning: no .yaml or .yml files under " << dir << "\n";
}

}  // namespace

hark::v1::RuleError ToRuleError(const rules::LoadError& error) {
  hark::v1::RuleError out;
  out.set_path(error.path);
  out.set_line(static_cast<uint32_t>(std::max(error.line, 0)));
  out.set_column(static_cast<uint32_t>(std::max(error.column, 0)));
  out.set_message(error.message);
  out.set_hint(error.hint);
  return out;
}

hark::v1::TestResult ToTestResult(const engine::TestOutcome& outcome) {
  hark::v1::TestResult out;
  out.set_path(outcome.path);
  out.set_name(outcome.name);
  out.set_passed(outcome.passed);
  for (const std::string& line : outcome.expected) out.add_expected(line);
  for (const std::string& line : outcome.actual) out.add_actual(line);
  return out;
}

bool ReadRuleFolder(absl::string_view dir,
                    std::vector<rules::SourceFile>* files, std::ostream& err) {
  absl::StatusOr<std::vector<rules::SourceFile>> read = rules::ReadRuleDir(dir);
  if (!read.ok()) {
    // The loader's messages name the folder or file already.
    err << "hark: " << read.status().message() << " ("
        << absl::StatusCodeToString(read.status().code()) << ")\n";
    if (read.status().code() == absl::StatusCode::kNotFound ||
        read.status().code() == absl::StatusCode::kInvalidArgument) {
      err << "  hint: give the folder that holds the rule files, e.g. "
             "'hark rules check rules/'\n";
    }
    return false;
  }
  *files = *std::move(read);
  return true;
}

int RunRulesCheck(absl::string_view dir, std::ostream& out, std::ostream& err) {
  std::vector<rules::SourceFile> files;
  if (!ReadRuleFolder(dir, &files, err)) return 1;
  std::shared_ptr<const rules::RuleSet> set = LoadOrReport(dir, files, out);
  if (set == nullptr) return 1;
  WarnIfEmpty(dir, files, err);
  out << OkSummary(static_cast<int>(set->rules().size()),
                   static_cast<int>(files.size()))
      << "\n";
  return 0;
}

int RunRulesTest(absl::string_view dir, absl::Duration allowed_lateness,
                 std::ostream& out, std::ostream& err) {
  std::vector<rules::SourceFile> files;
  if (!ReadRuleFolder(dir, &files, err)) return 1;
  std::shared_ptr<const rules::RuleSet> set = LoadOrReport(dir, files, out);
  if (set == nullptr) return 1;
  WarnIfEmpty(dir, files, err);
  engine::EngineOptions options;
  options.allowed_lateness = allowed_lateness;
  std::vector<hark::v1::TestResult> results;
  bool all_passed = true;
  for (const engine::TestOutcome& outcome :
       engine::RunRuleTests(*set, options)) {
    all_passed = all_passed && outcome.passed;
    results.push_back(ToTestResult(outcome));
  }
  out << FormatTestResults(results, dir);
  return all_passed ? 0 : 1;
}

}  // namespace hark::cli
