#ifndef HARK_SERVER_POLICY_POLICY_H_
#define HARK_SERVER_POLICY_POLICY_H_

// The contact policy (DESIGN.md, "Orchestration"): decides for each match
// whether to ask this user now. Pure decision logic: no storage, no rules
// module; the history of earlier decisions comes through `History`, time
// through the caller's `now`.
//
// Checks, in this order; a candidate's outcome is the first that applies:
//   1. cooldown       the user was sent a prompt of this rule within the
//                     rule's cooldown (counted from that decision)
//   2. contact_cap    the user reached max_prompts_per_user within `per`,
//                     or (interviews) max_interviews_per_user within
//                     interviews_per
//   3. sampled_out    deterministic per (user, rule, rule version)
//   4. quota          the rule's quota, or the interview's quota, is used up
//                     over its rolling period
//   5. lower_priority another live candidate of the same user in the same
//                     round passed 1-4, is not stale or expired, and wins
//                     (higher priority, then earlier moment, then smaller
//                     match id)
//   6. shadow         the rule runs in shadow mode: decided, never delivered
//   7. stale          now - moment > max_staleness
//   8. expired        moment + expires <= now: the action's window, counted
//                     from the match, has already passed
// Otherwise `sent`. Only sent decisions count as history for later checks
// (shadow and suppressed ones never use up cooldowns, caps or quotas);
// decisions sent earlier in the same round count like stored ones.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace hark::policy {

enum class Outcome {
  kSent,
  kCooldown,
  kContactCap,
  kSampledOut,
  kQuota,
  kLowerPriority,
  kShadow,
  kStale,
  kExpired,
};

// "sent", "cooldown", "contact_cap", "sampled_out", "quota",
// "lower_priority", "shadow", "stale", "expired".
absl::string_view OutcomeName(Outcome outcome);
// The inverse of OutcomeName; nullopt for anything else.
std::optional<Outcome> ParseOutcome(absl::string_view name);

enum class Kind { kSurvey, kInterview };

struct Quota {
  int max = 0;
  absl::Duration per;
};

// One match asking for a prompt, with everything the checks need
// (the caller resolves the rule and its action).
struct Candidate {
  std::string match_id;
  std::string user_id;
  std::string rule_id;
  std::string rule_version;
  // The match's moment: its last event's time, or its deadline.
  absl::Time moment;
  Kind kind = Kind::kSurvey;
  // The survey or interview id.
  std::string target;
  int priority = 0;
  bool shadow = false;
  // In (0, 1].
  double sample = 1.0;
  std::optional<absl::Duration> cooldown;
  std::optional<Quota> rule_quota;
  // The interview's quota (interviews only).
  std::optional<Quota> target_quota;
  absl::Duration delay = absl::ZeroDuration();
  absl::Duration expires = absl::Hours(24);
  // The user's IANA time zone name (a trait); empty or unknown means UTC.
  std::string time_zone;
};

struct QuietHours {
  // Minutes since local midnight; the range may wrap midnight
  // (22:00-08:00 is start 1320, end 480). start != end.
  int start_minute = 0;
  int end_minute = 0;
};

struct ContactPolicy {
  std::optional<int> max_prompts_per_user;
  absl::Duration per = absl::Hours(24 * 7);
  std::optional<int> max_interviews_per_user;
  absl::Duration interviews_per = absl::Hours(24 * 30);
  std::optional<QuietHours> quiet_hours;
  absl::Duration max_staleness = absl::Hours(1);
};

// Earlier sent decisions (stored ones; the round's own are added by
// Decide). Empty string fields match anything; decided_at >= since.
struct SentQuery {
  std::string user_id;
  std::string rule_id;
  // A survey or interview id.
  std::string target;
  std::optional<Kind> kind;
  absl::Time since;
};

class History {
 public:
  virtual ~History() = default;
  // The number of sent decisions matching `query`.
  virtual absl::StatusOr<int64_t> CountSent(const SentQuery& query) = 0;
};

struct Decision {
  std::string match_id;
  Outcome outcome = Outcome::kSent;
  // One readable sentence with the figures behind the outcome, e.g.
  // "cooldown: rule repeated_errors sent a prompt to this user within the
  // last 7d" or "sampled out: sample 0.5, this user's draw 0.73".
  std::string reason;
  absl::Time decided_at;
  // For kSent and kShadow: when the prompt may be shown (now + delay,
  // moved past quiet hours in the user's time zone) and until when
  // (due_at + expires). Unset otherwise.
  absl::Time due_at = absl::InfinitePast();
  absl::Time expires_at = absl::InfinitePast();
};

// Decides a round of candidates (matches that arrived together; the caller
// groups them, see ContactPolicy in the rules module, priority_window).
// Returns one decision per candidate, in the order given. Fails only if
// `history` fails.
absl::StatusOr<std::vector<Decision>> Decide(absl::Span<const Candidate> round,
                                             const ContactPolicy& policy,
                                             History& history, absl::Time now);

// The user's deterministic draw in [0, 1) for a rule version: a fixed
// 64-bit hash (stable across processes, builds and platforms) of user id,
// rule id and rule version. Sampled in when draw < sample.
double SampleDraw(absl::string_view user_id, absl::string_view rule_id,
                  absl::string_view rule_version);

// `t` if it is outside the quiet hours in `time_zone` (IANA name; empty or
// unknown means UTC), else the end of that quiet period.
absl::Time AfterQuietHours(absl::Time t, const QuietHours& quiet,
                           absl::string_view time_zone);

}  // namespace hark::policy

#endif  // HARK_SERVER_POLICY_POLICY_H_
