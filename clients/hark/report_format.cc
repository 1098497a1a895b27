#include "clients/hark/report_format.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "clients/hark/format.h"
#include "clients/hark/prompts_format.h"

namespace hark::cli {
namespace {

using hark::v1::Report;
using CountMap = google::protobuf::Map<std::string, uint64_t>;

constexpr const char* kFrictionOrder[] = {"product", "process", "pricing",
                                          "perception", "unknown"};

uint64_t CountOf(const CountMap& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? 0 : it->second;
}

// The keys of `maps`: those of `preferred` that occur, in that order, then
// the others sorted.
template <size_t N>
std::vector<std::string> KeysOf(const std::vector<const CountMap*>& maps,
                                const char* const (&preferred)[N]) {
  std::set<std::string> all;
  for (const CountMap* map : maps) {
    for (const auto& [key, n] : *map) all.insert(key);
  }
  std::vector<std::string> out;
  for (const char* key : preferred) {
    if (all.erase(key) > 0) out.push_back(key);
  }
  out.insert(out.end(), all.begin(), all.end());
  return out;
}

// "42%"; "-" when there is nothing to divide.
std::string Percent(double fraction, uint64_t whole) {
  if (whole == 0) return "-";
  return absl::StrCat(std::lround(fraction * 100), "%");
}

// "40% of 10"; "-" for none.
std::string ShareOf(double fraction, uint64_t whole) {
  if (whole == 0) return "-";
  return absl::StrCat(Percent(fraction, whole), " of ", WithThousands(whole));
}

// ShareOf for a group of users, "none" for an empty group.
std::string OutcomeShare(double fraction, uint64_t users) {
  return users == 0 ? "none" : ShareOf(fraction, users);
}

// "pricing 6, product 3, process 1": the three most frequent, ties by name.
std::string TopFriction(const CountMap& friction) {
  std::vector<std::pair<uint64_t, std::string>> counts;
  for (const auto& [type, n] : friction) {
    if (n > 0) counts.emplace_back(n, type);
  }
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (counts.size() > 3) counts.resize(3);
  if (counts.empty()) return "-";
  return absl::StrJoin(counts, ", ", [](std::string* out, const auto& c) {
    absl::StrAppend(out, c.second, " ", WithThousands(c.first));
  });
}

std::vector<const CountMap*> RuleMaps(const Report& report,
                                      const CountMap& (Report::RuleRow::*map)()
                                          const) {
  std::vector<const CountMap*> maps;
  for (const Report::RuleRow& row : report.rules()) {
    maps.push_back(&(row.*map)());
  }
  return maps;
}

std::string Rate(double fraction) { return absl::StrCat(fraction); }

// One line per figure, under a table.
void AppendNotes(const std::vector<std::pair<std::string, std::string>>& notes,
                 std::string* out) {
  size_t width = 0;
  for (const auto& [name, text] : notes) {
    width = std::max(width, DisplayWidth(name));
  }
  for (const auto& [name, text] : notes) {
    absl::StrAppend(out, "  ", Pad(name, width), "  ", text, "\n");
  }
}

// What each decision outcome means (rules/README.md, "Who gets asked").
std::string DecisionMeaning(absl::string_view reason) {
  const std::pair<absl::string_view, absl::string_view> meanings[] = {
      {"sent", "asked: a survey or invitation was created"},
      {"cooldown", "not asked: this rule asked the user within its cooldown"},
      {"contact_cap",
       "not asked: the user already got the most prompts "
       "allowed per period"},
      {"sampled_out", "not asked: the user is outside the rule's sample"},
      {"quota", "not asked: the rule's or interview's quota was used up"},
      {"lower_priority",
       "not asked: another rule matched the user at the same time and won"},
      {"shadow",
       "not asked: the rule runs in shadow mode (decides, asks "
       "nobody)"},
      {"stale",
       "not asked: the match was too old when decided "
       "(max_staleness)"},
      {"expired", "not asked: the match was older than the prompt's expiry"},
  };
  for (const auto& [name, meaning] : meanings) {
    if (name == reason) return std::string(meaning);
  }
  return "(a reason this hark does not know)";
}

}  // namespace

std::string FormatReport(const Report& report) {
  std::string out = absl::StrCat(
      "Report",
      report.has_generated_at()
          ? absl::StrCat(" generated ", FormatUtcTime(report.generated_at()),
                         " UTC")
          : "",
      ": ", Plural(report.responses(), "response", "responses"), ", ",
      Plural(report.rules_size(), "rule", "rules"), "\n");
  const std::string outcome =
      absl::StrCat(OrDash(report.outcome_event()), " within ",
                   Plural(report.outcome_days(), "day", "days"));

  if (!report.rules().empty()) {
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"RULE", "HYPOTHESIS", "MATCHES", "SENT", "DELIVERED",
                    "SHOWN", "ANSWERED", "RESPONSE RATE"});
    for (const Report::RuleRow& r : report.rules()) {
      rows.push_back({r.rule_id(), OrDash(r.friction_hypothesis()),
                      WithThousands(r.matches()),
                      WithThousands(CountOf(r.decisions(), "sent")),
                      WithThousands(r.delivered()), WithThousands(r.shown()),
                      WithThousands(r.answered()),
                      Percent(r.response_rate(), r.delivered())});
    }
    absl::StrAppend(
        &out, "\nPer rule: from match to answer\n",
        TextTable(rows, {false, false, true, true, true, true, true, true}));
    AppendNotes({{"matches", "times the rule fired"},
                 {"sent",
                  "matches where Hark decided to ask (the others: decisions "
                  "below)"},
                 {"delivered", "prompts a product backend fetched to show"},
                 {"shown", "prompts the product reported as shown to the user"},
                 {"answered", "responses received"},
                 {"response rate", "answered / delivered"}},
                &out);

    rows.clear();
    rows.push_back({"RULE", "TOP FRICTION", "HYPOTHESIS MISMATCH",
                    "OUTCOME: ANSWERED VS NOT"});
    for (const Report::RuleRow& r : report.rules()) {
      rows.push_back(
          {r.rule_id(), TopFriction(r.friction()),
           ShareOf(r.hypothesis_mismatch(), r.hypothesis_compared()),
           r.matched_users() == 0
               ? "-"
               : absl::StrCat(
                     OutcomeShare(r.outcome_rate_responders(), r.responders()),
                     " vs ",
                     OutcomeShare(r.outcome_rate_non_responders(),
                                  r.non_responders()))});
    }
    absl::StrAppend(&out,
                    "\nPer rule: what the answers said and what users "
                    "did next\n",
                    TextTable(rows));
    AppendNotes(
        {{"top friction",
          "the most frequent friction types of the answers "
          "(primary tag), with counts"},
         {"hypothesis mismatch",
          "answers tagged otherwise than the rule's hypothesis (its author's "
          "guess); high: the rule catches another problem than assumed"},
         {"outcome", absl::StrCat("matched users who sent ", outcome,
                                  " of their first match: those who "
                                  "answered vs those who did not (\"12% of "
                                  "50\": 12% of 50 users)")}},
        &out);

    const std::vector<std::string> reasons = KeysOf(
        RuleMaps(report, &Report::RuleRow::decisions), kDecisionOutcomes);
    if (!reasons.empty()) {
      rows.clear();
      rows.push_back({"RULE"});
      std::vector<bool> right = {false};
      for (const std::string& reason : reasons) {
        rows[0].push_back(absl::AsciiStrToUpper(reason));
        right.push_back(true);
      }
      for (const Report::RuleRow& r : report.rules()) {
        rows.push_back({r.rule_id()});
        for (const std::string& reason : reasons) {
          rows.back().push_back(WithThousands(CountOf(r.decisions(), reason)));
        }
      }
      absl::StrAppend(&out, "\nDecisions by reason\n", TextTable(rows, right));
      std::vector<std::pair<std::string, std::string>> notes;
      for (const std::string& reason : reasons) {
        notes.emplace_back(reason, DecisionMeaning(reason));
      }
      AppendNotes(notes, &out);
    }
  }

  if (report.responses() > 0) {
    std::vector<std::vector<std::string>> rows;
    for (const std::string& type :
         KeysOf({&report.friction()}, kFrictionOrder)) {
      const uint64_t n = CountOf(report.friction(), type);
      rows.push_back(
          {type, WithThousands(n),
           ProgressBar(static_cast<double>(n) / report.responses(), 20)});
    }
    absl::StrAppend(&out, "\nFriction of all ",
                    Plural(report.responses(), "response", "responses"),
                    " (primary tag)\n", TextTable(rows, {false, true, false}));
  } else {
    absl::StrAppend(&out, "\nNo responses match.\n");
  }

  if (!report.trend().empty()) {
    std::vector<const CountMap*> maps;
    for (const Report::Week& w : report.trend()) maps.push_back(&w.friction());
    const std::vector<std::string> types = KeysOf(maps, kFrictionOrder);
    std::vector<std::vector<std::string>> rows;
    rows.push_back({"WEEK OF"});
    std::vector<bool> right = {false};
    for (const std::string& type : types) {
      rows[0].push_back(absl::AsciiStrToUpper(type));
      right.push_back(true);
    }
    rows[0].push_back("TOTAL");
    right.push_back(true);
    for (const Report::Week& w : report.trend()) {
      rows.push_back({FormatUtcTime(w.week_start()).substr(0, 10)});
      uint64_t total = 0;
      for (const std::string& type : types) {
        const uint64_t n = CountOf(w.friction(), type);
        total += n;
        rows.back().push_back(WithThousands(n));
      }
      rows.back().push_back(WithThousands(total));
    }
    absl::StrAppend(&out,
                    "\nWeekly trend: responses by friction type (primary tag), "
                    "by the week they arrived (UTC)\n",
                    TextTable(rows, right));
  }
  return out;
}

std::vector<std::vector<std::string>> ReportCsvRows(const Report& report) {
  const std::vector<std::string> reasons =
      KeysOf(RuleMaps(report, &Report::RuleRow::decisions), kDecisionOutcomes);
  const std::vector<std::string> types =
      KeysOf(RuleMaps(report, &Report::RuleRow::friction), kFrictionOrder);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"rule_id", "friction_hypothesis", "matches", "delivered",
                  "shown", "answered", "response_rate", "hypothesis_compared",
                  "hypothesis_mismatch", "matched_users", "responders",
                  "non_responders", "outcome_event", "outcome_days",
                  "outcome_rate_responders", "outcome_rate_non_responders"});
  for (const std::string& reason : reasons) {
    rows[0].push_back(absl::StrCat("decisions_", reason));
  }
  for (const std::string& type : types) {
    rows[0].push_back(absl::StrCat("friction_", type));
  }
  for (const Report::RuleRow& r : report.rules()) {
    std::vector<std::string> row = {r.rule_id(),
                                    r.friction_hypothesis(),
                                    absl::StrCat(r.matches()),
                                    absl::StrCat(r.delivered()),
                                    absl::StrCat(r.shown()),
                                    absl::StrCat(r.answered()),
                                    Rate(r.response_rate()),
                                    absl::StrCat(r.hypothesis_compared()),
                                    Rate(r.hypothesis_mismatch()),
                                    absl::StrCat(r.matched_users()),
                                    absl::StrCat(r.responders()),
                                    absl::StrCat(r.non_responders()),
                                    report.outcome_event(),
                                    absl::StrCat(report.outcome_days()),
                                    Rate(r.outcome_rate_responders()),
                                    Rate(r.outcome_rate_non_responders())};
    for (const std::string& reason : reasons) {
      row.push_back(absl::StrCat(CountOf(r.decisions(), reason)));
    }
    for (const std::string& type : types) {
      row.push_back(absl::StrCat(CountOf(r.friction(), type)));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace hark::cli
