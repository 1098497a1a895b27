#include "server/responses/responses.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "hark/proto_time.h"
#include "hark/status_macros.h"
#include "server/responses/answers.h"

namespace hark::responses {
namespace {

using hark::v1::Prompt;
using hark::v1::RecordInterviewRequest;
using store::PromptState;

constexpr absl::string_view kFrictionTypes[] = {"product", "process", "pricing",
                                                "perception"};
constexpr absl::string_view kSources[] = {"choice", "text", "hypothesis",
                                          "manual"};

bool OneOf(absl::string_view value, absl::Span<const absl::string_view> set) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

// Answers as a contiguous list (a repeated field is not one).
std::vector<hark::v1::Answer> ToVector(
    const google::protobuf::RepeatedPtrField<hark::v1::Answer>& answers) {
  return {answers.begin(), answers.end()};
}

constexpr PromptState kOpenStates[] = {
    PromptState::kPending, PromptState::kDelivered, PromptState::kShown};

// FAILED_PRECONDITION when `stored` cannot take an answer at `now` (closed,
// not due yet, past its expiry), with the reason.
absl::Status CheckOpen(const store::PromptRecord& stored, absl::Time now) {
  const auto at = [](std::optional<absl::Time> t) {
    return t.has_value() ? absl::StrCat(" at ", absl::FormatTime(*t)) : "";
  };
  switch (stored.state) {
    case PromptState::kDismissed:
      return absl::FailedPreconditionError(absl::StrCat(
          "prompt ", stored.prompt_id, " was dismissed", at(stored.closed_at),
          "; a dismissed prompt takes no answers"));
    case PromptState::kExpired:
      return absl::FailedPreconditionError(absl::StrCat(
          "prompt ", stored.prompt_id, " expired", at(stored.closed_at),
          "; an expired prompt takes no answers"));
    default:
      break;
  }
  if (now >= stored.expires_at) {
    return absl::FailedPreconditionError(
        absl::StrCat("prompt ", stored.prompt_id, " expired at ",
                     absl::FormatTime(stored.expires_at),
                     "; an expired prompt takes no answers"));
  }
  if (now < stored.due_at) {
    return absl::FailedPreconditionError(absl::StrCat(
        "prompt ", stored.prompt_id, " is not due until ",
        absl::FormatTime(stored.due_at),
        "; it cannot have been shown, so it takes no answers yet"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Prompt> ParsePrompt(const store::PromptRecord& stored) {
  Prompt prompt;
  if (!prompt.ParseFromString(stored.body)) {
    return absl::DataLossError(
        absl::StrCat("prompt ", stored.prompt_id, " has an unreadable body"));
  }
  prompt.set_state(static_cast<Prompt::State>(stored.state));
  return prompt;
}

store::TagRecord ToTagRecord(const friction::Tag& tag, absl::Time at) {
  store::TagRecord out;
  out.friction = tag.friction;
  out.source = tag.source;
  out.confidence = tag.confidence;
  out.primary = tag.primary;
  out.tagged_at = at;
  return out;
}

void ToTagProto(const store::TagRecord& tag, hark::v1::FrictionTag* out) {
  out->set_friction(tag.friction);
  out->set_source(tag.source);
  out->set_confidence(tag.confidence);
  out->set_primary(tag.primary);
  out->set_tagged_by(tag.tagged_by);
  out->set_note(tag.note);
  SetTimestamp(tag.tagged_at, out->mutable_tagged_at());
}

absl::string_view PrimaryFriction(const store::ResponseRecord& record) {
  for (const store::TagRecord& t : record.tags) {
    if (t.primary) return t.friction;
  }
  return "unknown";
}

// Which interview status may follow which.
bool InterviewMoveAllowed(absl::string_view from, absl::string_view to) {
  if (from == to) return true;
  if (from == "accepted") {
    return to == "booked" || to == "declined" || to == "completed" ||
           to == "no_show";
  }
  if (from == "booked") {
    return to == "completed" || to == "no_show" || to == "declined";
  }
  if (from == "no_show") return to == "booked";
  return false;  // declined and completed are final
}

// "r<seq>": the seq of the last response of the previous page.
std::string PageToken(int64_t seq) { return absl::StrCat("r", seq); }

absl::StatusOr<int64_t> ParsePageToken(absl::string_view token) {
  int64_t seq = 0;
  if (!absl::ConsumePrefix(&token, "r") || !absl::SimpleAtoi(token, &seq) ||
      seq <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token: \"", token,
        "\" is not a token ListResponses returned; pass next_page_token "
        "as it came, or nothing for the first page"));
  }
  return seq;
}

}  // namespace

std::string ResponseIdForPrompt(const Prompt& prompt) {
  return absl::StrCat("r_", prompt.match_id());
}

absl::string_view InterviewStatusName(RecordInterviewRequest::Status status) {
  switch (status) {
    case RecordInterviewRequest::ACCEPTED:
      return "accepted";
    case RecordInterviewRequest::DECLINED:
      return "declined";
    case RecordInterviewRequest::BOOKED:
      return "booked";
    case RecordInterviewRequest::COMPLETED:
      return "completed";
    case RecordInterviewRequest::NO_SHOW:
      return "no_show";
    default:
      return "";
  }
}

absl::StatusOr<store::ResponseQuery> ToQuery(
    const hark::v1::ResponseFilter& filter) {
  store::ResponseQuery q;
  if (!filter.friction().empty()) {
    if (!OneOf(filter.friction(), kFrictionTypes) &&
        filter.friction() != "unknown") {
      return absl::InvalidArgumentError(absl::StrCat(
          "filter.friction: \"", filter.friction(),
          "\" is not a friction type (product, process, pricing, perception, "
          "unknown)"));
    }
    q.friction = filter.friction();
  } else if (filter.any_tag()) {
    return absl::InvalidArgumentError(
        "filter.any_tag: set without filter.friction; name the friction type "
        "any of whose tags should match");
  }
  q.any_tag = filter.any_tag();
  if (!filter.source().empty() && !OneOf(filter.source(), kSources)) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter.source: \"", filter.source(),
                     "\" is not a tag source (choice, text, hypothesis, "
                     "manual)"));
  }
  q.source = filter.source();
  q.rule_id = filter.rule_id();
  q.definition_id = filter.definition_id();
  if (filter.has_from()) q.from = FromTimestamp(filter.from());
  if (filter.has_to()) q.to = FromTimestamp(filter.to());
  if (q.from && q.to && *q.from > *q.to) {
    return absl::InvalidArgumentError(
        "filter.from: after filter.to; the time range is empty");
  }
  if (!filter.trait().empty()) {
    const size_t eq = filter.trait().find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.trait: \"", filter.trait(),
                       "\" is not key=value (for example plan=pro)"));
    }
    q.trait_key = filter.trait().substr(0, eq);
    q.trait_value = filter.trait().substr(eq + 1);
  }
  if (filter.min_score() != 0 || filter.max_score() != 0) {
    if (filter.min_score() > filter.max_score()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter.min_score: ", filter.min_score(),
                       " is above filter.max_score ", filter.max_score()));
    }
    q.min_score = filter.min_score();
    q.max_score = filter.max_score();
  }
  q.text_contains = filter.text_contains();
  return q;
}

Responses::Responses(store::Store* store, const Clock* clock,
                     std::shared_ptr<const rules::RuleSet> rules)
    : store_(store), clock_(clock) {
  SetRules(std::move(rules));
}

void Responses::SetRules(std::shared_ptr<const rules::RuleSet> rules) {
  auto tagger = std::make_shared<const friction::Tagger>(
      rules ? rules->taxonomy() : nullptr);
  absl::MutexLock lock(&mu_);
  serving_ = Serving{std::move(rules), std::move(tagger)};
}

Responses::Serving Responses::serving() const {
  absl::MutexLock lock(&mu_);
  return serving_;
}

void Responses::TagRecord(const Serving& serving, const Prompt& prompt,
                          const hark::v1::Response& response,
                          absl::string_view notes,
                          store::ResponseRecord* record) const {
  friction::TagInput input;
  if (serving.rules && prompt.kind() == Prompt::SURVEY) {
    input.survey = serving.rules->FindSurvey(prompt.definition_id());
  }
  const std::vector<hark::v1::Answer> answers = ToVector(response.answers());
  input.answers = answers;
  input.notes = notes;
  input.hypothesis = record->hypothesis;
  const absl::Time now = clock_->Now();
  record->tags.clear();
  for (const friction::Tag& tag : serving.tagger->TagResponse(input)) {
    record->tags.push_back(ToTagRecord(tag, now));
  }
}

absl::StatusOr<store::ResponseRecord> Responses::NewRecord(
    const Prompt& prompt, const store::PromptRecord& stored,
    const Serving& serving, absl::Time now) {
  store::ResponseRecord r;
  r.response_id = ResponseIdForPrompt(prompt);
  r.prompt_id = stored.prompt_id;
  r.match_id = stored.match_id;
  r.user_id = stored.user_id;
  r.rule_id = stored.rule_id;
  r.definition_id = stored.definition_id;
  r.kind = stored.kind;
  r.submitted_at = now;
  r.updated_at = now;
  if (serving.rules) {
    if (const rules::Rule* rule = serving.rules->Find(stored.rule_id)) {
      r.hypothesis = rule->friction_hypothesis;
    }
  }
  ASSIGN_OR_RETURN(store::MatchRecord match, store_->GetMatch(stored.match_id));
  r.rule_version = match.rule_version;
  hark::v1::Match context;
  if (!context.ParseFromString(match.context)) {
    return absl::DataLossError(
        absl::StrCat("match ", match.match_id, " has an unreadable context"));
  }
  std::vector<std::pair<std::string, std::string>> traits;
  for (const auto& [key, value] : context.traits()) {
    std::string shown;
    if (rules::FormatValue(value, &shown)) traits.emplace_back(key, shown);
  }
  std::sort(traits.begin(), traits.end());
  r.traits = std::move(traits);
  // The body starts with the match context; callers add the answers.
  hark::v1::Response body;
  *body.mutable_match() = std::move(context);
  *body.mutable_prompt() = prompt;
  body.mutable_prompt()->set_state(Prompt::ANSWERED);
  body.mutable_prompt()->clear_cursor();
  body.SerializeToString(&r.body);
  return r;
}

absl::StatusOr<hark::v1::SubmitResponseResponse> Responses::Submit(
    const hark::v1::SubmitResponseRequest& request) {
  if (request.prompt_id().empty()) {
    return absl::InvalidArgumentError(
        "prompt_id: required (the prompt_id of the prompt answered)");
  }
  ASSIGN_OR_RETURN(store::PromptRecord stored,
                   store_->GetPrompt(request.prompt_id()));
  ASSIGN_OR_RETURN(Prompt prompt, ParsePrompt(stored));
  if (prompt.kind() != Prompt::SURVEY) {
    return absl::FailedPreconditionError(
        absl::StrCat("prompt ", stored.prompt_id,
                     " is an interview invitation; record its outcome with "
                     "RecordInterview"));
  }
  const std::vector<hark::v1::Answer> answers = ToVector(request.answers());
  RETURN_IF_ERROR(ValidateAnswers(prompt, answers));

  // The same answers again (a retry) get the stored response back.
  const auto existing =
      [&]() -> absl::StatusOr<hark::v1::SubmitResponseResponse> {
    ASSIGN_OR_RETURN(store::ResponseRecord old,
                     store_->GetResponseByPrompt(stored.prompt_id));
    hark::v1::Response body;
    body.ParseFromString(old.body);
    if (!SameAnswers(answers, ToVector(body.answers()))) {
      return absl::FailedPreconditionError(
          absl::StrCat("prompt ", stored.prompt_id, " was already answered at ",
                       absl::FormatTime(old.submitted_at),
                       " with different answers; a prompt takes one response"));
    }
    hark::v1::SubmitResponseResponse out;
    out.set_response_id(old.response_id);
    out.set_friction(std::string(PrimaryFriction(old)));
    return out;
  };
  if (stored.state == PromptState::kAnswered) return existing();

  const absl::Time now = clock_->Now();
  RETURN_IF_ERROR(CheckOpen(stored, now));
  const Serving serving = this->serving();
  ASSIGN_OR_RETURN(store::ResponseRecord record,
                   NewRecord(prompt, stored, serving, now));
  hark::v1::Response body;
  body.ParseFromString(record.body);
  *body.mutable_answers() = request.answers();
  record.score = FirstScore(answers);
  record.text = JoinedText(answers);
  TagRecord(serving, prompt, body, "", &record);
  body.SerializeToString(&record.body);

  absl::StatusOr<store::ResponseRecord> inserted =
      store_->InsertResponse(record, kOpenStates);
  if (absl::IsAlreadyExists(inserted.status())) return existing();
  if (absl::IsFailedPrecondition(inserted.status())) {
    // The prompt closed since it was read (dismissed, expired, or answered
    // by a concurrent call): report it as it is now.
    ASSIGN_OR_RETURN(stored, store_->GetPrompt(request.prompt_id()));
    if (stored.state == PromptState::kAnswered) return existing();
    RETURN_IF_ERROR(CheckOpen(stored, now));
    return inserted.status();
  }
  RETURN_IF_ERROR(inserted.status());
  hark::v1::SubmitResponseResponse out;
  out.set_response_id(inserted->response_id);
  out.set_friction(std::string(PrimaryFriction(*inserted)));
  return out;
}

absl::StatusOr<hark::v1::RecordInterviewResponse> Responses::RecordInterview(
    const hark::v1::RecordInterviewRequest& request) {
  if (request.prompt_id().empty()) {
    return absl::InvalidArgumentError(
        "prompt_id: required (the prompt_id of the interview invitation)");
  }
  const absl::string_view status = InterviewStatusName(request.status());
  if (status.empty()) {
    return absl::InvalidArgumentError(
        "status: required (ACCEPTED, DECLINED, BOOKED, COMPLETED or "
        "NO_SHOW)");
  }
  if (request.notes().size() > kMaxNotesBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("notes: ", request.notes().size(), " bytes; at most ",
                     kMaxNotesBytes, " (16 KiB) are kept"));
  }
  ASSIGN_OR_RETURN(store::PromptRecord stored,
                   store_->GetPrompt(request.prompt_id()));
  ASSIGN_OR_RETURN(Prompt prompt, ParsePrompt(stored));
  if (prompt.kind() != Prompt::INTERVIEW) {
    return absl::FailedPreconditionError(
        absl::StrCat("prompt ", stored.prompt_id,
                     " is a survey; submit its answers with SubmitResponse"));
  }
  const Serving serving = this->serving();
  const absl::Time now = clock_->Now();
  // Notes are tagged once the interview took place.
  const absl::string_view tagged_notes =
      status == "completed" ? absl::string_view(request.notes()) : "";
  const auto with_status = [&](const std::string& old_body) {
    hark::v1::Response body;
    body.ParseFromString(old_body);
    body.set_interview_status(std::string(status));
    body.set_interview_notes(request.notes());
    return body;
  };

  if (stored.state != PromptState::kAnswered) {
    RETURN_IF_ERROR(CheckOpen(stored, now));
    ASSIGN_OR_RETURN(store::ResponseRecord record,
                     NewRecord(prompt, stored, serving, now));
    const hark::v1::Response body = with_status(record.body);
    record.interview_status = std::string(status);
    record.text = request.notes();
    TagRecord(serving, prompt, body, tagged_notes, &record);
    body.SerializeToString(&record.body);
    absl::StatusOr<store::ResponseRecord> inserted =
        store_->InsertResponse(record, kOpenStates);
    if (inserted.ok()) {
      hark::v1::RecordInterviewResponse out;
      out.set_response_id(inserted->response_id);
      return out;
    }
    if (!absl::IsAlreadyExists(inserted.status())) {
      if (absl::IsFailedPrecondition(inserted.status())) {
        ASSIGN_OR_RETURN(stored, store_->GetPrompt(request.prompt_id()));
        RETURN_IF_ERROR(CheckOpen(stored, now));
      }
      return inserted.status();
    }
    // Recorded by a concurrent call: continue as a later status.
  }
  ASSIGN_OR_RETURN(store::ResponseRecord record,
                   store_->GetResponseByPrompt(stored.prompt_id));
  if (!InterviewMoveAllowed(record.interview_status, status)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the interview of prompt ", stored.prompt_id, " is ",
        record.interview_status, "; it cannot become ", status,
        " (accepted → booked → completed or no_show; declined and completed "
        "are final)"));
  }
  record.interview_status = std::string(status);
  record.text = request.notes();
  record.updated_at = now;
  const hark::v1::Response body = with_status(record.body);
  TagRecord(serving, prompt, body, tagged_notes, &record);
  body.SerializeToString(&record.body);
  ASSIGN_OR_RETURN(record, store_->UpdateResponse(record));
  hark::v1::RecordInterviewResponse out;
  out.set_response_id(record.response_id);
  return out;
}

absl::StatusOr<hark::v1::Response> Responses::ToProto(
    const store::ResponseRecord& record) const {
  hark::v1::Response out;
  if (!out.ParseFromString(record.body)) {
    return absl::DataLossError(absl::StrCat("response ", record.response_id,
                                            " has an unreadable body"));
  }
  out.set_response_id(record.response_id);
  out.set_prompt_id(record.prompt_id);
  out.set_user_id(record.user_id);
  out.set_rule_id(record.rule_id);
  out.set_definition_id(record.definition_id);
  out.set_kind(static_cast<Prompt::Kind>(record.kind));
  SetTimestamp(record.submitted_at, out.mutable_submitted_at());
  SetTimestamp(record.updated_at, out.mutable_updated_at());
  out.clear_tags();
  for (const store::TagRecord& t : record.tags) ToTagProto(t, out.add_tags());
  out.clear_tag_history();
  for (const store::TagRecord& t : record.tag_history) {
    ToTagProto(t, out.add_tag_history());
  }
  return out;
}

absl::StatusOr<hark::v1::ListResponsesResponse> Responses::List(
    const hark::v1::ListResponsesRequest& request) {
  ASSIGN_OR_RETURN(store::ResponseQuery query, ToQuery(request.filter()));
  const uint32_t page_size = request.page_size() == 0
                                 ? kDefaultPageSize
                                 : std::min(request.page_size(), kMaxPageSize);
  int64_t before = 0;
  if (!request.page_token().empty()) {
    ASSIGN_OR_RETURN(before, ParsePageToken(request.page_token()));
  }
  ASSIGN_OR_RETURN(std::vector<store::ResponseRecord> records,
                   store_->ListResponses(query, before, page_size + 1));
  hark::v1::ListResponsesResponse out;
  const bool more = records.size() > page_size;
  if (more) records.resize(page_size);
  for (const store::ResponseRecord& r : records) {
    ASSIGN_OR_RETURN(*out.add_responses(), ToProto(r));
  }
  if (more) out.set_next_page_token(PageToken(records.back().seq));
  return out;
}

absl::StatusOr<hark::v1::Response> Responses::Get(
    absl::string_view response_id) {
  if (response_id.empty()) {
    return absl::InvalidArgumentError("response_id: required");
  }
  ASSIGN_OR_RETURN(store::ResponseRecord record,
                   store_->GetResponse(response_id));
  return ToProto(record);
}

absl::StatusOr<hark::v1::Response> Responses::Tag(
    const hark::v1::TagResponseRequest& request, absl::string_view tagged_by) {
  if (request.response_id().empty()) {
    return absl::InvalidArgumentError("response_id: required");
  }
  if (!OneOf(request.friction(), kFrictionTypes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "friction: \"", request.friction(),
        "\" is not a friction type; use product, process, pricing or "
        "perception"));
  }
  if (request.note().size() > kMaxTextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("note: ", request.note().size(), " bytes; at most ",
                     kMaxTextBytes, " (4 KiB)"));
  }
  store::TagRecord tag;
  tag.friction = request.friction();
  tag.source = "manual";
  tag.confidence = 1.0;
  tag.primary = true;
  tag.tagged_by = std::string(tagged_by);
  tag.note = request.note();
  tag.tagged_at = clock_->Now();
  ASSIGN_OR_RETURN(store::ResponseRecord record,
                   store_->AddManualTag(request.response_id(), tag));
  return ToProto(record);
}

}  // namespace hark::responses
