#include "clients/hark/rules_format.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace hark::cli {
namespace {

// Appends "<indent>label:" and the lines (or "(none)"), marking each line
// that `other` does not have (as many times as it occurs) with `mark`.
void AppendMatchList(
    absl::string_view label,
    const google::protobuf::RepeatedPtrField<std::string>& lines,
    const google::protobuf::RepeatedPtrField<std::string>& other,
    absl::string_view mark, std::string* out) {
  absl::StrAppend(out, "      ", label, ":\n");
  if (lines.empty()) {
    absl::StrAppend(out, "        (none)\n");
    return;
  }
  std::map<std::string, int> available;
  for (const std::string& line : other) ++available[line];
  size_t width = 0;
  for (const std::string& line : lines) {
    width = std::max(width, DisplayWidth(line));
  }
  for (const std::string& line : lines) {
    absl::StrAppend(out, "        ", line);
    auto it = available.find(line);
    if (it != available.end() && it->second > 0) {
      --it->second;
    } else {
      absl::StrAppend(out, std::string(width - DisplayWidth(line), ' '), "  (",
                      mark, ")");
    }
    out->push_back('\n');
  }
}

}  // namespace

std::string RulePath(absl::string_view dir, absl::string_view path) {
  while (dir.size() > 1 && absl::EndsWith(dir, "/")) dir.remove_suffix(1);
  if (dir.empty() || dir == ".") return std::string(path);
  if (dir == "/") return absl::StrCat("/", path);
  return absl::StrCat(dir, "/", path);
}

std::string FormatRuleError(const hark::v1::RuleError& error,
                            absl::string_view dir) {
  std::string out = RulePath(dir, error.path());
  if (error.line() > 0) {
    absl::StrAppend(&out, ":", error.line());
    if (error.column() > 0) absl::StrAppend(&out, ":", error.column());
  }
  absl::StrAppend(&out, ": ", error.message(), "\n");
  if (!error.hint().empty())
    absl::StrAppend(&out, "  hint: ", error.hint(), "\n");
  return out;
}

std::string ErrorSummary(absl::Span<const hark::v1::RuleError> errors) {
  std::set<std::string> files;
  for (const hark::v1::RuleError& e : errors) files.insert(e.path());
  return absl::StrCat(Plural(errors.size(), "error", "errors"), " in ",
                      Plural(files.size(), "file", "files"));
}

std::string FormatRuleErrors(absl::Span<const hark::v1::RuleError> errors,
                             absl::string_view dir) {
  std::string out;
  for (const hark::v1::RuleError& e : errors) {
    absl::StrAppend(&out, FormatRuleError(e, dir));
  }
  absl::StrAppend(&out, ErrorSummary(errors), "\n");
  return out;
}

std::string OkSummary(int rules, int files) {
  return absl::StrCat("ok: ", Plural(rules, "rule", "rules"), " in ",
                      Plural(files, "file", "files"));
}

std::string FormatTestResults(absl::Span<const hark::v1::TestResult> results,
                              absl::string_view dir) {
  std::string out;
  int passed = 0;
  for (const hark::v1::TestResult& r : results) {
    absl::StrAppend(&out, r.passed() ? "PASS" : "FAIL", "  ",
                    RulePath(dir, r.path()), ": ", r.name(), "\n");
    if (r.passed()) {
      ++passed;
      continue;
    }
    AppendMatchList("expected", r.expected(), r.actual(), "missing", &out);
    AppendMatchList("actual", r.actual(), r.expected(), "not expected", &out);
  }
  absl::StrAppend(&out, passed, " passed, ", results.size() - passed,
                  " failed");
  if (results.empty()) absl::StrAppend(&out, " (no tests: blocks found)");
  out.push_back('\n');
  return out;
}

std::string FormatTimeSeconds(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

std::string SummarizeMatchedEvents(const hark::v1::Match& match) {
  std::vector<std::pair<std::string, int>> runs;
  for (const hark::v1::MatchedEvent& e : match.events()) {
    std::string token = e.name().empty() ? "?" : e.name();
    if (!e.alias().empty()) absl::StrAppend(&token, "(", e.alias(), ")");
    if (!runs.empty() && runs.back().first == token) {
      ++runs.back().second;
    } else {
      runs.emplace_back(std::move(token), 1);
    }
  }
  if (runs.empty()) return "-";
  return absl::StrJoin(
      runs, " → ", [](std::string* out, const std::pair<std::string, int>& r) {
        absl::StrAppend(out, r.first);
        if (r.second > 1) absl::StrAppend(out, "×", r.second);
      });
}

std::string FormatMatchTable(absl::Span<const hark::v1::Match> matches) {
  if (matches.empty()) return "no matches\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"TIME", "USER", "RULE", "GROUP", "EVENTS"});
  for (const hark::v1::Match& m : matches) {
    rows.push_back(
        {m.has_matched_at() ? FormatTimeSeconds(m.matched_at()) : "-",
         OrDash(m.user_id()), OrDash(m.rule_id()), OrDash(m.group_key()),
         SummarizeMatchedEvents(m)});
  }
  return TextTable(rows);
}

std::string FormatRuleList(const hark::v1::GetRulesResponse& response) {
  std::string out = Plural(response.rules_size(), "rule", "rules");
  if (response.has_loaded_at()) {
    absl::StrAppend(&out, ", loaded at ",
                    FormatTimeSeconds(response.loaded_at()));
  }
  if (!response.source().empty()) {
    absl::StrAppend(&out, " from ", response.source());
  }
  out.push_back('\n');
  if (response.rules().empty()) return out;
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "KIND", "VERSION", "FRICTION", "FILE"});
  for (const hark::v1::RuleInfo& r : response.rules()) {
    rows.push_back({r.id(), OrDash(r.pattern_kind()), OrDash(r.version()),
                    OrDash(r.friction_hypothesis()), OrDash(r.path())});
  }
  absl::StrAppend(&out, "\n", TextTable(rows));
  return out;
}

std::string FormatApplyResult(const hark::v1::ApplyRulesResponse& response,
                              absl::string_view dir) {
  const int serving =
      response.kept_size() + response.reset_size() + response.added_size();
  std::string out = absl::StrCat("applied ", Plural(serving, "rule", "rules"),
                                 " from ", dir, "\n");
  auto group = [&out](
                   absl::string_view label,
                   const google::protobuf::RepeatedPtrField<std::string>& ids,
                   absl::string_view note) {
    if (ids.empty()) return;
    absl::StrAppend(&out, "  ", label, std::string(9 - label.size(), ' '),
                    absl::StrJoin(ids, ", "), note, "\n");
  };
  group("added", response.added(), "");
  group("kept", response.kept(), "  (unchanged: state kept)");
  group("reset", response.reset(), "  (pattern changed: state starts fresh)");
  group("dropped", response.dropped(), "  (no longer in the set: state gone)");
  return out;
}

}  // namespace hark::cli
