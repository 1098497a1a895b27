#ifndef HARK_BENCH_REVIEW_SEED_H_
#define HARK_BENCH_REVIEW_SEED_H_

// The database of `hark-bench review`: responses to the shipped rules
// (rules/triggers.yaml) with their matches, decisions, prompts and friction
// tags, plus matches of users who did not answer and outcome events,
// written straight through the Store API (server/store/store.h). See
// SeedReviewDatabase().

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hark::bench {

struct ReviewSeedOptions {
  // Responses to store, and the users they come from.
  size_t responses = 1000000;
  size_t users = 200000;
  uint64_t seed = 1;
  // The newest response is submitted shortly before `end`; the oldest
  // about 26 weeks earlier.
  absl::Time end;
  // Called now and then with a line of progress (no newline).
  std::function<void(const std::string&)> progress;
};

struct ReviewSeedResult {
  size_t users = 0;
  size_t matches = 0;
  size_t decisions = 0;
  size_t prompts = 0;
  size_t responses = 0;
  // Responses with a secondary tag, and with a manual tag.
  size_t secondary_tagged = 0;
  size_t manual_tags = 0;
  size_t outcome_events = 0;
  double seconds = 0;
};

// Seeds the SQLite database at `path` (created if missing) through the
// Store API:
// - `users` users (the users table), each with traits plan (free 55 %,
//   pro 35 %, team 10 %) and country, carried by their matches' contexts
//   only: no trait rows, so that harkd's replay of the log at start finds
//   no paid plan and matches nothing;
// - one match (a serialized hark.v1.Match with 1-3 matched events and the
//   traits), one sent decision and one prompt per response, over the four
//   shipped rules (AppendMatches / AppendDecisions in batches); prompts
//   were delivered and mostly shown before the answer;
// - the responses (InsertResponse, one call each; the prompt becomes
//   answered), submitted over 26 weeks in order: the shipped surveys'
//   answers (choice, score, an optional free text from ~50 sentences) or
//   the pricing interview's status and notes; tags as the tagger gives
//   them (choice, else text, else the rule's hypothesis), a secondary text
//   tag when the text says another friction type; 1 % re-tagged by hand
//   (AddManualTag);
// - 20 % more matches without a response: suppressed decisions, or sent
//   ones whose prompt expired or was dismissed (no prompt is left open, so
//   harkd has nothing to feed or expire);
// - one subscription_cancelled event for 8 % of the users (Store::Write),
//   the report's outcome linkage.
absl::StatusOr<ReviewSeedResult> SeedReviewDatabase(
    const std::string& path, const ReviewSeedOptions& options);

}  // namespace hark::bench

#endif  // HARK_BENCH_REVIEW_SEED_H_
