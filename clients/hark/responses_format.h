#ifndef HARK_CLIENTS_HARK_RESPONSES_FORMAT_H_
#define HARK_CLIENTS_HARK_RESPONSES_FORMAT_H_

// Output of `hark responses ...`, `hark prompts answer|interview` and
// `hark users delete`: the list table, one response with its context, the
// CSV columns of an export.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "hark/v1/admin.pb.h"
#include "hark/v1/prompts.pb.h"
#include "hark/v1/review.pb.h"

namespace hark::cli {

// The primary tag of a response, else nullptr.
const hark::v1::FrictionTag* PrimaryTag(const hark::v1::Response& response);

// The value of an answer as text: "7", "billing", "docs,chat" (choice ids
// joined by commas), or the free text as it is; "" when unset.
std::string AnswerValue(const hark::v1::Answer& answer);

// The first score (RATING, NPS, CES) among the answers, as harkd's score
// filter reads it; "" when there is none.
std::string ResponseScore(const hark::v1::Response& response);

// The free text of a response: its text answers, then the interview notes,
// joined by "\n".
std::string ResponseText(const hark::v1::Response& response);

// The table of `hark responses list`, in the given order (harkd's: newest
// first), ending in a newline:
//   ID                  SUBMITTED (UTC)   USER  RULE             FRICTION SCORE
//   TEXT r_00c0ffee00c0ffee  2026-11-22 10:35  u-42  repeated_errors  pricing
//   (choice)      2  The export…
// FRICTION is the primary tag and its source. TEXT is the free text on one
// line (line breaks as blanks), else the answers ("ease=3 cause=billing"),
// else an interview's status; it is cut with "…" so that lines fit `width`
// columns (it keeps at least 20). USER and RULE are cut at 14 and 24
// columns; SCORE is left out when no response has one. "no responses
// match\n" when empty.
std::string FormatResponseTable(absl::Span<const hark::v1::Response> responses,
                                size_t width);

// The line after a page that has a next one:
//   more: add --page-token r118 for the next page, or --all for every page
std::string NextPageHint(absl::string_view next_page_token);

// `hark responses show ID`: the response and its context, ending in a
// newline. Ids, user, rule, survey or interview, times, interview status
// and notes; the answers (question id and value, free text indented over
// several lines; under the question's text, with choice labels and the
// score's scale, when harkd sent the prompt as rendered); the current tags,
// primary first, with source and confidence;
// the tag history, oldest first, with who, when and why; the match: when,
// the events that triggered it (time, name, properties) and the user's
// traits at that time.
std::string FormatResponse(const hark::v1::Response& response);

// `hark responses tag`: "response R is now tagged pricing (manual, by
// alice); 3 entries in its tag history\n".
std::string FormatTagResult(const hark::v1::Response& response);

// The CSV columns of `hark responses export`, and one response's fields in
// that order: response_id, submitted_at (RFC 3339, UTC, whole seconds),
// user_id, rule_id, definition_id, kind, friction, friction_source,
// confidence, secondary_frictions (the other tags' types, each once,
// ';'-joined), manually_tagged_by, score, answers
// (question_id=value joined by "; "), text (ResponseText), interview_status,
// matched_at (as submitted_at), traits (key=value joined by "; ", sorted by
// key, strings without quotes).
std::vector<std::string> ResponseCsvHeader();
std::vector<std::string> ResponseCsvFields(const hark::v1::Response& response);

// `hark prompts answer`: "response r_x stored for prompt p-1; friction:
// pricing\n".
std::string FormatSubmitResult(
    absl::string_view prompt_id,
    const hark::v1::SubmitResponseResponse& response);

// `hark prompts interview`: "interview p-2: booked (response r_x)\n".
std::string FormatInterviewResult(
    absl::string_view prompt_id, absl::string_view status,
    const hark::v1::RecordInterviewResponse& response);

// `hark users delete`: the rows removed by table (largest first, zero rows
// left out), the total, and that reported aggregates are not rewritten.
std::string FormatDeleteUserResult(
    absl::string_view user_id, const hark::v1::DeleteUserResponse& response);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_RESPONSES_FORMAT_H_
