#include "server/runtime/orchestrator.h"

#include <openssl/rand.h>

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "hark/proto_time.h"
#include "hark/status_macros.h"
#include "hark/thread_name.h"
#include "hark/v1/rules.pb.h"
#include "server/policy/policy.h"
#include "spdlog/spdlog.h"

namespace hark::runtime {
namespace {

using store::PromptState;

// How many due prompts one feed transaction moves.
constexpr size_t kFeedBatch = 1000;
// Prompts expire this long after they are due unless the action says.
constexpr absl::Duration kDefaultExpires = absl::Hours(24);

policy::ContactPolicy ToPolicy(const rules::ContactPolicy& in) {
  policy::ContactPolicy out;
  out.max_prompts_per_user = in.max_prompts_per_user;
  if (in.per.has_value()) out.per = *in.per;
  out.max_interviews_per_user = in.max_interviews_per_user;
  if (in.interviews_per.has_value()) out.interviews_per = *in.interviews_per;
  if (in.quiet_hours.has_value()) {
    out.quiet_hours = policy::QuietHours{in.quiet_hours->start_minute,
                                         in.quiet_hours->end_minute};
  }
  out.max_staleness = in.max_staleness;
  return out;
}

std::optional<policy::Quota> ToQuota(const std::optional<rules::Quota>& q) {
  if (!q.has_value()) return std::nullopt;
  return policy::Quota{q->max, q->per};
}

int KindNumber(rules::Action::Kind kind) {
  return kind == rules::Action::Kind::kInterview ? hark::v1::Prompt::INTERVIEW
                                                 : hark::v1::Prompt::SURVEY;
}

hark::v1::Question::Type QuestionType(rules::Question::Type type) {
  switch (type) {
    case rules::Question::Type::kRating:
      return hark::v1::Question::RATING;
    case rules::Question::Type::kNps:
      return hark::v1::Question::NPS;
    case rules::Question::Type::kCes:
      return hark::v1::Question::CES;
    case rules::Question::Type::kSingleChoice:
      return hark::v1::Question::SINGLE_CHOICE;
    case rules::Question::Type::kMultiChoice:
      return hark::v1::Question::MULTI_CHOICE;
    case rules::Question::Type::kText:
      return hark::v1::Question::TEXT;
  }
  return hark::v1::Question::TYPE_UNSPECIFIED;
}

// A URL-safe token of 128 random bits for an interview's booking link.
std::string NewToken() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // Only without a secure random source; the token then still
    // identifies the prompt, it is just guessable.
    return "";
  }
  std::string out;
  absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)),
      &out);
  return out;
}

// The prompt a sent decision creates, rendered from the match.
hark::v1::Prompt RenderPrompt(const rules::RuleSet& set,
                              const rules::Rule& rule,
                              const hark::v1::Match& match,
                              const policy::Decision& decision) {
  hark::v1::Prompt prompt;
  prompt.set_prompt_id(PromptIdForMatch(match.match_id()));
  prompt.set_match_id(match.match_id());
  prompt.set_user_id(match.user_id());
  prompt.set_rule_id(rule.id);
  prompt.set_definition_id(rule.action->target);
  prompt.set_priority(rule.priority);
  SetTimestamp(decision.due_at, prompt.mutable_due_at());
  SetTimestamp(decision.expires_at, prompt.mutable_expires_at());
  if (rule.action->kind == rules::Action::Kind::kInterview) {
    prompt.set_kind(hark::v1::Prompt::INTERVIEW);
    if (const rules::Interview* interview =
            set.FindInterview(rule.action->target)) {
      prompt.set_title(rules::RenderTemplate(interview->invitation, match));
      prompt.set_booking_url(rules::RenderBookingUrl(*interview, NewToken()));
      prompt.set_incentive(interview->incentive);
      prompt.set_duration_minutes(
          static_cast<uint32_t>(absl::ToInt64Minutes(interview->duration)));
    }
    return prompt;
  }
  prompt.set_kind(hark::v1::Prompt::SURVEY);
  if (const rules::Survey* survey = set.FindSurvey(rule.action->target)) {
    prompt.set_title(rules::RenderTemplate(survey->title, match));
    for (const rules::Question& q : survey->questions) {
      hark::v1::Question* out = prompt.add_questions();
      out->set_id(q.id);
      out->set_type(QuestionType(q.type));
      out->set_text(rules::RenderTemplate(q.text, match));
      out->set_required(q.required);
      for (const rules::Question::Choice& c : q.choices) {
        hark::v1::Choice* choice = out->add_choices();
        choice->set_id(c.id);
        choice->set_label(c.label);
      }
    }
  }
  return prompt;
}

// Earlier sent decisions, from the store.
class StoreHistory final : public policy::History {
 public:
  explicit StoreHistory(store::Store* store) : store_(store) {}
  absl::StatusOr<int64_t> CountSent(const policy::SentQuery& q) override {
    store::DecisionQuery query;
    query.user_id = q.user_id;
    query.rule_id = q.rule_id;
    query.target = q.target;
    if (q.kind.has_value()) {
      query.kind = *q.kind == policy::Kind::kInterview
                       ? hark::v1::Prompt::INTERVIEW
                       : hark::v1::Prompt::SURVEY;
    }
    query.since = q.since;
    return store_->CountSentDecisions(query);
  }

 private:
  store::Store* store_;
};

constexpr char kCursorPrefix[] = "f";

std::string CursorFor(int64_t feed_seq) {
  return absl::StrCat(kCursorPrefix, feed_seq);
}

bool ParseCursor(absl::string_view cursor, int64_t* feed_seq) {
  if (!absl::ConsumePrefix(&cursor, kCursorPrefix)) return false;
  return absl::SimpleAtoi(cursor, feed_seq) && *feed_seq >= 0;
}

bool IsOpen(PromptState state) {
  return state == PromptState::kPending || state == PromptState::kDelivered ||
         state == PromptState::kShown;
}

}  // namespace

std::string PromptIdForMatch(absl::string_view match_id) {
  return absl::StrCat("p_", match_id);
}

Orchestrator::Orchestrator(store::Store* store, const Clock* clock,
                           std::shared_ptr<const rules::RuleSet> rules,
                           const OrchestratorOptions& options)
    : store_(store),
      clock_(clock),
      options_(options),
      rules_(std::move(rules)) {}

void Orchestrator::SetRules(std::shared_ptr<const rules::RuleSet> rules) {
  absl::MutexLock lock(&mu_);
  rules_ = std::move(rules);
}

std::shared_ptr<const rules::RuleSet> Orchestrator::rules() const {
  absl::MutexLock lock(&mu_);
  return rules_;
}

absl::StatusOr<std::unique_ptr<Orchestrator>> Orchestrator::Start(
    store::Store* store, const Clock* clock,
    std::shared_ptr<const rules::RuleSet> rules,
    const OrchestratorOptions& options) {
  std::unique_ptr<Orchestrator> o(
      new Orchestrator(store, clock, std::move(rules), options));
  ASSIGN_OR_RETURN(std::vector<store::MatchRecord> undecided,
                   store->ListUndecidedMatches(options.recovery_limit));
  ASSIGN_OR_RETURN(o->next_due_, store->NextUnfedDue());
  size_t recovered = undecided.size();
  if (!undecided.empty()) {
    o->OnMatchesStored(std::move(undecided));
    o->RunOnce();
  }
  {
    absl::MutexLock lock(&o->mu_);
    o->stats_.recovered_matches = recovered;
  }
  if (options.start_thread) {
    absl::MutexLock lock(&o->join_mu_);
    o->thread_ = std::thread([p = o.get()] {
      SetThreadName("hark-orchestr");
      p->Loop();
    });
  }
  return o;
}

Orchestrator::~Orchestrator() { Shutdown(); }

void Orchestrator::OnMatchesStored(std::vector<store::MatchRecord> matches) {
  if (matches.empty()) return;
  absl::MutexLock lock(&mu_);
  for (store::MatchRecord& m : matches) inbox_.push_back(std::move(m));
}

void Orchestrator::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

int Orchestrator::Subscribe(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  const int id = next_subscriber_++;
  subscribers_[id] = std::move(fn);
  return id;
}

void Orchestrator::Unsubscribe(int id) {
  absl::MutexLock notify(&notify_mu_);
  absl::MutexLock lock(&mu_);
  subscribers_.erase(id);
}

OrchestratorStats Orchestrator::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Orchestrator::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  absl::MutexLock lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

void Orchestrator::Loop() {
  for (;;) {
    const absl::Time next = RunOnce();
    absl::MutexLock lock(&mu_);
    if (stopping_ && inbox_.empty()) break;
    auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !inbox_.empty() || stopping_ || wake_;
    };
    const absl::Duration wait = std::clamp(
        next - clock_->Now(), absl::ZeroDuration(), options_.idle_wait);
    mu_.AwaitWithTimeout(absl::Condition(&has_work), wait);
    wake_ = false;
  }
  // Whatever arrived last is decided before the thread ends.
  RunOnce();
}

absl::Time Orchestrator::RunOnce() {
  {
    absl::MutexLock lock(&mu_);
    absl::flat_hash_set<std::string> known;
    for (const Pending& p : pending_) known.insert(p.match.match_id);
    const absl::Time arrived = clock_->Now();
    for (store::MatchRecord& m : inbox_) {
      // The same match may come twice (replay after a crash, recovery).
      if (!known.insert(m.match_id).second) continue;
      pending_.push_back(Pending{std::move(m), arrived});
    }
    inbox_.clear();
  }
  absl::Time now = clock_->Now();
  std::shared_ptr<const rules::RuleSet> set = rules();
  const absl::Duration window =
      set ? set->contact_policy().priority_window : absl::ZeroDuration();
  absl::Time next = now + options_.idle_wait;

  if (!pending_.empty()) {
    // A user's matches are decided together once the oldest of them waited
    // the priority window.
    absl::flat_hash_map<std::string, absl::Time> oldest;
    for (const Pending& p : pending_) {
      auto [it, inserted] = oldest.try_emplace(p.match.user_id, p.arrived);
      if (!inserted) it->second = std::min(it->second, p.arrived);
    }
    std::vector<Pending> round;
    std::vector<Pending> waiting;
    for (Pending& p : pending_) {
      const absl::Time ready = oldest[p.match.user_id] + window;
      if (ready <= now) {
        round.push_back(std::move(p));
      } else {
        next = std::min(next, ready);
        waiting.push_back(std::move(p));
      }
    }
    pending_ = std::move(waiting);
    if (!round.empty()) {
      absl::Status decided = DecideRound(round, now);
      if (!decided.ok()) {
        spdlog::error("orchestrator: cannot decide {} matches, will retry: {}",
                      round.size(), decided.ToString());
        for (Pending& p : round) pending_.push_back(std::move(p));
        next = std::min(next, now + absl::Milliseconds(100));
      }
    }
  }

  now = clock_->Now();
  if (next_due_.has_value() && *next_due_ <= now) {
    absl::Status fed = FeedDue(now);
    if (!fed.ok()) {
      spdlog::error("orchestrator: cannot feed due prompts, will retry: {}",
                    fed.ToString());
      next = std::min(next, now + absl::Milliseconds(100));
    }
  }
  if (next_due_.has_value()) next = std::min(next, *next_due_);

  if (now >= next_sweep_) {
    absl::StatusOr<int64_t> expired = store_->ExpirePrompts(now);
    if (expired.ok()) {
      if (*expired > 0) {
        absl::MutexLock lock(&mu_);
        stats_.prompts_expired += *expired;
      }
    } else {
      spdlog::error("orchestrator: cannot expire prompts: {}",
                    expired.status().ToString());
    }
    next_sweep_ = now + options_.expiry_sweep;
  }
  return std::min(next, next_sweep_);
}

absl::Status Orchestrator::DecideRound(const std::vector<Pending>& round,
                                       absl::Time now) {
  std::shared_ptr<const rules::RuleSet> set = rules();
  if (set == nullptr) return absl::OkStatus();
  struct Item {
    const store::MatchRecord* match;
    const rules::Rule* rule;
    hark::v1::Match context;
  };
  std::vector<Item> items;
  std::vector<policy::Candidate> candidates;
  uint64_t without_rule = 0;
  const std::string& tz_trait = set->contact_policy().timezone_trait;
  for (const Pending& p : round) {
    const rules::Rule* rule = set->Find(p.match.rule_id);
    if (rule == nullptr) {
      ++without_rule;
      continue;
    }
    if (!rule->action.has_value()) continue;
    Item& item = items.emplace_back();
    item.match = &p.match;
    item.rule = rule;
    if (!item.context.ParseFromString(p.match.context)) {
      spdlog::warn("orchestrator: match {} has an unreadable context",
                   p.match.match_id);
      item.context.Clear();
      item.context.set_match_id(p.match.match_id);
      item.context.set_rule_id(p.match.rule_id);
      item.context.set_user_id(p.match.user_id);
    }
    policy::Candidate& c = candidates.emplace_back();
    c.match_id = p.match.match_id;
    c.user_id = p.match.user_id;
    c.rule_id = rule->id;
    c.rule_version = rule->version;
    c.moment = p.match.matched_at;
    c.kind = rule->action->kind == rules::Action::Kind::kInterview
                 ? policy::Kind::kInterview
                 : policy::Kind::kSurvey;
    c.target = rule->action->target;
    c.priority = rule->priority;
    c.shadow = rule->shadow;
    c.sample = rule->sample;
    c.cooldown = rule->cooldown;
    c.rule_quota = ToQuota(rule->quota);
    if (c.kind == policy::Kind::kInterview) {
      if (const rules::Interview* interview =
              set->FindInterview(rule->action->target)) {
        c.target_quota = ToQuota(interview->quota);
      }
    }
    c.delay = rule->action->delay;
    c.expires = rule->action->expires.value_or(kDefaultExpires);
    auto tz = item.context.traits().find(tz_trait);
    if (tz != item.context.traits().end() &&
        tz->second.kind_case() == hark::v1::Value::kStringValue) {
      c.time_zone = tz->second.string_value();
    }
  }
  if (without_rule > 0) {
    absl::MutexLock lock(&mu_);
    stats_.matches_without_rule += without_rule;
  }
  if (candidates.empty()) return absl::OkStatus();

  StoreHistory history(store_);
  ASSIGN_OR_RETURN(std::vector<policy::Decision> decisions,
                   policy::Decide(candidates, ToPolicy(set->contact_policy()),
                                  history, now));
  std::vector<store::DecisionRecord> records;
  std::vector<store::PromptRecord> prompts;
  records.reserve(decisions.size());
  for (size_t i = 0; i < decisions.size(); ++i) {
    const policy::Decision& d = decisions[i];
    const Item& item = items[i];
    store::DecisionRecord& r = records.emplace_back();
    r.match_id = item.match->match_id;
    r.user_id = item.match->user_id;
    r.rule_id = item.rule->id;
    r.rule_version = item.rule->version;
    r.kind = KindNumber(item.rule->action->kind);
    r.target = item.rule->action->target;
    r.outcome = std::string(policy::OutcomeName(d.outcome));
    r.reason = d.reason;
    r.matched_at = item.match->matched_at;
    r.decided_at = d.decided_at;
    if (d.outcome != policy::Outcome::kSent) continue;
    hark::v1::Prompt body = RenderPrompt(*set, *item.rule, item.context, d);
    store::PromptRecord& p = prompts.emplace_back();
    p.prompt_id = body.prompt_id();
    p.match_id = r.match_id;
    p.user_id = r.user_id;
    p.kind = r.kind;
    p.rule_id = r.rule_id;
    p.definition_id = r.target;
    p.priority = item.rule->priority;
    p.created_at = now;
    p.due_at = d.due_at;
    p.expires_at = d.expires_at;
    p.state = PromptState::kPending;
    p.body = body.SerializeAsString();
  }
  ASSIGN_OR_RETURN(std::vector<bool> stored,
                   store_->AppendDecisions(records, prompts));
  absl::flat_hash_set<absl::string_view> stored_ids;
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < records.size(); ++i) {
      if (!stored[i]) continue;
      stored_ids.insert(records[i].match_id);
      ++stats_.decisions[records[i].outcome];
      spdlog::debug("decision: match {} rule {} user {}: {} ({})",
                    records[i].match_id, records[i].rule_id, records[i].user_id,
                    records[i].outcome, records[i].reason);
    }
  }
  for (const store::PromptRecord& p : prompts) {
    if (!stored_ids.contains(p.match_id)) continue;
    if (!next_due_.has_value() || p.due_at < *next_due_) next_due_ = p.due_at;
  }
  if (next_due_.has_value() && *next_due_ <= clock_->Now()) {
    return FeedDue(clock_->Now());
  }
  return absl::OkStatus();
}

absl::Status Orchestrator::FeedDue(absl::Time now) {
  uint64_t fed = 0;
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<store::PromptRecord> batch,
                     store_->FeedDuePrompts(now, kFeedBatch));
    fed += batch.size();
    if (batch.size() < kFeedBatch) break;
  }
  ASSIGN_OR_RETURN(next_due_, store_->NextUnfedDue());
  if (fed == 0) return absl::OkStatus();
  absl::MutexLock notify(&notify_mu_);
  std::vector<std::function<void()>> fns;
  {
    absl::MutexLock lock(&mu_);
    stats_.prompts_fed += fed;
    for (const auto& [id, fn] : subscribers_) fns.push_back(fn);
  }
  for (const auto& fn : fns) fn();
  return absl::OkStatus();
}

absl::StatusOr<hark::v1::Prompt> Orchestrator::ToProto(
    const store::PromptRecord& record) {
  hark::v1::Prompt prompt;
  if (!prompt.ParseFromString(record.body)) {
    return absl::DataLossError(
        absl::StrCat("prompt ", record.prompt_id, " has an unreadable body"));
  }
  prompt.set_state(static_cast<hark::v1::Prompt::State>(record.state));
  if (record.feed_seq > 0) prompt.set_cursor(CursorFor(record.feed_seq));
  return prompt;
}

absl::StatusOr<std::vector<hark::v1::Prompt>> Orchestrator::Deliver(
    std::vector<store::PromptRecord>& records, absl::Time now) {
  std::vector<hark::v1::Prompt> out;
  for (store::PromptRecord& r : records) {
    if (r.state == PromptState::kPending) {
      const PromptState from[] = {PromptState::kPending};
      ASSIGN_OR_RETURN(r, store_->UpdatePromptState(
                              r.prompt_id, from, PromptState::kDelivered, now));
    }
    ASSIGN_OR_RETURN(hark::v1::Prompt p, ToProto(r));
    out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<std::vector<hark::v1::Prompt>> Orchestrator::GetPrompts(
    absl::string_view user_id, uint32_t limit) {
  if (user_id.empty()) {
    return absl::InvalidArgumentError(
        "user_id: required (the user whose prompts are wanted)");
  }
  if (limit == 0) limit = 1;
  if (limit > 10) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: ", limit, " is more than 10"));
  }
  const absl::Time now = clock_->Now();
  ASSIGN_OR_RETURN(std::vector<store::PromptRecord> records,
                   store_->ListShowablePrompts(user_id, now, limit));
  return Deliver(records, now);
}

absl::StatusOr<std::string> Orchestrator::FeedEnd() {
  ASSIGN_OR_RETURN(int64_t last, store_->LastFeedSeq());
  return CursorFor(last);
}

absl::StatusOr<std::vector<hark::v1::Prompt>> Orchestrator::ReadFeed(
    absl::string_view after_cursor, size_t limit, absl::Span<const int> kinds,
    std::string* next_cursor) {
  int64_t after = 0;
  if (after_cursor.empty()) {
    ASSIGN_OR_RETURN(after, store_->LastFeedSeq());
  } else if (!ParseCursor(after_cursor, &after)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "after_cursor: `", after_cursor,
        "` is not a cursor of this server; pass the `cursor` of the last "
        "prompt received, or nothing to start from now"));
  }
  ASSIGN_OR_RETURN(std::vector<store::PromptRecord> records,
                   store_->ReadFeed(after, limit));
  std::vector<store::PromptRecord> wanted;
  for (store::PromptRecord& r : records) {
    after = r.feed_seq;
    if (kinds.empty() ||
        std::find(kinds.begin(), kinds.end(), r.kind) != kinds.end()) {
      wanted.push_back(std::move(r));
    }
  }
  ASSIGN_OR_RETURN(std::vector<hark::v1::Prompt> out,
                   Deliver(wanted, clock_->Now()));
  *next_cursor = CursorFor(after);
  return out;
}

absl::StatusOr<hark::v1::Prompt::State> Orchestrator::RecordPromptEvent(
    absl::string_view prompt_id, hark::v1::RecordPromptEventRequest::Type type,
    std::optional<absl::Time> at) {
  if (prompt_id.empty()) {
    return absl::InvalidArgumentError("prompt_id: required");
  }
  PromptState to;
  if (type == hark::v1::RecordPromptEventRequest::SHOWN) {
    to = PromptState::kShown;
  } else if (type == hark::v1::RecordPromptEventRequest::DISMISSED) {
    to = PromptState::kDismissed;
  } else {
    return absl::InvalidArgumentError("type: must be SHOWN or DISMISSED");
  }
  const absl::Time now = clock_->Now();
  const absl::Time when = at.value_or(now);
  // A compare-and-set may lose against a concurrent change; then the new
  // state is judged again. Three rounds are more than any legal sequence
  // of changes needs.
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<store::PromptRecord> record = store_->GetPrompt(prompt_id);
    if (absl::IsNotFound(record.status())) {
      return absl::NotFoundError(
          absl::StrCat("prompt_id: no prompt `", prompt_id, "`"));
    }
    RETURN_IF_ERROR(record.status());
    if (IsOpen(record->state) && record->expires_at <= now) {
      const PromptState open[] = {PromptState::kPending,
                                  PromptState::kDelivered, PromptState::kShown};
      ASSIGN_OR_RETURN(*record, store_->UpdatePromptState(prompt_id, open,
                                                          PromptState::kExpired,
                                                          record->expires_at));
    }
    const PromptState state = record->state;
    if (state == to) return static_cast<hark::v1::Prompt::State>(state);
    if (!IsOpen(state)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "prompt ", prompt_id, " is ", PromptStateName(state),
          (state == PromptState::kExpired
               ? absl::StrCat(" since ", absl::FormatTime(*record->closed_at,
                                                          absl::UTCTimeZone()))
               : ""),
          "; it cannot become ", PromptStateName(to), " any more"));
    }
    if (record->due_at > now) {
      return absl::FailedPreconditionError(absl::StrCat(
          "prompt ", prompt_id, " is not due until ",
          absl::FormatTime(record->due_at, absl::UTCTimeZone()),
          "; show it only once GetPrompts or WatchPrompts returned it"));
    }
    std::vector<PromptState> from = {PromptState::kPending,
                                     PromptState::kDelivered};
    if (to == PromptState::kDismissed) from.push_back(PromptState::kShown);
    ASSIGN_OR_RETURN(store::PromptRecord after,
                     store_->UpdatePromptState(prompt_id, from, to, when));
    if (after.state == to) {
      return static_cast<hark::v1::Prompt::State>(to);
    }
  }
  return absl::AbortedError(absl::StrCat(
      "prompt ", prompt_id, " changed concurrently; retry the call"));
}

}  // namespace hark::runtime
