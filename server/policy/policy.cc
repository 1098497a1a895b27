// Decide: the contact policy's checks over one round of candidates.
//
// Round order: candidates are grouped by user, users taken in the order of
// their first candidate in the round. A user's candidates are checked
// (1-4) against the stored history plus the decisions sent for earlier
// users of the round; then the user's priority competition picks at most
// one of them to send, and that send counts for the users after. A user's
// own winner is thus not counted against the user's other candidates of
// the round: those lose on priority (check 5) instead, which is the more
// telling reason. Shadow, stale and expired candidates never win, but one
// that the user's winner beats reports lower_priority (check 5 comes
// first), so a shadow rule shows whether it would have won.

#include "server/policy/policy.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hark/status_macros.h"

namespace hark::policy {
namespace {

// "7d", "1h30m", "45s", "1.5s", "0s": the units of rule files.
std::string ReadableDuration(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return "inf";
  if (d == -absl::InfiniteDuration()) return "-inf";
  if (d < absl::ZeroDuration()) return absl::StrCat("-", ReadableDuration(-d));
  if (d == absl::ZeroDuration()) return "0s";
  std::string out;
  absl::Duration rest = d;
  const int64_t days = absl::IDivDuration(rest, absl::Hours(24), &rest);
  const int64_t hours = absl::IDivDuration(rest, absl::Hours(1), &rest);
  const int64_t minutes = absl::IDivDuration(rest, absl::Minutes(1), &rest);
  const int64_t seconds = absl::IDivDuration(rest, absl::Seconds(1), &rest);
  if (days > 0) absl::StrAppend(&out, days, "d");
  if (hours > 0) absl::StrAppend(&out, hours, "h");
  if (minutes > 0) absl::StrAppend(&out, minutes, "m");
  const int64_t nanos = absl::ToInt64Nanoseconds(rest);
  if (nanos > 0) {
    std::string frac = absl::StrFormat("%09d", nanos);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    absl::StrAppend(&out, seconds, ".", frac, "s");
  } else if (seconds > 0 || out.empty()) {
    absl::StrAppend(&out, seconds, "s");
  }
  return out;
}

std::string UtcTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The draw truncated (so never shown as 1 or above the true draw) to the
// fewest decimals, at least two, that still read as not below `sample`, so
// the sentence never contradicts the outcome; at the exact boundary, the
// round-trip form.
std::string FormatDraw(double draw, double sample) {
  double scale = 100;
  for (int decimals = 2; decimals <= 17; ++decimals, scale *= 10) {
    std::string text =
        absl::StrFormat("%.*f", decimals, std::floor(draw * scale) / scale);
    double shown = 0;
    if (absl::SimpleAtod(text, &shown) && shown >= sample && shown < 1.0) {
      while (text.size() > 3 && text.back() == '0') text.pop_back();
      return text;
    }
  }
  return absl::StrFormat("%.17g", draw);
}

std::string FormatQuietHours(const QuietHours& quiet) {
  return absl::StrFormat("%02d:%02d-%02d:%02d", quiet.start_minute / 60,
                         quiet.start_minute % 60, quiet.end_minute / 60,
                         quiet.end_minute % 60);
}

// The zone AfterQuietHours used, as a reader would want it named.
std::string ZoneLabel(const std::string& name) {
  if (name.empty()) return "UTC";
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(name, &zone)) {
    return absl::StrCat(name, " (unknown, UTC used)");
  }
  return name;
}

struct SentRecord {
  std::string user_id;
  std::string rule_id;
  std::string target;
  Kind kind;
  absl::Time decided_at;
};

bool Matches(const SentRecord& record, const SentQuery& query) {
  return (query.user_id.empty() || query.user_id == record.user_id) &&
         (query.rule_id.empty() || query.rule_id == record.rule_id) &&
         (query.target.empty() || query.target == record.target) &&
         (!query.kind.has_value() || *query.kind == record.kind) &&
         record.decided_at >= query.since;
}

// The stored history plus the decisions sent so far in this round.
class RoundHistory {
 public:
  explicit RoundHistory(History& stored) : stored_(stored) {}

  absl::StatusOr<int64_t> CountSent(const SentQuery& query) {
    ASSIGN_OR_RETURN(int64_t count, stored_.CountSent(query));
    for (const SentRecord& record : sent_) {
      if (Matches(record, query)) ++count;
    }
    return count;
  }

  void AddSent(const Candidate& candidate, absl::Time now) {
    sent_.push_back(SentRecord{candidate.user_id, candidate.rule_id,
                               candidate.target, candidate.kind, now});
  }

 private:
  History& stored_;
  std::vector<SentRecord> sent_;
};

struct Verdict {
  Outcome outcome;
  std::string reason;
};

// Checks 1-4 in order; nullopt when none applies.
absl::StatusOr<std::optional<Verdict>> CheckContact(const Candidate& c,
                                                    const ContactPolicy& policy,
                                                    RoundHistory& history,
                                                    absl::Time now) {
  // 1. cooldown
  if (c.cooldown.has_value() && *c.cooldown > absl::ZeroDuration()) {
    SentQuery query;
    query.user_id = c.user_id;
    query.rule_id = c.rule_id;
    query.since = now - *c.cooldown;
    ASSIGN_OR_RETURN(const int64_t sent, history.CountSent(query));
    if (sent > 0) {
      return Verdict{
          Outcome::kCooldown,
          absl::StrCat("cooldown: rule ", c.rule_id, " sent ", sent,
                       " prompt(s) to this user within the last ",
                       ReadableDuration(*c.cooldown), " (its cooldown)")};
    }
  }

  // 2. contact_cap
  if (policy.max_prompts_per_user.has_value()) {
    SentQuery query;
    query.user_id = c.user_id;
    query.since = now - policy.per;
    ASSIGN_OR_RETURN(const int64_t sent, history.CountSent(query));
    if (sent >= *policy.max_prompts_per_user) {
      return Verdict{Outcome::kContactCap,
                     absl::StrCat("contact cap: ", sent,
                                  " prompt(s) sent to this user within ",
                                  ReadableDuration(policy.per), " (max ",
                                  *policy.max_prompts_per_user, ")")};
    }
  }
  if (c.kind == Kind::kInterview &&
      policy.max_interviews_per_user.has_value()) {
    SentQuery query;
    query.user_id = c.user_id;
    query.kind = Kind::kInterview;
    query.since = now - policy.interviews_per;
    ASSIGN_OR_RETURN(const int64_t sent, history.CountSent(query));
    if (sent >= *policy.max_interviews_per_user) {
      return Verdict{
          Outcome::kContactCap,
          absl::StrCat("contact cap: ", sent,
                       " interview invitation(s) sent to this user within ",
                       ReadableDuration(policy.interviews_per), " (max ",
                       *policy.max_interviews_per_user, ")")};
    }
  }

  // 3. sampled_out
  if (c.sample < 1.0) {
    const double draw = SampleDraw(c.user_id, c.rule_id, c.rule_version);
    if (!(draw < c.sample)) {
      return Verdict{
          Outcome::kSampledOut,
          absl::StrCat("sampled out: sample ", absl::StrFormat("%g", c.sample),
                       ", this user's draw ", FormatDraw(draw, c.sample),
                       " for rule ", c.rule_id, " version ", c.rule_version)};
    }
  }

  // 4. quota
  if (c.rule_quota.has_value()) {
    SentQuery query;
    query.rule_id = c.rule_id;
    query.since = now - c.rule_quota->per;
    ASSIGN_OR_RETURN(const int64_t sent, history.CountSent(query));
    if (sent >= c.rule_quota->max) {
      return Verdict{Outcome::kQuota,
                     absl::StrCat("quota: rule ", c.rule_id, " sent ", sent,
                                  " prompt(s) within ",
                                  ReadableDuration(c.rule_quota->per),
                                  " (quota ", c.rule_quota->max, ")")};
    }
  }
  if (c.kind == Kind::kInterview && c.target_quota.has_value()) {
    SentQuery query;
    query.target = c.target;
    query.kind = Kind::kInterview;
    query.since = now - c.target_quota->per;
    ASSIGN_OR_RETURN(const int64_t sent, history.CountSent(query));
    if (sent >= c.target_quota->max) {
      return Verdict{Outcome::kQuota,
                     absl::StrCat("quota: interview ", c.target, " sent ", sent,
                                  " invitation(s) within ",
                                  ReadableDuration(c.target_quota->per),
                                  " (quota ", c.target_quota->max, ")")};
    }
  }
  return std::nullopt;
}

bool IsStale(const Candidate& c, const ContactPolicy& policy, absl::Time now) {
  return now - c.moment > policy.max_staleness;
}

bool IsExpired(const Candidate& c, absl::Time now) {
  return c.moment + c.expires <= now;
}

// Whether round[a] wins over round[b]: higher priority, then earlier
// moment, then smaller match id, then earlier in the round (so that the
// order is total and the result deterministic).
bool Beats(absl::Span<const Candidate> round, size_t a, size_t b) {
  const Candidate& x = round[a];
  const Candidate& y = round[b];
  if (x.priority != y.priority) return x.priority > y.priority;
  if (x.moment != y.moment) return x.moment < y.moment;
  if (x.match_id != y.match_id) return x.match_id < y.match_id;
  return a < b;
}

std::string LowerPriorityReason(const Candidate& winner,
                                const Candidate& loser) {
  std::string why;
  if (winner.priority != loser.priority) {
    why = absl::StrCat(" over this match's priority ", loser.priority);
  } else if (winner.moment != loser.moment) {
    why = absl::StrCat(", same priority with a match ",
                       ReadableDuration(loser.moment - winner.moment),
                       " earlier");
  } else if (winner.match_id != loser.match_id) {
    why = absl::StrCat(", same priority and moment with the smaller match id ",
                       winner.match_id);
  } else {
    why = ", same priority, moment and match id, earlier in the round";
  }
  return absl::StrCat("lower priority: rule ", winner.rule_id, " (priority ",
                      winner.priority, ") won", why);
}

// Sets due_at and expires_at of a sent or shadow decision; returns the
// description of that window for its reason.
std::string Schedule(const Candidate& c, const ContactPolicy& policy,
                     absl::Time now, Decision& decision) {
  const absl::Time ready = now + c.delay;
  absl::Time due = ready;
  if (policy.quiet_hours.has_value()) {
    due = AfterQuietHours(ready, *policy.quiet_hours, c.time_zone);
  }
  decision.due_at = due;
  decision.expires_at = due + c.expires;

  std::string text = due == now ? std::string("due now")
                                : absl::StrCat("due at ", UtcTime(due));
  std::vector<std::string> notes;
  if (c.delay != absl::ZeroDuration()) {
    notes.push_back(absl::StrCat("delay ", ReadableDuration(c.delay)));
  }
  if (due != ready) {
    notes.push_back(absl::StrCat("moved past quiet hours ",
                                 FormatQuietHours(*policy.quiet_hours), " in ",
                                 ZoneLabel(c.time_zone)));
  }
  if (!notes.empty())
    absl::StrAppend(&text, " (", absl::StrJoin(notes, "; "), ")");
  absl::StrAppend(&text, ", expires at ", UtcTime(decision.expires_at), " (",
                  ReadableDuration(c.expires), " later)");
  return text;
}

}  // namespace

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSent:
      return "sent";
    case Outcome::kCooldown:
      return "cooldown";
    case Outcome::kContactCap:
      return "contact_cap";
    case Outcome::kSampledOut:
      return "sampled_out";
    case Outcome::kQuota:
      return "quota";
    case Outcome::kLowerPriority:
      return "lower_priority";
    case Outcome::kShadow:
      return "shadow";
    case Outcome::kStale:
      return "stale";
    case Outcome::kExpired:
      return "expired";
  }
  return "unknown";
}

std::optional<Outcome> ParseOutcome(absl::string_view name) {
  for (const Outcome outcome :
       {Outcome::kSent, Outcome::kCooldown, Outcome::kContactCap,
        Outcome::kSampledOut, Outcome::kQuota, Outcome::kLowerPriority,
        Outcome::kShadow, Outcome::kStale, Outcome::kExpired}) {
    if (OutcomeName(outcome) == name) return outcome;
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<Decision>> Decide(absl::Span<const Candidate> round,
                                             const ContactPolicy& policy,
                                             History& history, absl::Time now) {
  std::vector<Decision> decisions(round.size());
  for (size_t i = 0; i < round.size(); ++i) {
    decisions[i].match_id = round[i].match_id;
    decisions[i].decided_at = now;
  }

  // Users in the order of their first candidate.
  std::vector<std::vector<size_t>> groups;
  absl::flat_hash_map<absl::string_view, size_t> group_of_user;
  for (size_t i = 0; i < round.size(); ++i) {
    auto [it, inserted] =
        group_of_user.try_emplace(round[i].user_id, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }

  RoundHistory round_history(history);
  std::vector<bool> passed(round.size(), false);
  for (const std::vector<size_t>& group : groups) {
    for (const size_t i : group) {
      ASSIGN_OR_RETURN(std::optional<Verdict> verdict,
                       CheckContact(round[i], policy, round_history, now));
      if (verdict.has_value()) {
        decisions[i].outcome = verdict->outcome;
        decisions[i].reason = std::move(verdict->reason);
      } else {
        passed[i] = true;
      }
    }

    // Only live candidates that could be sent compete.
    std::optional<size_t> winner;
    for (const size_t i : group) {
      if (!passed[i] || round[i].shadow || IsStale(round[i], policy, now) ||
          IsExpired(round[i], now)) {
        continue;
      }
      if (!winner.has_value() || Beats(round, i, *winner)) winner = i;
    }

    for (const size_t i : group) {
      if (!passed[i]) continue;
      const Candidate& c = round[i];
      Decision& decision = decisions[i];
      if (winner.has_value() && *winner != i && Beats(round, *winner, i)) {
        decision.outcome = Outcome::kLowerPriority;
        decision.reason = LowerPriorityReason(round[*winner], c);
      } else if (c.shadow) {
        decision.outcome = Outcome::kShadow;
        const std::string window = Schedule(c, policy, now, decision);
        decision.reason =
            absl::StrCat("shadow: rule ", c.rule_id,
                         " runs in shadow mode, decided but not delivered; ",
                         "it would be ", window);
      } else if (IsStale(c, policy, now)) {
        decision.outcome = Outcome::kStale;
        decision.reason = absl::StrCat(
            "stale: the match is ", ReadableDuration(now - c.moment),
            " old, max_staleness ", ReadableDuration(policy.max_staleness));
      } else if (IsExpired(c, now)) {
        decision.outcome = Outcome::kExpired;
        decision.reason = absl::StrCat(
            "expired: the action's window of ", ReadableDuration(c.expires),
            " from the match ended ",
            ReadableDuration(now - (c.moment + c.expires)), " ago");
      } else {
        decision.outcome = Outcome::kSent;
        decision.reason =
            absl::StrCat("sent: ", Schedule(c, policy, now, decision));
        round_history.AddSent(c, now);
      }
    }
  }
  return decisions;
}

}  // namespace hark::policy
