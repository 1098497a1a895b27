#ifndef HARK_CLIENTS_HARK_REVIEW_ARGS_H_
#define HARK_CLIENTS_HARK_REVIEW_ARGS_H_

// Command-line arguments of the review commands (`hark responses ...`,
// `hark report`) and of `hark prompts answer|interview`: filters into a
// hark.v1.ResponseFilter, answer options into hark.v1.Answer messages.
// Errors are INVALID_ARGUMENT with a message that names the option as typed,
// for the CLI to print as a usage error.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "google/protobuf/timestamp.pb.h"
#include "hark/v1/prompts.pb.h"
#include "hark/v1/review.pb.h"

namespace hark::cli {

// One option as given: its name without the leading dashes ("friction")
// and its value ("" for a flag such as --any-tag).
struct OptionArg {
  std::string name;
  std::string value;
};

// The time of --from and --to: an RFC 3339 time ("2026-11-01T09:30:00Z"),
// a date ("2026-11-01", midnight UTC), or a time before `now` written as a
// number and a unit: "30m", "12h", "7d", "2w" (also "1h30m"; "0s" is now).
// INVALID_ARGUMENT otherwise.
absl::StatusOr<google::protobuf::Timestamp> ParseFilterTime(
    absl::string_view text, absl::Time now);

// The filter named by the options among `options`; other options are left
// alone. The filter options, each at most once:
//   friction TYPE     primary friction type (any tag with any-tag)
//   any-tag           flag
//   source SOURCE     choice, text, hypothesis or manual
//   rule RULE         rule_id
//   survey ID         definition_id (a survey or interview id)
//   from TIME, to TIME  see ParseFilterTime; from must not be after to
//   trait KEY=VALUE   e.g. plan=pro
//   score MIN-MAX     inclusive, or a single N; 0..10, not "0" alone (the
//                     API reads 0-0 as no filter)
//   text SUBSTRING    case-insensitive substring of the free text
// friction, source and any-tag are checked here too (known names, any-tag
// needs friction), so that a typo fails before any call.
absl::StatusOr<hark::v1::ResponseFilter> ParseResponseFilter(
    absl::Span<const OptionArg> options, absl::Time now);

// The answers of `hark prompts answer`, in the order given, from the
// options score Q=N (any integer: harkd checks the range of the question),
// choice Q=ID, choices Q=ID,ID,... and text Q=TEXT (TEXT may hold anything,
// '=' and newlines included); other options are left alone. A question
// answered twice, an empty question id, a score that is not an integer or
// an empty choice id is INVALID_ARGUMENT.
absl::StatusOr<std::vector<hark::v1::Answer>> ParseAnswerArgs(
    absl::Span<const OptionArg> options);

// OK for a friction type a response can be tagged with by hand: product,
// process, pricing or perception; INVALID_ARGUMENT naming them otherwise.
absl::Status CheckTagFriction(absl::string_view type);

// accepted, declined, booked, completed or no_show.
absl::StatusOr<hark::v1::RecordInterviewRequest::Status> ParseInterviewStatus(
    absl::string_view text);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_REVIEW_ARGS_H_
