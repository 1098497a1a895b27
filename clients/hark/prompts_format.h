#ifndef HARK_CLIENTS_HARK_PROMPTS_FORMAT_H_
#define HARK_CLIENTS_HARK_PROMPTS_FORMAT_H_

// Output of `hark explain` and `hark prompts ...`.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "hark/v1/admin.pb.h"
#include "hark/v1/prompts.pb.h"

namespace hark::cli {

// A time in UTC as a person reads it: "2026-11-22 10:31:05" (no zone, no
// fractional seconds); "-" for an unset timestamp.
std::string FormatUtcTime(const google::protobuf::Timestamp& t);

// The message as one line of JSON with the proto field names (what
// `--format json` prints per object, as `hark matches` does).
absl::StatusOr<std::string> JsonLine(const google::protobuf::Message& message);

// The timeline of `hark explain USER`, ending in a newline:
//   Timeline of u-42 (3 entries, UTC)
//   2026-11-22 10:31:05  event     error code="E4012"
//   2026-11-22 10:31:05  match     rule repeated_errors matched
//   2026-11-22 10:31:06  decision  rule repeated_errors: sent survey ...
// When there are no entries, one line that says so and what to check.
std::string FormatTimeline(absl::string_view user_id,
                           absl::Span<const hark::v1::TimelineEntry> entries);

// "survey", "interview"; "unknown kind (N)" otherwise.
std::string PromptKindName(hark::v1::Prompt::Kind kind);

// "pending", "delivered", "shown", "answered", "dismissed", "expired";
// "unknown state (N)" otherwise.
std::string PromptStateName(hark::v1::Prompt::State state);

// "rating 1-5", "nps 0-10", "ces 1-7", "single choice", "multi choice",
// "text"; "unknown type (N)" otherwise.
std::string QuestionTypeName(hark::v1::Question::Type type);

// One prompt as a block ending in a newline:
//   survey p-1  (delivered, priority 5)
//     rule        onboarding_abandonment
//     definition  onboarding_feedback
//     match       m-17
//     title       What stopped you from finishing the setup?
//     due         2026-11-22 10:31:05 UTC
//     expires     2026-11-29 10:31:05 UTC
//     questions
//       1. ease  rating 1-5, required
//          How easy was the setup?
//       2. blocker  single choice
//          What got in the way?
//            - docs     The documentation
//            - billing  Billing
// Interviews show booking, incentive and duration instead of questions.
// Empty fields are left out.
std::string FormatPrompt(const hark::v1::Prompt& prompt);

// What `hark prompts USER` prints: a count line, then each prompt's block,
// separated by blank lines; a line that says so when there are none.
std::string FormatPrompts(absl::string_view user_id,
                          absl::Span<const hark::v1::Prompt> prompts);

// The header and one line per prompt of `hark prompts watch`, ending in a
// newline. Columns have fixed minimum widths (the stream's rows are not
// known in advance); a longer value pushes the rest of its line right.
//   DUE                  CURSOR        USER          KIND       RULE ...
//   2026-11-22 10:31:05  c-17          u-42          survey     ...
std::string PromptWatchHeader();
std::string FormatPromptWatchLine(const hark::v1::Prompt& prompt);

// The result of `hark prompts shown|dismissed`: "prompt p-1 is now shown".
std::string FormatPromptEventResult(
    absl::string_view prompt_id,
    const hark::v1::RecordPromptEventResponse& response);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_PROMPTS_FORMAT_H_
