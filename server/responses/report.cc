// Responses::Report: the review report (DESIGN.md, "Responses and
// friction"). The store aggregates; this file joins the figures with the
// serving rules and links matched users to a later outcome event.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "hark/proto_time.h"
#include "hark/status_macros.h"
#include "server/responses/responses.h"

namespace hark::responses {
namespace {

double Share(int64_t part, int64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / whole;
}

template <typename Map>
void CopyCounts(const std::map<std::string, int64_t>& from, Map* to) {
  for (const auto& [key, n] : from) (*to)[key] = static_cast<uint64_t>(n);
}

// One matched (rule, user) of the outcome linkage.
struct Linked {
  int rule;  // index into the report's rows
  absl::Time first_matched_at;
  bool responded;
  bool outcome = false;
};

}  // namespace

absl::StatusOr<hark::v1::Report> Responses::Report(
    const hark::v1::GetReportRequest& request) {
  ASSIGN_OR_RETURN(store::ResponseQuery query, ToQuery(request.filter()));
  const std::string outcome_event = request.outcome_event().empty()
                                        ? std::string(kDefaultOutcomeEvent)
                                        : request.outcome_event();
  const uint32_t days = request.outcome_days() == 0 ? kDefaultOutcomeDays
                                                    : request.outcome_days();
  if (days > kMaxOutcomeDays) {
    return absl::InvalidArgumentError(absl::StrCat(
        "outcome_days: ", days, " is more than ", kMaxOutcomeDays));
  }
  const absl::Duration window = absl::Hours(24) * days;
  const Serving serving = this->serving();

  ASSIGN_OR_RETURN(store::ReportData data, store_->GetReportData(query));
  hark::v1::Report report;
  report.set_outcome_event(outcome_event);
  report.set_outcome_days(days);
  SetTimestamp(clock_->Now(), report.mutable_generated_at());

  // Rows: every rule with figures, and every serving rule (zeros tell that
  // a rule never matched) unless the filter names one rule.
  std::map<std::string, store::RuleReportData> by_rule;
  for (store::RuleReportData& r : data.rules) {
    std::string id = r.rule_id;
    by_rule.emplace(std::move(id), std::move(r));
  }
  if (serving.rules) {
    for (const rules::Rule& rule : serving.rules->rules()) {
      if (!query.rule_id.empty() && rule.id != query.rule_id) continue;
      by_rule[rule.id].rule_id = rule.id;
    }
  }
  absl::flat_hash_map<std::string, int> row_of;
  for (const auto& [id, r] : by_rule) {
    row_of[id] = report.rules_size();
    hark::v1::Report::RuleRow* row = report.add_rules();
    row->set_rule_id(id);
    if (serving.rules) {
      if (const rules::Rule* rule = serving.rules->Find(id)) {
        row->set_friction_hypothesis(rule->friction_hypothesis);
      }
    }
    row->set_matches(r.matches);
    CopyCounts(r.decisions, row->mutable_decisions());
    row->set_delivered(r.delivered);
    row->set_shown(r.shown);
    row->set_answered(r.answered);
    row->set_response_rate(Share(r.answered, r.delivered));
    CopyCounts(r.friction, row->mutable_friction());
    for (const auto& [friction, n] : r.friction) {
      report.set_responses(report.responses() + n);
      (*report.mutable_friction())[friction] += n;
    }
    row->set_hypothesis_compared(r.with_hypothesis);
    row->set_hypothesis_mismatch(
        Share(r.hypothesis_mismatches, r.with_hypothesis));
  }
  for (const store::WeekReportData& w : data.trend) {
    hark::v1::Report::Week* week = report.add_trend();
    SetTimestamp(w.week_start, week->mutable_week_start());
    CopyCounts(w.friction, week->mutable_friction());
  }

  // What users did next: each matched user's first match of a rule, then
  // one pass over the outcome events.
  absl::flat_hash_map<std::string, std::vector<Linked>> users;
  RETURN_IF_ERROR(
      store_->ScanRuleUsers(query, [&](const store::RuleUserRecord& ru) {
        auto it = row_of.find(ru.rule_id);
        if (it == row_of.end()) return;
        users[ru.user_id].push_back(
            Linked{it->second, ru.first_matched_at, ru.responded});
      }));
  if (!users.empty()) {
    RETURN_IF_ERROR(store_->ScanEventsNamed(
        outcome_event, [&](absl::string_view user_id, absl::Time at) {
          auto it = users.find(user_id);
          if (it == users.end()) return;
          for (Linked& l : it->second) {
            if (at > l.first_matched_at && at <= l.first_matched_at + window) {
              l.outcome = true;
            }
          }
        }));
  }
  struct Tally {
    int64_t responders = 0, responders_out = 0;
    int64_t others = 0, others_out = 0;
  };
  std::vector<Tally> tallies(report.rules_size());
  for (const auto& [user, links] : users) {
    for (const Linked& l : links) {
      Tally& t = tallies[l.rule];
      if (l.responded) {
        ++t.responders;
        if (l.outcome) ++t.responders_out;
      } else {
        ++t.others;
        if (l.outcome) ++t.others_out;
      }
    }
  }
  for (int i = 0; i < report.rules_size(); ++i) {
    hark::v1::Report::RuleRow* row = report.mutable_rules(i);
    const Tally& t = tallies[i];
    row->set_matched_users(t.responders + t.others);
    row->set_responders(t.responders);
    row->set_non_responders(t.others);
    row->set_outcome_rate_responders(Share(t.responders_out, t.responders));
    row->set_outcome_rate_non_responders(Share(t.others_out, t.others));
  }
  return report;
}

}  // namespace hark::responses
