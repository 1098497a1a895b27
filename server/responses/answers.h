#ifndef HARK_SERVER_RESPONSES_ANSWERS_H_
#define HARK_SERVER_RESPONSES_ANSWERS_H_

// Checks answers against the questions of the prompt they answer (DESIGN.md,
// "Responses and friction"). Pure.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "hark/v1/prompts.pb.h"

namespace hark::responses {

// The longest free-text answer, in bytes.
inline constexpr size_t kMaxTextBytes = 4096;

// OK if `answers` fit the questions of `prompt`: every question id known and
// answered at most once, the value of the question's type (score for
// RATING 1-5, NPS 0-10, CES 1-7; one known choice id for SINGLE_CHOICE;
// distinct known choice ids for MULTI_CHOICE; text of at most 4 KiB for
// TEXT), every required question answered. Otherwise INVALID_ARGUMENT
// listing every problem, each naming its question ("answers[1]
// (question "score"): ...").
absl::Status ValidateAnswers(const hark::v1::Prompt& prompt,
                             absl::Span<const hark::v1::Answer> answers);

// True if both hold the same answers, in any order of questions (choice
// lists compare as sets).
bool SameAnswers(absl::Span<const hark::v1::Answer> a,
                 absl::Span<const hark::v1::Answer> b);

// The first score answer (RATING, NPS, CES), if any.
std::optional<int> FirstScore(absl::Span<const hark::v1::Answer> answers);

// The free-text answers joined by "\n".
std::string JoinedText(absl::Span<const hark::v1::Answer> answers);

}  // namespace hark::responses

#endif  // HARK_SERVER_RESPONSES_ANSWERS_H_
