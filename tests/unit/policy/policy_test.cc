#include "server/policy/policy.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time Utc(int y, int mo, int d, int h, int mi, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s),
                         absl::UTCTimeZone());
}

// Monday 2024-03-04 12:00 UTC.
const absl::Time kNow = Utc(2024, 3, 4, 12, 0);

// Counts over a vector of recorded sent decisions, as the store would.
class FakeHistory : public History {
 public:
  struct Sent {
    std::string user_id;
    std::string rule_id;
    std::string target;
    Kind kind;
    absl::Time decided_at;
  };

  absl::StatusOr<int64_t> CountSent(const SentQuery& query) override {
    ++calls;
    if (!error.ok()) return error;
    int64_t count = 0;
    for (const Sent& s : sent) {
      if ((query.user_id.empty() || query.user_id == s.user_id) &&
          (query.rule_id.empty() || query.rule_id == s.rule_id) &&
          (query.target.empty() || query.target == s.target) &&
          (!query.kind.has_value() || *query.kind == s.kind) &&
          s.decided_at >= query.since) {
        ++count;
      }
    }
    return count;
  }

  void Add(const std::string& user, const std::string& rule, absl::Time at,
           Kind kind = Kind::kSurvey, const std::string& target = "survey") {
    sent.push_back(Sent{user, rule, target, kind, at});
  }

  // What the caller does after a round: store its sent decisions.
  void Store(const std::vector<Candidate>& round,
             const std::vector<Decision>& decisions) {
    for (size_t i = 0; i < round.size(); ++i) {
      if (decisions[i].outcome != Outcome::kSent) continue;
      sent.push_back(Sent{round[i].user_id, round[i].rule_id, round[i].target,
                          round[i].kind, decisions[i].decided_at});
    }
  }

  std::vector<Sent> sent;
  absl::Status error;
  int calls = 0;
};

Candidate Make(const std::string& match, const std::string& user,
               const std::string& rule) {
  Candidate c;
  c.match_id = match;
  c.user_id = user;
  c.rule_id = rule;
  c.rule_version = "v1";
  c.moment = kNow - absl::Minutes(1);
  c.target = "survey";
  return c;
}

std::vector<Outcome> Outcomes(const std::vector<Decision>& decisions) {
  std::vector<Outcome> out;
  for (const Decision& d : decisions) out.push_back(d.outcome);
  return out;
}

std::vector<Decision> DecideOk(const std::vector<Candidate>& round,
                               const ContactPolicy& policy,
                               FakeHistory& history, absl::Time now = kNow) {
  absl::StatusOr<std::vector<Decision>> decisions =
      Decide(round, policy, history, now);
  EXPECT_TRUE(decisions.ok()) << decisions.status();
  if (!decisions.ok()) return {};
  EXPECT_EQ(decisions->size(), round.size());
  return *std::move(decisions);
}

// A user id whose draw for (rule, v1) is at least `at_least`.
std::string UserDrawingAtLeast(const std::string& rule, double at_least) {
  for (int i = 0;; ++i) {
    std::string user = "user" + std::to_string(i);
    if (SampleDraw(user, rule, "v1") >= at_least) return user;
  }
}

TEST(OutcomeNameTest, RoundTrips) {
  for (const Outcome o :
       {Outcome::kSent, Outcome::kCooldown, Outcome::kContactCap,
        Outcome::kSampledOut, Outcome::kQuota, Outcome::kLowerPriority,
        Outcome::kShadow, Outcome::kStale, Outcome::kExpired}) {
    EXPECT_EQ(ParseOutcome(OutcomeName(o)), o);
  }
  EXPECT_EQ(OutcomeName(Outcome::kContactCap), "contact_cap");
  EXPECT_EQ(OutcomeName(Outcome::kLowerPriority), "lower_priority");
  EXPECT_EQ(OutcomeName(Outcome::kSampledOut), "sampled_out");
  EXPECT_EQ(ParseOutcome("Sent"), std::nullopt);
  EXPECT_EQ(ParseOutcome(""), std::nullopt);
}

TEST(DecideTest, EmptyRound) {
  FakeHistory history;
  EXPECT_TRUE(DecideOk({}, ContactPolicy{}, history).empty());
  EXPECT_EQ(history.calls, 0);
}

TEST(DecideTest, EveryOutcome) {
  ContactPolicy policy;
  policy.max_prompts_per_user = 2;
  policy.per = absl::Hours(24 * 7);
  policy.max_staleness = absl::Hours(1);

  FakeHistory history;
  history.Add("u_cool", "cool", kNow - absl::Hours(24));
  history.Add("u_cap", "a", kNow - absl::Hours(24 * 2));
  history.Add("u_cap", "b", kNow - absl::Hours(24 * 6));
  history.Add("someone", "q", kNow - absl::Hours(1));

  std::vector<Candidate> round;
  Candidate cool = Make("m_cool", "u_cool", "cool");
  cool.cooldown = absl::Hours(24 * 7);
  round.push_back(cool);
  round.push_back(Make("m_cap", "u_cap", "c"));
  const std::string sampled_user = UserDrawingAtLeast("s", 0.5);
  Candidate sampled = Make("m_sampled", sampled_user, "s");
  sampled.sample = 0.5;
  round.push_back(sampled);
  Candidate quota = Make("m_quota", "u_quota", "q");
  quota.rule_quota = Quota{1, absl::Hours(24)};
  round.push_back(quota);
  Candidate high = Make("m_high", "u_pri", "high");
  high.priority = 10;
  round.push_back(high);
  Candidate low = Make("m_low", "u_pri", "low");
  low.priority = 5;
  round.push_back(low);
  Candidate shadow = Make("m_shadow", "u_shadow", "sh");
  shadow.shadow = true;
  round.push_back(shadow);
  Candidate stale = Make("m_stale", "u_stale", "st");
  stale.moment = kNow - absl::Hours(2);
  round.push_back(stale);
  Candidate expired = Make("m_expired", "u_expired", "ex");
  expired.moment = kNow - absl::Minutes(40);
  expired.expires = absl::Minutes(30);
  round.push_back(expired);
  round.push_back(Make("m_sent", "u_sent", "ok"));

  const std::vector<Decision> d = DecideOk(round, policy, history);
  EXPECT_THAT(Outcomes(d),
              ElementsAre(Outcome::kCooldown, Outcome::kContactCap,
                          Outcome::kSampledOut, Outcome::kQuota, Outcome::kSent,
                          Outcome::kLowerPriority, Outcome::kShadow,
                          Outcome::kStale, Outcome::kExpired, Outcome::kSent));
  for (size_t i = 0; i < d.size(); ++i) {
    EXPECT_EQ(d[i].match_id, round[i].match_id);
    EXPECT_EQ(d[i].decided_at, kNow);
    const bool scheduled =
        d[i].outcome == Outcome::kSent || d[i].outcome == Outcome::kShadow;
    EXPECT_EQ(d[i].due_at != absl::InfinitePast(), scheduled) << i;
    EXPECT_EQ(d[i].expires_at != absl::InfinitePast(), scheduled) << i;
  }

  EXPECT_EQ(d[0].reason,
            "cooldown: rule cool sent 1 prompt(s) to this user within the "
            "last 7d (its cooldown)");
  EXPECT_EQ(d[1].reason,
            "contact cap: 2 prompt(s) sent to this user within 7d (max 2)");
  EXPECT_THAT(d[2].reason, HasSubstr("sampled out: sample 0.5, this user's "
                                     "draw 0."));
  EXPECT_THAT(d[2].reason, HasSubstr(" for rule s version v1"));
  EXPECT_EQ(d[3].reason, "quota: rule q sent 1 prompt(s) within 1d (quota 1)");
  EXPECT_EQ(d[4].reason,
            "sent: due now, expires at 2024-03-05T12:00:00Z (1d later)");
  EXPECT_EQ(d[5].reason,
            "lower priority: rule high (priority 10) won over this match's "
            "priority 5");
  EXPECT_THAT(d[6].reason, HasSubstr("shadow: rule sh runs in shadow mode"));
  EXPECT_EQ(d[7].reason, "stale: the match is 2h old, max_staleness 1h");
  EXPECT_EQ(d[8].reason,
            "expired: the action's window of 30m from the match ended 10m "
            "ago");
  EXPECT_EQ(d[9].due_at, kNow);
  EXPECT_EQ(d[9].expires_at, kNow + absl::Hours(24));
}

TEST(DecideTest, CooldownComesBeforeContactCap) {
  ContactPolicy policy;
  policy.max_prompts_per_user = 1;
  FakeHistory history;
  history.Add("u", "r", kNow - absl::Hours(1));
  Candidate c = Make("m", "u", "r");
  c.cooldown = absl::Hours(24);
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kCooldown));
  // Without the cooldown, the cap.
  c.cooldown.reset();
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kContactCap));
}

TEST(DecideTest, ContactCapComesBeforeSamplingAndQuota) {
  ContactPolicy policy;
  policy.max_prompts_per_user = 1;
  FakeHistory history;
  const std::string user = UserDrawingAtLeast("r", 0.3);
  history.Add(user, "r", kNow - absl::Hours(1));
  Candidate c = Make("m", user, "r");
  c.sample = 0.3;
  c.rule_quota = Quota{1, absl::Hours(24)};
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kContactCap));
  policy.max_prompts_per_user.reset();
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kSampledOut));
  c.sample = 1.0;
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kQuota));
}

TEST(DecideTest, QuotaComesBeforeLowerPriorityAndLosersDoNotCompete) {
  FakeHistory history;
  history.Add("other", "high", kNow - absl::Minutes(5));
  Candidate high = Make("m1", "u", "high");
  high.priority = 10;
  high.rule_quota = Quota{1, absl::Hours(1)};
  Candidate low = Make("m2", "u", "low");
  low.priority = 1;
  // The higher-priority candidate is out on quota, so it does not compete
  // and the lower one is sent.
  EXPECT_THAT(Outcomes(DecideOk({high, low}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kQuota, Outcome::kSent));
}

TEST(DecideTest, LowerPriorityComesBeforeShadowStaleExpired) {
  ContactPolicy policy;
  FakeHistory history;
  Candidate live = Make("m1", "u", "live");
  live.priority = 10;
  Candidate shadow = Make("m2", "u", "shadow");
  shadow.shadow = true;
  Candidate stale = Make("m3", "u", "stale");
  stale.moment = kNow - absl::Hours(3);
  stale.expires = absl::Hours(1);  // also expired
  EXPECT_THAT(Outcomes(DecideOk({live, shadow, stale}, policy, history)),
              ElementsAre(Outcome::kSent, Outcome::kLowerPriority,
                          Outcome::kLowerPriority));
}

TEST(DecideTest, ShadowComesBeforeStaleAndStaleBeforeExpired) {
  ContactPolicy policy;
  FakeHistory history;
  Candidate c = Make("m", "u", "r");
  c.moment = kNow - absl::Hours(3);
  c.expires = absl::Hours(1);
  c.shadow = true;
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kShadow));
  c.shadow = false;
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kStale));
}

TEST(DecideTest, StaleVersusExpired) {
  ContactPolicy policy;
  policy.max_staleness = absl::Hours(1);
  FakeHistory history;
  Candidate c = Make("m", "u", "r");
  // Exactly max_staleness old: not stale.
  c.moment = kNow - absl::Hours(1);
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kSent));
  c.moment = kNow - absl::Hours(1) - absl::Seconds(1);
  std::vector<Decision> d = DecideOk({c}, policy, history);
  EXPECT_THAT(Outcomes(d), ElementsAre(Outcome::kStale));
  EXPECT_EQ(d[0].reason, "stale: the match is 1h1s old, max_staleness 1h");
  // Fresh, but the window from the match closed exactly now.
  c.moment = kNow - absl::Minutes(30);
  c.expires = absl::Minutes(30);
  d = DecideOk({c}, policy, history);
  EXPECT_THAT(Outcomes(d), ElementsAre(Outcome::kExpired));
  EXPECT_EQ(d[0].reason,
            "expired: the action's window of 30m from the match ended 0s ago");
  c.expires = absl::Minutes(31);
  EXPECT_THAT(Outcomes(DecideOk({c}, policy, history)),
              ElementsAre(Outcome::kSent));
}

TEST(DecideTest, StaleCandidateDoesNotWinPriority) {
  FakeHistory history;
  Candidate stale = Make("m1", "u", "urgent");
  stale.priority = 100;
  stale.moment = kNow - absl::Hours(5);
  Candidate fresh = Make("m2", "u", "minor");
  fresh.priority = 1;
  const std::vector<Decision> d =
      DecideOk({stale, fresh}, ContactPolicy{}, history);
  EXPECT_THAT(Outcomes(d), ElementsAre(Outcome::kStale, Outcome::kSent));
}

TEST(DecideTest, CooldownWindow) {
  FakeHistory history;
  history.Add("u", "r", kNow - absl::Hours(24));
  Candidate c = Make("m", "u", "r");
  c.cooldown = absl::Hours(24);  // the earlier send is exactly at the edge
  EXPECT_THAT(Outcomes(DecideOk({c}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kCooldown));
  c.cooldown = absl::Hours(23);
  EXPECT_THAT(Outcomes(DecideOk({c}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kSent));
  // Another rule's prompt does not start this rule's cooldown.
  Candidate other = Make("m2", "u", "other");
  other.cooldown = absl::Hours(48);
  EXPECT_THAT(Outcomes(DecideOk({other}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kSent));
}

TEST(DecideTest, InterviewCapAndQuota) {
  ContactPolicy policy;
  policy.max_interviews_per_user = 1;
  policy.interviews_per = absl::Hours(24 * 30);
  FakeHistory history;
  history.Add("u", "old_rule", kNow - absl::Hours(24 * 10), Kind::kInterview,
              "onboarding_call");
  Candidate interview = Make("m1", "u", "r1");
  interview.kind = Kind::kInterview;
  interview.target = "pricing_call";
  Candidate survey = Make("m2", "u2", "r2");
  std::vector<Decision> d = DecideOk({interview, survey}, policy, history);
  EXPECT_THAT(Outcomes(d), ElementsAre(Outcome::kContactCap, Outcome::kSent));
  EXPECT_EQ(d[0].reason,
            "contact cap: 1 interview invitation(s) sent to this user within "
            "30d (max 1)");
  // The survey cap does not apply to interviews' own limit and vice versa:
  // a survey for the same user passes.
  Candidate same_user_survey = Make("m3", "u", "r2");
  EXPECT_THAT(Outcomes(DecideOk({same_user_survey}, policy, history)),
              ElementsAre(Outcome::kSent));

  // The interview's quota counts invitations to it from any rule.
  history.Add("x", "other_rule", kNow - absl::Hours(2), Kind::kInterview,
              "pricing_call");
  Candidate other = Make("m4", "v", "r1");
  other.kind = Kind::kInterview;
  other.target = "pricing_call";
  other.target_quota = Quota{1, absl::Hours(24)};
  d = DecideOk({other}, policy, history);
  EXPECT_THAT(Outcomes(d), ElementsAre(Outcome::kQuota));
  EXPECT_EQ(d[0].reason,
            "quota: interview pricing_call sent 1 invitation(s) within 1d "
            "(quota 1)");
}

TEST(DecideTest, SamplingIsDeterministic) {
  FakeHistory history;
  std::vector<Candidate> round;
  for (int i = 0; i < 200; ++i) {
    Candidate c = Make("m" + std::to_string(i), "user" + std::to_string(i),
                       "sampled_rule");
    c.sample = 0.4;
    round.push_back(c);
  }
  const std::vector<Decision> first = DecideOk(round, ContactPolicy{}, history);
  const std::vector<Decision> second =
      DecideOk(round, ContactPolicy{}, history, kNow + absl::Hours(5));
  int sent = 0;
  for (size_t i = 0; i < round.size(); ++i) {
    const bool in = SampleDraw(round[i].user_id, "sampled_rule", "v1") < 0.4;
    // Moments are fixed, so the later round finds everything stale; the
    // sampling decision itself does not change.
    EXPECT_EQ(first[i].outcome, in ? Outcome::kSent : Outcome::kSampledOut);
    EXPECT_EQ(second[i].outcome == Outcome::kSampledOut, !in);
    if (in) ++sent;
  }
  EXPECT_GT(sent, 40);
  EXPECT_LT(sent, 120);
}

TEST(DecideTest, SamplingDependsOnRuleVersion) {
  // Some user flips between versions (a new version re-draws).
  FakeHistory history;
  bool flipped = false;
  for (int i = 0; i < 100 && !flipped; ++i) {
    Candidate c = Make("m", "user" + std::to_string(i), "r");
    c.sample = 0.5;
    const Outcome v1 = DecideOk({c}, ContactPolicy{}, history)[0].outcome;
    c.rule_version = "v2";
    const Outcome v2 = DecideOk({c}, ContactPolicy{}, history)[0].outcome;
    flipped = v1 != v2;
  }
  EXPECT_TRUE(flipped);
}

TEST(DecideTest, SampledOutReasonShowsADrawNotBelowTheSample) {
  FakeHistory history;
  for (int i = 0; i < 50; ++i) {
    Candidate c = Make("m", "user" + std::to_string(i), "r");
    const double draw = SampleDraw(c.user_id, "r", "v1");
    c.sample = draw;  // the boundary: draw == sample is sampled out
    const std::vector<Decision> d = DecideOk({c}, ContactPolicy{}, history);
    ASSERT_EQ(d[0].outcome, Outcome::kSampledOut);
    const std::string marker = "this user's draw ";
    const size_t at = d[0].reason.find(marker);
    ASSERT_NE(at, std::string::npos) << d[0].reason;
    double shown = 0;
    ASSERT_TRUE(absl::SimpleAtod(
        d[0].reason.substr(
            at + marker.size(),
            d[0].reason.find(' ', at + marker.size()) - (at + marker.size())),
        &shown))
        << d[0].reason;
    EXPECT_GE(shown, c.sample) << d[0].reason;
    EXPECT_LT(shown, 1.0) << d[0].reason;
  }
}

TEST(DecideTest, SampleOfOneAlwaysSends) {
  FakeHistory history;
  for (int i = 0; i < 100; ++i) {
    Candidate c = Make("m", "user" + std::to_string(i), "r");
    EXPECT_EQ(DecideOk({c}, ContactPolicy{}, history)[0].outcome,
              Outcome::kSent);
  }
}

TEST(DecideTest, QuotaExhaustionAndRollingRefill) {
  FakeHistory history;
  auto make = [](const std::string& user, absl::Time now) {
    Candidate c = Make("m_" + user, user, "r");
    c.moment = now - absl::Minutes(1);
    c.rule_quota = Quota{2, absl::Hours(1)};
    return c;
  };
  const absl::Time t0 = kNow;
  std::vector<Candidate> round = {make("u1", t0), make("u2", t0),
                                  make("u3", t0)};
  std::vector<Decision> d = DecideOk(round, ContactPolicy{}, history, t0);
  EXPECT_THAT(Outcomes(d),
              ElementsAre(Outcome::kSent, Outcome::kSent, Outcome::kQuota));
  EXPECT_EQ(d[2].reason, "quota: rule r sent 2 prompt(s) within 1h (quota 2)");
  history.Store(round, d);

  const absl::Time t1 = t0 + absl::Minutes(30);
  round = {make("u4", t1)};
  d = DecideOk(round, ContactPolicy{}, history, t1);
  EXPECT_THAT(Outcomes(d), ElementsAre(Outcome::kQuota));

  // The period is rolling and its start inclusive: at t0 + 1h the sends of
  // t0 still count; a second later they do not.
  const absl::Time t2 = t0 + absl::Hours(1);
  round = {make("u5", t2)};
  EXPECT_THAT(Outcomes(DecideOk(round, ContactPolicy{}, history, t2)),
              ElementsAre(Outcome::kQuota));
  const absl::Time t3 = t2 + absl::Seconds(1);
  round = {make("u5", t3), make("u6", t3), make("u7", t3)};
  d = DecideOk(round, ContactPolicy{}, history, t3);
  EXPECT_THAT(Outcomes(d),
              ElementsAre(Outcome::kSent, Outcome::kSent, Outcome::kQuota));
}

TEST(DecideTest, RoundLocalSendsCountLikeStoredOnes) {
  FakeHistory history;
  Candidate a = Make("m1", "alice", "r");
  a.rule_quota = Quota{1, absl::Hours(24)};
  Candidate b = Make("m2", "bob", "r");
  b.rule_quota = Quota{1, absl::Hours(24)};
  EXPECT_THAT(Outcomes(DecideOk({a, b}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kSent, Outcome::kQuota));
  // The first in the given order wins.
  EXPECT_THAT(Outcomes(DecideOk({b, a}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kSent, Outcome::kQuota));
  // Nothing was stored by Decide itself.
  EXPECT_TRUE(history.sent.empty());
}

TEST(DecideTest, RoundLocalSendsOfAnInterview) {
  FakeHistory history;
  auto make = [](const std::string& match, const std::string& user,
                 const std::string& rule) {
    Candidate c = Make(match, user, rule);
    c.kind = Kind::kInterview;
    c.target = "call";
    c.target_quota = Quota{1, absl::Hours(24 * 7)};
    return c;
  };
  EXPECT_THAT(Outcomes(DecideOk({make("m1", "a", "r1"), make("m2", "b", "r2")},
                                ContactPolicy{}, history)),
              ElementsAre(Outcome::kSent, Outcome::kQuota));
}

TEST(DecideTest, UsersAreProcessedInOrderOfFirstAppearance) {
  // alice's first candidate comes first, so alice's group is decided first:
  // her winner (priority 5, index 2) takes the quota before bob's.
  FakeHistory history;
  Candidate alice_low = Make("m1", "alice", "other");
  alice_low.priority = 1;
  Candidate bob = Make("m2", "bob", "r");
  bob.rule_quota = Quota{1, absl::Hours(24)};
  Candidate alice_high = Make("m3", "alice", "r");
  alice_high.priority = 5;
  alice_high.rule_quota = Quota{1, absl::Hours(24)};
  EXPECT_THAT(
      Outcomes(
          DecideOk({alice_low, bob, alice_high}, ContactPolicy{}, history)),
      ElementsAre(Outcome::kLowerPriority, Outcome::kQuota, Outcome::kSent));
}

TEST(DecideTest, PriorityTies) {
  FakeHistory history;
  Candidate a = Make("m_b", "u", "ra");
  Candidate b = Make("m_a", "u", "rb");
  a.priority = b.priority = 3;
  // Same priority: the earlier moment wins.
  a.moment = kNow - absl::Minutes(10);
  b.moment = kNow - absl::Minutes(5);
  std::vector<Decision> d = DecideOk({b, a}, ContactPolicy{}, history);
  EXPECT_THAT(Outcomes(d),
              ElementsAre(Outcome::kLowerPriority, Outcome::kSent));
  EXPECT_EQ(d[0].reason,
            "lower priority: rule ra (priority 3) won, same priority with a "
            "match 5m earlier");
  // Same priority and moment: the smaller match id wins, in either order.
  b.moment = a.moment;
  d = DecideOk({a, b}, ContactPolicy{}, history);
  EXPECT_THAT(Outcomes(d),
              ElementsAre(Outcome::kLowerPriority, Outcome::kSent));
  EXPECT_EQ(d[0].reason,
            "lower priority: rule rb (priority 3) won, same priority and "
            "moment with the smaller match id m_a");
  EXPECT_THAT(Outcomes(DecideOk({b, a}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kSent, Outcome::kLowerPriority));
  // Higher priority beats an earlier moment.
  a.priority = 4;
  b.moment = a.moment - absl::Minutes(20);
  EXPECT_THAT(Outcomes(DecideOk({a, b}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kSent, Outcome::kLowerPriority));
}

TEST(DecideTest, DifferentUsersDoNotCompete) {
  FakeHistory history;
  Candidate a = Make("m1", "u1", "r1");
  a.priority = 10;
  Candidate b = Make("m2", "u2", "r2");
  EXPECT_THAT(Outcomes(DecideOk({a, b}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kSent, Outcome::kSent));
}

TEST(DecideTest, ShadowNeverCountsAsHistory) {
  FakeHistory history;
  ContactPolicy policy;
  policy.max_prompts_per_user = 1;
  Candidate shadow = Make("m1", "alice", "r");
  shadow.shadow = true;
  shadow.rule_quota = Quota{1, absl::Hours(24)};
  shadow.cooldown = absl::Hours(24);
  Candidate live = Make("m2", "bob", "r");
  live.rule_quota = Quota{1, absl::Hours(24)};
  std::vector<Candidate> round = {shadow, live};
  std::vector<Decision> d = DecideOk(round, policy, history);
  EXPECT_THAT(Outcomes(d), ElementsAre(Outcome::kShadow, Outcome::kSent));
  history.Store(round, d);
  ASSERT_EQ(history.sent.size(), 1u);

  // Later, the shadow decision left alice with no cooldown and no cap.
  Candidate again = Make("m3", "alice", "other");
  again.cooldown = absl::Hours(24);
  const absl::Time later = kNow + absl::Minutes(10);
  again.moment = later;
  EXPECT_THAT(Outcomes(DecideOk({again}, policy, history, later)),
              ElementsAre(Outcome::kSent));
}

TEST(DecideTest, ShadowDoesNotBeatALiveCandidate) {
  FakeHistory history;
  Candidate shadow = Make("m1", "u", "new_rule");
  shadow.shadow = true;
  shadow.priority = 100;
  Candidate live = Make("m2", "u", "old_rule");
  live.priority = 1;
  // The shadow rule would have won if live: it reports shadow, and the live
  // one is still sent.
  EXPECT_THAT(Outcomes(DecideOk({shadow, live}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kShadow, Outcome::kSent));
  // A shadow rule that would have lost reports that.
  shadow.priority = 0;
  EXPECT_THAT(Outcomes(DecideOk({shadow, live}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kLowerPriority, Outcome::kSent));
}

TEST(DecideTest, SuppressedDecisionsDoNotCountWithinTheRound) {
  FakeHistory history;
  const std::string user = UserDrawingAtLeast("r", 0.5);
  Candidate out = Make("m1", user, "r");
  out.sample = 0.5;
  out.rule_quota = Quota{1, absl::Hours(24)};
  Candidate in = Make("m2", "other", "r");
  in.rule_quota = Quota{1, absl::Hours(24)};
  EXPECT_THAT(Outcomes(DecideOk({out, in}, ContactPolicy{}, history)),
              ElementsAre(Outcome::kSampledOut, Outcome::kSent));
}

TEST(DecideTest, DueAndExpiryWithDelayAndQuietHours) {
  ContactPolicy policy;
  policy.quiet_hours = QuietHours{22 * 60, 8 * 60};
  FakeHistory history;
  // kNow is 12:00 UTC = 07:00 EST; a 30m delay lands at 07:30, inside the
  // quiet hours in New York, so due at 08:00 EST = 13:00 UTC.
  Candidate ny = Make("m1", "u1", "r");
  ny.delay = absl::Minutes(30);
  ny.expires = absl::Hours(2);
  ny.time_zone = "America/New_York";
  Candidate utc = ny;
  utc.match_id = "m2";
  utc.user_id = "u2";
  utc.time_zone = "";
  Candidate shadow = ny;
  shadow.match_id = "m3";
  shadow.user_id = "u3";
  shadow.shadow = true;
  const std::vector<Decision> d = DecideOk({ny, utc, shadow}, policy, history);
  EXPECT_THAT(Outcomes(d),
              ElementsAre(Outcome::kSent, Outcome::kSent, Outcome::kShadow));
  EXPECT_EQ(d[0].due_at, Utc(2024, 3, 4, 13, 0));
  EXPECT_EQ(d[0].expires_at, Utc(2024, 3, 4, 15, 0));
  EXPECT_EQ(d[0].reason,
            "sent: due at 2024-03-04T13:00:00Z (delay 30m; moved past quiet "
            "hours 22:00-08:00 in America/New_York), expires at "
            "2024-03-04T15:00:00Z (2h later)");
  EXPECT_EQ(d[1].due_at, kNow + absl::Minutes(30));
  EXPECT_EQ(d[1].expires_at, kNow + absl::Minutes(150));
  EXPECT_EQ(d[1].reason,
            "sent: due at 2024-03-04T12:30:00Z (delay 30m), expires at "
            "2024-03-04T14:30:00Z (2h later)");
  EXPECT_EQ(d[2].due_at, Utc(2024, 3, 4, 13, 0));
  EXPECT_EQ(d[2].expires_at, Utc(2024, 3, 4, 15, 0));
}

TEST(DecideTest, HistoryErrorsPropagate) {
  FakeHistory history;
  history.error = absl::UnavailableError("database is locked");
  Candidate c = Make("m", "u", "r");
  c.cooldown = absl::Hours(1);
  absl::StatusOr<std::vector<Decision>> d =
      Decide({c}, ContactPolicy{}, history, kNow);
  EXPECT_EQ(d.status(), absl::UnavailableError("database is locked"));

  ContactPolicy policy;
  policy.max_prompts_per_user = 3;
  d = Decide({Make("m", "u", "r")}, policy, history, kNow);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kUnavailable);

  Candidate q = Make("m", "u", "r");
  q.rule_quota = Quota{1, absl::Hours(1)};
  d = Decide({q}, ContactPolicy{}, history, kNow);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kUnavailable);

  // No check that needs history: no call, no error.
  history.calls = 0;
  EXPECT_TRUE(
      Decide({Make("m", "u", "r")}, ContactPolicy{}, history, kNow).ok());
  EXPECT_EQ(history.calls, 0);
}

}  // namespace
}  // namespace hark::policy
