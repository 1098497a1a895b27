#ifndef HARK_SERVER_RESPONSES_RESPONSES_H_
#define HARK_SERVER_RESPONSES_RESPONSES_H_

// Responses, friction tags and the review API's core (DESIGN.md, "Responses
// and friction"): takes answers to prompts and interview outcomes, tags them
// by friction type, serves them to reviewers with filters, pages, manual
// re-tagging, a report and an export. Thread-safe; no gRPC types.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "hark/clock.h"
#include "hark/v1/prompts.pb.h"
#include "hark/v1/review.pb.h"
#include "server/friction/tagger.h"
#include "server/rules/rule_set.h"
#include "server/store/store.h"

namespace hark::responses {

// Page sizes of ListResponses.
inline constexpr uint32_t kDefaultPageSize = 50;
inline constexpr uint32_t kMaxPageSize = 1000;
// Interview notes, in bytes.
inline constexpr size_t kMaxNotesBytes = 16384;
// Report defaults.
inline constexpr absl::string_view kDefaultOutcomeEvent =
    "subscription_cancelled";
inline constexpr uint32_t kDefaultOutcomeDays = 30;
inline constexpr uint32_t kMaxOutcomeDays = 365;

// The response id of the response to a prompt: "r_" + the prompt's match id.
std::string ResponseIdForPrompt(const hark::v1::Prompt& prompt);

// A review filter as the store takes it. INVALID_ARGUMENT naming the field
// for an unknown friction type or source, a trait without "key=value", a
// score range with min > max, a time range with from > to.
absl::StatusOr<store::ResponseQuery> ToQuery(
    const hark::v1::ResponseFilter& filter);

// "interview status" names: accepted, declined, booked, completed, no_show.
absl::string_view InterviewStatusName(
    hark::v1::RecordInterviewRequest::Status status);

class Responses {
 public:
  // `store` and `clock` must outlive it; `rules` is the serving set.
  Responses(store::Store* store, const Clock* clock,
            std::shared_ptr<const rules::RuleSet> rules);

  // The serving set changed (reload): later tagging uses its surveys,
  // hypotheses and taxonomy.
  void SetRules(std::shared_ptr<const rules::RuleSet> rules);

  // --- Prompts API ---------------------------------------------------------

  // Validates the answers against the prompt's questions, tags them and
  // stores the response; the prompt becomes answered. Resubmitting the same
  // answers returns the stored response; different answers to an answered
  // prompt are FAILED_PRECONDITION, and so are answers to a dismissed or
  // expired prompt, one not due yet, and an interview invitation, each with
  // the reason. NOT_FOUND for an unknown prompt.
  absl::StatusOr<hark::v1::SubmitResponseResponse> Submit(
      const hark::v1::SubmitResponseRequest& request);

  // Records an interview invitation's outcome. The first status creates the
  // response (the prompt becomes answered); later ones move it along
  // accepted → booked → completed | no_show, declined from accepted or
  // booked, booked again after no_show. Repeating the current status is
  // accepted (its notes replace the old ones). Notes of a completed
  // interview are tagged like free text.
  absl::StatusOr<hark::v1::RecordInterviewResponse> RecordInterview(
      const hark::v1::RecordInterviewRequest& request);

  // --- Review API ----------------------------------------------------------

  absl::StatusOr<hark::v1::ListResponsesResponse> List(
      const hark::v1::ListResponsesRequest& request);
  absl::StatusOr<hark::v1::Response> Get(absl::string_view response_id);
  // A manual tag by `tagged_by` (the API key's name).
  absl::StatusOr<hark::v1::Response> Tag(
      const hark::v1::TagResponseRequest& request, absl::string_view tagged_by);
  absl::StatusOr<hark::v1::Report> Report(
      const hark::v1::GetReportRequest& request);

 private:
  struct Serving {
    std::shared_ptr<const rules::RuleSet> rules;
    std::shared_ptr<const friction::Tagger> tagger;
  };
  Serving serving() const;
  absl::StatusOr<hark::v1::Response> ToProto(
      const store::ResponseRecord& record) const;
  // The record of a new response to `prompt` (tags and all but seq).
  absl::StatusOr<store::ResponseRecord> NewRecord(
      const hark::v1::Prompt& prompt, const store::PromptRecord& stored,
      const Serving& serving, absl::Time now);
  // Tags `record` from its answers / notes (body) with the serving set.
  void TagRecord(const Serving& serving, const hark::v1::Prompt& prompt,
                 const hark::v1::Response& response, absl::string_view notes,
                 store::ResponseRecord* record) const;

  store::Store* const store_;
  const Clock* const clock_;
  mutable absl::Mutex mu_;
  Serving serving_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hark::responses

#endif  // HARK_SERVER_RESPONSES_RESPONSES_H_
