#ifndef HARK_CLIENTS_HARK_REPORT_FORMAT_H_
#define HARK_CLIENTS_HARK_REPORT_FORMAT_H_

// Output of `hark report`: the tables a support lead reads, and one CSV row
// per rule for spreadsheets.

#include <string>
#include <vector>

#include "hark/v1/review.pb.h"

namespace hark::cli {

// The report as text, ending in a newline: per rule the funnel (matches,
// sent, delivered, shown, answered, response rate), then what the answers
// said (top friction types, hypothesis mismatch, the outcome rate of
// responders vs non-responders), the decisions by reason, the friction
// distribution of all responses and the weekly trend, each table followed
// by one line per figure saying what it means.
std::string FormatReport(const hark::v1::Report& report);

// The CSV of `hark report --format csv`: the header, then one row per rule,
// each a list of fields (see CsvRecord). Columns: rule_id,
// friction_hypothesis, matches, delivered, shown, answered,
// response_rate, hypothesis_compared, hypothesis_mismatch, matched_users,
// responders, non_responders, outcome_event, outcome_days,
// outcome_rate_responders, outcome_rate_non_responders, then
// decisions_<reason> for every reason in any row (policy order first) and
// friction_<type> for every friction type in any row (product, process,
// pricing, perception, unknown first). Rates are fractions (0.25), missing
// counts 0 (the decisions_sent column holds the "sent" of the table).
std::vector<std::vector<std::string>> ReportCsvRows(
    const hark::v1::Report& report);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_REPORT_FORMAT_H_
