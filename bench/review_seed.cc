#include "bench/review_seed.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "bench/bench_util.h"
#include "hark/proto_time.h"
#include "hark/v1/common.pb.h"
#include "hark/v1/prompts.pb.h"
#include "hark/v1/review.pb.h"
#include "hark/v1/rules.pb.h"
#include "server/store/store.h"

namespace hark::bench {
namespace {

using store::DecisionRecord;
using store::MatchRecord;
using store::PromptRecord;
using store::PromptState;
using store::ResponseRecord;
using store::TagRecord;

constexpr absl::Duration kSpan = absl::Hours(26 * 7 * 24);
// Responses per batch of matches and decisions (plus 20 % non-responders).
constexpr size_t kChunk = 4000;
constexpr double kNonResponders = 0.2;
constexpr double kManualShare = 0.01;
constexpr double kOutcomeShare = 0.08;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

hark::v1::Value StringValue(absl::string_view s) {
  hark::v1::Value v;
  v.set_string_value(std::string(s));
  return v;
}

// A free-text answer and the friction type the shipped taxonomy finds in it
// ("" for none).
struct Sentence {
  const char* text;
  const char* friction;
};

constexpr Sentence kSentences[] = {
    {"The export keeps crashing when I add more than a few rows.", "product"},
    {"It was really slow to load the dashboard every morning.", "product"},
    {"The sync with our calendar stopped working after the update.", "product"},
    {"Too many bugs in the editor, I lost my data twice.", "product"},
    {"It doesn't work with our single sign-on setup.", "product"},
    {"There is a missing feature we need: bulk editing.", "product"},
    {"The mobile app freezes whenever I open a report.", "product"},
    {"Search is broken for anything older than a month.", "product"},
    {"We hit an error every time we import a CSV file.", "product"},
    {"The integration with Slack is unreliable.", "product"},
    {"Pages take forever to load on our office network.", "product"},
    {"Got timed out in the middle of saving twice today.", "product"},
    {"The setup took way too long and I had to ask support three times.",
     "process"},
    {"I couldn't figure out how to invite my team.", "process"},
    {"The onboarding steps were confusing and unclear.", "process"},
    {"I needed approval from IT before connecting our data.", "process"},
    {"Too many steps just to create the first project.", "process"},
    {"I couldn't find where to change the billing contact.", "process"},
    {"The documentation did not explain how to configure roles.", "process"},
    {"Waiting for support to answer took days.", "process"},
    {"The error message didn't tell me what to do next.", "process"},
    {"Setting up the workspace was complicated for our admins.", "process"},
    {"Way too expensive for a team of our size.", "pricing"},
    {"It got expensive once we added more seats.", "pricing"},
    {"The price went up and the budget did not.", "pricing"},
    {"We can't justify the cost for a tool we use twice a month.", "pricing"},
    {"The pro plan is too expensive compared to what we use.", "pricing"},
    {"Billing per seat does not work for seasonal staff.", "pricing"},
    {"I couldn't afford the price after the trial ended.", "pricing"},
    {"The cost per user is too high for a nonprofit.", "pricing"},
    {"Cheaper alternatives do most of what we need.", "pricing"},
    {"The annual contract was more than we wanted to commit.", "pricing"},
    {"I didn't see enough value between the tiers.", "perception"},
    {"It wasn't what I expected from the demo.", "perception"},
    {"Honestly not sure what it does better than a spreadsheet.", "perception"},
    {"I don't trust it with customer data yet.", "perception"},
    {"It felt like a tool for much bigger companies.", "perception"},
    {"The product looked unfinished compared to the website.", "perception"},
    {"I expected the reports to be automatic.", "perception"},
    {"Our team didn't see the point after the first week.", "perception"},
    {"Nothing in particular, just busy this week.", ""},
    {"I will come back to it later.", ""},
    {"All good, thanks for asking.", ""},
    {"We switched projects and no longer need it.", ""},
    {"The price is fine, we just paused the project.", ""},
    {"Support was great, no complaints.", ""},
    {"Just testing things for now.", ""},
    {"My manager decided to stop the pilot.", ""},
    {"I was only exploring the features.", ""},
    {"No issue with the price, we are merging teams.", ""},
};

constexpr const char* kManualNotes[] = {
    "Read the whole thread: this is about the contract terms.",
    "Customer call confirmed it.",
    "Text says price, but they compare with the demo promise.",
    "Support ticket shows the setup blocked them.",
    "Same customer reported a crash twice this week.",
};

constexpr const char* kCountries[] = {"US", "DE", "GB", "FR", "IN",
                                      "BR", "CA", "JP", "NL", "ES"};
constexpr int kCountryWeights[] = {30, 12, 10, 8, 10, 8, 6, 5, 5, 6};

struct Choice {
  const char* id;
  const char* label;
  const char* friction;  // "" when the choice maps to none
  int weight;
};

enum class RuleKind { kOnboarding, kErrors, kDowngrade, kCancellation };

// One shipped rule (rules/triggers.yaml) and what it asks.
struct RuleSpec {
  RuleKind kind;
  const char* id;
  const char* version;
  const char* hypothesis;
  const char* definition;
  int prompt_kind;  // 1 survey, 2 interview
  absl::Duration delay;
  int weight;  // share of the responses, in %
  double text_share;
};

constexpr Choice kOnboardingChoices[] = {
    {"too_long", "It was taking longer than I expected", "process", 30},
    {"unclear_next", "I wasn't sure what to do next", "process", 25},
    {"missing_feature", "It doesn't do what I need", "product", 15},
    {"price_unclear", "I'm not sure it's worth the price", "pricing", 15},
    {"later", "Nothing, I'll finish it later", "", 15},
};
constexpr Choice kErrorChoices[] = {
    {"blocked", "I couldn't finish what I was doing", "product", 40},
    {"worked_around", "I found a way around it", "product", 25},
    {"message_unclear", "The message didn't tell me what to do", "process", 20},
    {"no_impact", "It didn't really get in my way", "", 15},
};
// The weight of too_expensive grows over the 26 weeks (see PickChoice).
constexpr Choice kCancelChoices[] = {
    {"too_expensive", "It costs too much for what I get", "pricing", 25},
    {"missing_feature", "It's missing something I need", "product", 20},
    {"too_hard", "Getting things done took too much effort", "process", 12},
    {"not_expected", "It wasn't what I expected", "perception", 18},
    {"no_longer_needed", "I don't need it any more", "", 15},
};

const RuleSpec kRules[] = {
    {RuleKind::kOnboarding, "onboarding_abandonment", "a41c07e2d95b3f18",
     "process", "onboarding_dropoff", 1, absl::ZeroDuration(), 30, 0.45},
    {RuleKind::kErrors, "repeated_errors", "5be9230f7a1d64c2", "product",
     "error_pulse", 1, absl::ZeroDuration(), 38, 0.5},
    {RuleKind::kDowngrade, "downgrade_after_upgrade", "c2d8e4716f0a93b5",
     "pricing", "pricing_interview", 2, absl::ZeroDuration(), 10, 0.0},
    {RuleKind::kCancellation, "cancellation", "09f3b6a8e1c2d457", "perception",
     "cancel_exit", 1, absl::Minutes(10), 22, 0.6},
};

struct UserTraits {
  const char* plan;
  const char* country;
};

class Generator {
 public:
  explicit Generator(const ReviewSeedOptions& options)
      : options_(options),
        rng_(options.seed),
        start_(options.end - kSpan),
        match_salt_(SplitMix64(options.seed * 0x5851f42d4c957f2dULL + 7)) {
    for (const Sentence& s : kSentences) {
      if (s.friction[0] != '\0') {
        by_friction_[FrictionIndex(s.friction)].push_back(&s);
      }
    }
    BuildPromptTemplates();
  }

  absl::Time start() const { return start_; }

  std::string UserId(size_t i) const { return absl::StrFormat("user-%06d", i); }

  UserTraits Traits(size_t user) const {
    const uint64_t h = SplitMix64(options_.seed ^ (user * 0x9e37ULL + 1));
    const int p = static_cast<int>(h % 100);
    UserTraits t;
    t.plan = p < 55 ? "free" : p < 90 ? "pro" : "team";
    int c = static_cast<int>((h >> 16) % 100);
    size_t k = 0;
    while (c >= kCountryWeights[k]) c -= kCountryWeights[k++];
    t.country = kCountries[k];
    return t;
  }

  // Everything stored about one match.
  struct Item {
    MatchRecord match;
    DecisionRecord decision;
    std::optional<PromptRecord> prompt;
    std::optional<ResponseRecord> response;
    std::optional<TagRecord> manual;
    bool secondary = false;
  };

  // A response submitted at `submitted`.
  Item Responder(absl::Time submitted) {
    const RuleSpec& rule = PickRule();
    Item item;
    // Backwards from the answer: shown, delivered, due, decided, matched.
    const absl::Duration answer_lag =
        absl::Seconds(20 + Exponential(240.0, 1200.0));
    const bool shown = Uniform() < 0.9;
    const absl::Duration show_lag =
        shown ? absl::Seconds(1 + UniformInt(0, 29)) : absl::ZeroDuration();
    const absl::Duration delivery_lag =
        absl::Seconds(Exponential(1800.0, 8 * 3600.0));
    const absl::Time delivered = submitted - answer_lag - show_lag;
    const absl::Time due = delivered - delivery_lag;
    const absl::Time decided = due - rule.delay;
    const absl::Time matched = decided - absl::Milliseconds(40);
    const size_t user = PickUser(rule);
    MakeMatch(rule, user, matched, &item);
    MakeDecision(rule, "sent", decided, &item);
    PromptRecord& p = MakePrompt(rule, decided, &item);
    p.state = shown ? PromptState::kShown : PromptState::kDelivered;
    p.delivered_at = delivered;
    if (shown) p.shown_at = delivered + show_lag;
    SetBody(rule, &p);
    MakeResponse(rule, user, submitted, &item);
    return item;
  }

  // A match whose user did not answer, at `matched`.
  Item NonResponder(absl::Time matched) {
    const RuleSpec& rule = PickRule();
    Item item;
    const size_t user = PickUser(rule);
    MakeMatch(rule, user, matched, &item);
    const absl::Time decided = matched + absl::Milliseconds(40);
    if (Uniform() < 0.4) {
      // Suppressed by the contact policy.
      const double r = Uniform();
      std::string outcome = r < 0.45 ? "cooldown" : "contact_cap";
      if (r >= 0.8 && rule.kind == RuleKind::kOnboarding) {
        outcome = "sampled_out";
      } else if (r >= 0.8 && rule.kind == RuleKind::kDowngrade) {
        outcome = "quota";
      }
      MakeDecision(rule, outcome, decided, &item);
      return item;
    }
    MakeDecision(rule, "sent", decided, &item);
    PromptRecord& p = MakePrompt(rule, decided, &item);
    if (Uniform() < 0.6) {
      // Never answered: expired, delivered or not.
      p.state = PromptState::kExpired;
      if (Uniform() < 0.5) {
        p.delivered_at = p.due_at + absl::Seconds(Exponential(1800, 20000));
        if (Uniform() < 0.5) p.shown_at = *p.delivered_at + absl::Seconds(3);
      }
      p.closed_at = p.expires_at;
    } else {
      p.state = PromptState::kDismissed;
      p.delivered_at = p.due_at + absl::Seconds(Exponential(1800, 20000));
      p.shown_at = *p.delivered_at + absl::Seconds(2);
      p.closed_at = *p.shown_at + absl::Seconds(4);
    }
    SetBody(rule, &p);
    return item;
  }

  double Uniform() {
    return std::uniform_real_distribution<double>(0, 1)(rng_);
  }
  int UniformInt(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }

 private:
  static int FrictionIndex(absl::string_view f) {
    if (f == "product") return 0;
    if (f == "process") return 1;
    if (f == "pricing") return 2;
    return 3;  // perception
  }

  // Exponential with this mean, cut at `max` (seconds).
  double Exponential(double mean, double max) {
    return std::min(max,
                    std::exponential_distribution<double>(1.0 / mean)(rng_));
  }

  const RuleSpec& PickRule() {
    int r = UniformInt(0, 99);
    for (const RuleSpec& rule : kRules) {
      if (r < rule.weight) return rule;
      r -= rule.weight;
    }
    return kRules[0];
  }

  // A user; the cancellation rule matches paying users only.
  size_t PickUser(const RuleSpec& rule) {
    std::uniform_int_distribution<size_t> pick(0, options_.users - 1);
    for (int tries = 0; tries < 64; ++tries) {
      const size_t u = pick(rng_);
      if (rule.kind != RuleKind::kCancellation ||
          absl::string_view(Traits(u).plan) != "free") {
        return u;
      }
    }
    return pick(rng_);
  }

  std::string NextMatchId() {
    return absl::StrFormat("%016x", SplitMix64(match_salt_ + ++matches_));
  }

  std::string NextEventId() {
    return absl::StrFormat("ev-%016x", SplitMix64(~match_salt_ + ++events_));
  }

  hark::v1::MatchedEvent* AddEvent(hark::v1::Match* m, absl::string_view name,
                                   absl::Time at, absl::string_view alias) {
    hark::v1::MatchedEvent* e = m->add_events();
    e->set_event_id(NextEventId());
    e->set_name(std::string(name));
    SetTimestamp(at, e->mutable_timestamp());
    e->set_alias(std::string(alias));
    return e;
  }

  void MakeMatch(const RuleSpec& rule, size_t user, absl::Time matched,
                 Item* item) {
    MatchRecord& r = item->match;
    r.match_id = NextMatchId();
    r.rule_id = rule.id;
    r.rule_version = rule.version;
    r.user_id = UserId(user);
    r.matched_at = matched;
    r.created_at = matched + absl::Milliseconds(15);
    hark::v1::Match m;
    m.set_match_id(r.match_id);
    m.set_rule_id(r.rule_id);
    m.set_rule_version(r.rule_version);
    m.set_user_id(r.user_id);
    SetTimestamp(matched, m.mutable_matched_at());
    auto props = [](hark::v1::MatchedEvent * e) -> auto& {
      return *e->mutable_properties();
    };
    switch (rule.kind) {
      case RuleKind::kOnboarding: {
        r.at_deadline = true;
        auto* e = AddEvent(&m, "onboarding_started",
                           matched - absl::Minutes(30), "start");
        props(e)["step"] = StringValue("welcome");
        break;
      }
      case RuleKind::kErrors: {
        static constexpr const char* kCodes[] = {"E1042", "E2210", "E3001",
                                                 "E4004", "E5003", "E7311"};
        static constexpr const char* kPaths[] = {
            "/reports/export", "/settings/sso", "/projects/new", "/import"};
        const std::string code = kCodes[UniformInt(0, 5)];
        const std::string path = kPaths[UniformInt(0, 3)];
        r.group_key = code;
        absl::Time at = matched - absl::Minutes(UniformInt(2, 9));
        for (int k = 0; k < 3; ++k) {
          auto* e = AddEvent(&m, "error", k == 2 ? matched : at, "");
          props(e)["code"] = StringValue(code);
          props(e)["severity"] =
              StringValue(UniformInt(0, 9) == 0 ? "fatal" : "error");
          props(e)["path"] = StringValue(path);
          at += absl::Minutes(UniformInt(1, 3));
        }
        break;
      }
      case RuleKind::kDowngrade: {
        const char* to = UniformInt(0, 1) == 0 ? "pro" : "team";
        auto* up =
            AddEvent(&m, "plan_changed",
                     matched - absl::Hours(UniformInt(12, 13 * 24)), "up");
        props(up)["direction"] = StringValue("upgrade");
        props(up)["to_plan"] = StringValue(to);
        auto* down = AddEvent(&m, "plan_changed", matched, "down");
        props(down)["direction"] = StringValue("downgrade");
        props(down)["to_plan"] = StringValue(to[0] == 't' ? "pro" : "free");
        break;
      }
      case RuleKind::kCancellation: {
        auto* e = AddEvent(&m, "subscription_cancelled", matched, "");
        props(e)["source"] =
            StringValue(UniformInt(0, 3) == 0 ? "support" : "self_serve");
        break;
      }
    }
    const UserTraits t = Traits(user);
    (*m.mutable_traits())["plan"] = StringValue(t.plan);
    (*m.mutable_traits())["country"] = StringValue(t.country);
    m.SerializeToString(&r.context);
  }

  void MakeDecision(const RuleSpec& rule, const std::string& outcome,
                    absl::Time decided, Item* item) {
    DecisionRecord& d = item->decision;
    d.match_id = item->match.match_id;
    d.user_id = item->match.user_id;
    d.rule_id = rule.id;
    d.rule_version = rule.version;
    d.kind = rule.prompt_kind;
    d.target = rule.definition;
    d.outcome = outcome;
    d.reason =
        outcome == "sent"
            ? absl::StrCat("sent ", rule.definition, " to ", d.user_id)
            : absl::StrCat("not sent (", outcome, ") for rule ", rule.id);
    d.matched_at = item->match.matched_at;
    d.decided_at = decided;
  }

  PromptRecord& MakePrompt(const RuleSpec& rule, absl::Time decided,
                           Item* item) {
    PromptRecord& p = item->prompt.emplace();
    p.prompt_id = absl::StrCat("p_", item->match.match_id);
    p.match_id = item->match.match_id;
    p.user_id = item->match.user_id;
    p.kind = rule.prompt_kind;
    p.rule_id = rule.id;
    p.definition_id = rule.definition;
    p.created_at = decided;
    p.due_at = decided + rule.delay;
    p.expires_at = p.due_at + absl::Hours(24);
    return p;
  }

  // The rendered prompt (as the orchestrator stores it) in `p.body`.
  void SetBody(const RuleSpec& rule, PromptRecord* p) {
    hark::v1::Prompt body = templates_[&rule - kRules];
    body.set_prompt_id(p->prompt_id);
    body.set_user_id(p->user_id);
    body.set_state(hark::v1::Prompt::PENDING);
    body.set_match_id(p->match_id);
    SetTimestamp(p->due_at, body.mutable_due_at());
    SetTimestamp(p->expires_at, body.mutable_expires_at());
    if (body.kind() == hark::v1::Prompt::INTERVIEW) {
      body.set_booking_url(absl::StrCat(
          "https://calendar.example.com/hark/pricing?token=", p->prompt_id));
    }
    body.SerializeToString(&p->body);
  }

  void BuildPromptTemplates() {
    auto choice_question = [](hark::v1::Prompt* p, const char* id,
                              const char* text,
                              absl::Span<const Choice> choices) {
      hark::v1::Question* q = p->add_questions();
      q->set_id(id);
      q->set_type(hark::v1::Question::SINGLE_CHOICE);
      q->set_text(text);
      q->set_required(true);
      for (const Choice& c : choices) {
        hark::v1::Choice* out = q->add_choices();
        out->set_id(c.id);
        out->set_label(c.label);
      }
    };
    auto question = [](hark::v1::Prompt* p, const char* id,
                       hark::v1::Question::Type type, const char* text) {
      hark::v1::Question* q = p->add_questions();
      q->set_id(id);
      q->set_type(type);
      q->set_text(text);
    };
    for (const RuleSpec& rule : kRules) {
      hark::v1::Prompt p;
      p.set_kind(rule.prompt_kind == 2 ? hark::v1::Prompt::INTERVIEW
                                       : hark::v1::Prompt::SURVEY);
      p.set_rule_id(rule.id);
      p.set_definition_id(rule.definition);
      switch (rule.kind) {
        case RuleKind::kOnboarding:
          p.set_title("Quick question, there");
          choice_question(&p, "blocker",
                          "What stopped you from finishing the setup?",
                          kOnboardingChoices);
          question(&p, "effort", hark::v1::Question::CES,
                   "How easy was the setup so far?");
          question(&p, "details", hark::v1::Question::TEXT,
                   "Anything that would have helped? (optional)");
          break;
        case RuleKind::kErrors:
          p.set_title("Sorry about the trouble");
          choice_question(&p, "impact",
                          "You ran into error E1042 a few times just now. How "
                          "did it affect you?",
                          kErrorChoices);
          question(&p, "task", hark::v1::Question::TEXT,
                   "What were you trying to do when it happened? (optional)");
          break;
        case RuleKind::kCancellation:
          p.set_title("Before you go, there");
          choice_question(&p, "reason",
                          "What is the main reason you cancelled?",
                          kCancelChoices);
          question(&p, "overall", hark::v1::Question::RATING,
                   "How would you rate your time with us overall?");
          question(&p, "win_back", hark::v1::Question::TEXT,
                   "What could we have done to keep you? (optional)");
          break;
        case RuleKind::kDowngrade:
          p.set_title(
              "Hi there, you recently moved from the pro plan to the free "
              "plan. Would you tell us in a 30-minute video call how you "
              "decide which plan is worth it? As a thank-you we send a $50 "
              "gift card.");
          p.set_incentive("$50 gift card");
          p.set_duration_minutes(30);
          break;
      }
      templates_.push_back(std::move(p));
    }
  }

  const Choice& PickChoice(const RuleSpec& rule, double progress) {
    absl::Span<const Choice> choices;
    switch (rule.kind) {
      case RuleKind::kOnboarding:
        choices = kOnboardingChoices;
        break;
      case RuleKind::kErrors:
        choices = kErrorChoices;
        break;
      default:
        choices = kCancelChoices;
        break;
    }
    std::vector<double> weights;
    for (const Choice& c : choices) weights.push_back(c.weight);
    // Pricing complaints at cancellation grow over the half year (a trend
    // for the report's weeks).
    if (rule.kind == RuleKind::kCancellation) weights[0] += 20 * progress;
    std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
    return choices[pick(rng_)];
  }

  // A sentence; of friction type `like` 55 % of the time when given.
  const Sentence& PickSentence(absl::string_view like) {
    if (!like.empty() && Uniform() < 0.55) {
      const auto& pool = by_friction_[FrictionIndex(like)];
      return *pool[UniformInt(0, static_cast<int>(pool.size()) - 1)];
    }
    return kSentences[UniformInt(0,
                                 static_cast<int>(std::size(kSentences)) - 1)];
  }

  void AddTag(ResponseRecord* r, absl::string_view friction,
              absl::string_view source, double confidence, bool primary) {
    TagRecord t;
    t.friction = std::string(friction);
    t.source = std::string(source);
    t.confidence = confidence;
    t.primary = primary;
    t.tagged_at = r->submitted_at;
    r->tags.push_back(std::move(t));
  }

  void MakeResponse(const RuleSpec& rule, size_t user, absl::Time submitted,
                    Item* item) {
    const PromptRecord& p = *item->prompt;
    ResponseRecord& r = item->response.emplace();
    r.response_id = absl::StrCat("r_", item->match.match_id);
    r.prompt_id = p.prompt_id;
    r.match_id = p.match_id;
    r.user_id = p.user_id;
    r.rule_id = rule.id;
    r.rule_version = rule.version;
    r.definition_id = rule.definition;
    r.kind = rule.prompt_kind;
    r.hypothesis = rule.hypothesis;
    r.submitted_at = submitted;
    r.updated_at = submitted;
    const UserTraits t = Traits(user);
    r.traits = {{"country", t.country}, {"plan", t.plan}};
    const double progress =
        std::clamp(absl::ToDoubleSeconds(submitted - start_) /
                       absl::ToDoubleSeconds(kSpan),
                   0.0, 1.0);

    hark::v1::Response body;
    std::string choice_friction;
    std::string text_friction;
    if (rule.kind == RuleKind::kDowngrade) {
      static constexpr const char* kStatuses[] = {
          "completed", "booked", "accepted", "declined", "no_show"};
      static constexpr double kWeights[] = {45, 15, 10, 20, 10};
      std::discrete_distribution<int> pick(std::begin(kWeights),
                                           std::end(kWeights));
      r.interview_status = kStatuses[pick(rng_)];
      body.set_interview_status(r.interview_status);
      if (r.interview_status == "completed") {
        // Notes of two sentences, tagged like free text.
        const Sentence& a = PickSentence("pricing");
        const Sentence& b = PickSentence("perception");
        r.text = absl::StrCat(a.text, "\n", b.text);
        body.set_interview_notes(r.text);
        text_friction = a.friction[0] != '\0' ? a.friction : b.friction;
      }
    } else {
      const Choice& choice = PickChoice(rule, progress);
      choice_friction = choice.friction;
      hark::v1::Answer* a = body.add_answers();
      a->set_question_id(rule.kind == RuleKind::kOnboarding ? "blocker"
                         : rule.kind == RuleKind::kErrors   ? "impact"
                                                            : "reason");
      a->set_choice(choice.id);
      if (rule.kind == RuleKind::kOnboarding && Uniform() < 0.85) {
        // CES 1-7, lower when something got in the way.
        const int score =
            choice_friction.empty() ? UniformInt(4, 7) : UniformInt(1, 6);
        r.score = score;
        hark::v1::Answer* s = body.add_answers();
        s->set_question_id("effort");
        s->set_score(score);
      }
      if (rule.kind == RuleKind::kCancellation && Uniform() < 0.9) {
        const int score = UniformInt(1, 5);
        r.score = score;
        hark::v1::Answer* s = body.add_answers();
        s->set_question_id("overall");
        s->set_score(score);
      }
      if (Uniform() < rule.text_share) {
        const Sentence& s = PickSentence(choice_friction);
        r.text = s.text;
        text_friction = s.friction;
        hark::v1::Answer* x = body.add_answers();
        x->set_question_id(rule.kind == RuleKind::kOnboarding ? "details"
                           : rule.kind == RuleKind::kErrors   ? "task"
                                                              : "win_back");
        x->set_text(r.text);
      }
    }
    // As the tagger would: choice, else text, else the hypothesis; another
    // type in the text is a secondary tag.
    if (!choice_friction.empty()) {
      AddTag(&r, choice_friction, "choice", 0.9, true);
      if (!text_friction.empty() && text_friction != choice_friction) {
        AddTag(&r, text_friction, "text", 0.5, false);
        item->secondary = true;
      }
    } else if (!text_friction.empty()) {
      AddTag(&r, text_friction, "text", UniformInt(0, 2) == 0 ? 0.6 : 0.5,
             true);
    } else {
      AddTag(&r, rule.hypothesis, "hypothesis", 0.3, true);
    }
    body.SerializeToString(&r.body);

    if (Uniform() < kManualShare) {
      static constexpr const char* kFrictions[] = {"product", "process",
                                                   "pricing", "perception"};
      static constexpr double kWeights[] = {35, 30, 30, 5};
      std::discrete_distribution<int> pick(std::begin(kWeights),
                                           std::end(kWeights));
      TagRecord& m = item->manual.emplace();
      m.friction = kFrictions[pick(rng_)];
      m.source = "manual";
      m.confidence = 1.0;
      m.primary = true;
      m.tagged_by = "review";
      m.note = kManualNotes[UniformInt(
          0, static_cast<int>(std::size(kManualNotes)) - 1)];
      m.tagged_at =
          std::min(options_.end, submitted + absl::Hours(UniformInt(2, 72)));
    }
  }

  const ReviewSeedOptions& options_;
  std::mt19937_64 rng_;
  const absl::Time start_;
  const uint64_t match_salt_;
  uint64_t matches_ = 0;
  uint64_t events_ = 0;
  std::vector<const Sentence*> by_friction_[4];
  std::vector<hark::v1::Prompt> templates_;
};

// Progress lines every 5 s: the phase, rows done and the rate since the
// phase began.
class Progress {
 public:
  explicit Progress(const ReviewSeedOptions& options) : options_(options) {}
  void Begin(std::string phase) {
    phase_ = std::move(phase);
    phase_start_ = Clock::now();
    last_ = phase_start_;
  }
  void Maybe(size_t done, size_t total, bool force = false) {
    if (!options_.progress || (force && done == last_done_)) return;
    const Clock::time_point now = Clock::now();
    if (!force && now - last_ < std::chrono::seconds(5)) return;
    last_ = now;
    last_done_ = done;
    const double seconds = std::max(
        1e-9, std::chrono::duration<double>(now - phase_start_).count());
    options_.progress(absl::StrFormat(
        "seed: %s %s/%s, %s/s, %.0f s in all", phase_,
        Thousands(static_cast<double>(done)),
        Thousands(static_cast<double>(total)),
        Thousands(static_cast<double>(done) / seconds), Seconds()));
  }
  double Seconds() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

 private:
  using Clock = std::chrono::steady_clock;
  const ReviewSeedOptions& options_;
  const Clock::time_point start_ = Clock::now();
  std::string phase_;
  Clock::time_point phase_start_ = start_;
  Clock::time_point last_ = start_;
  size_t last_done_ = 0;
};

absl::Status Annotate(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(),
                      absl::StrCat("seeding: ", what, ": ", status.message()));
}

}  // namespace

absl::StatusOr<ReviewSeedResult> SeedReviewDatabase(
    const std::string& path, const ReviewSeedOptions& options) {
  if (options.responses == 0 || options.users == 0) {
    return absl::InvalidArgumentError("seeding: no responses or no users");
  }
  store::StoreOptions store_options;
  store_options.path = path;
  absl::StatusOr<std::unique_ptr<store::Store>> opened =
      store::OpenSqliteStore(store_options);
  if (!opened.ok()) return Annotate(opened.status(), "open " + path);
  store::Store& store = **opened;
  Generator gen(options);
  Progress progress(options);
  ReviewSeedResult result;

  // Users (first seen before the first match).
  for (size_t first = 0; first < options.users; first += 10000) {
    store::WriteBatch batch;
    batch.now = gen.start() - absl::Hours(24 * 7);
    for (size_t u = first; u < std::min(options.users, first + 10000); ++u) {
      batch.new_users.push_back(gen.UserId(u));
    }
    absl::StatusOr<store::WriteResult> written = store.Write(batch);
    if (!written.ok()) return Annotate(written.status(), "users");
    result.users += batch.new_users.size();
  }

  const double slot =
      absl::ToDoubleSeconds(kSpan) / static_cast<double>(options.responses);
  progress.Begin("responses");
  const std::vector<store::PromptState> from = {PromptState::kDelivered,
                                                PromptState::kShown};
  for (size_t first = 0; first < options.responses; first += kChunk) {
    const size_t last = std::min(options.responses, first + kChunk);
    std::vector<Generator::Item> items;
    items.reserve((last - first) * 6 / 5 + 1);
    for (size_t i = first; i < last; ++i) {
      const double at = (static_cast<double>(i) + gen.Uniform()) * slot;
      items.push_back(gen.Responder(gen.start() + absl::Seconds(at)));
    }
    const size_t others = static_cast<size_t>(
        kNonResponders * static_cast<double>(last - first) + gen.Uniform());
    for (size_t k = 0; k < others; ++k) {
      const double at = (static_cast<double>(first) +
                         gen.Uniform() * static_cast<double>(last - first)) *
                        slot;
      items.push_back(gen.NonResponder(gen.start() + absl::Seconds(at)));
    }
    std::vector<MatchRecord> matches;
    std::vector<DecisionRecord> decisions;
    std::vector<PromptRecord> prompts;
    for (Generator::Item& item : items) {
      matches.push_back(std::move(item.match));
      decisions.push_back(std::move(item.decision));
      if (item.prompt.has_value()) prompts.push_back(std::move(*item.prompt));
    }
    if (absl::Status s = store.AppendMatches(matches); !s.ok()) {
      return Annotate(s, "AppendMatches");
    }
    absl::StatusOr<std::vector<bool>> stored =
        store.AppendDecisions(decisions, prompts);
    if (!stored.ok()) return Annotate(stored.status(), "AppendDecisions");
    result.matches += matches.size();
    result.decisions += decisions.size();
    result.prompts += prompts.size();
    for (Generator::Item& item : items) {
      if (!item.response.has_value()) continue;
      absl::StatusOr<ResponseRecord> inserted =
          store.InsertResponse(*item.response, from);
      if (!inserted.ok()) {
        return Annotate(inserted.status(),
                        "InsertResponse " + item.response->response_id);
      }
      ++result.responses;
      if (item.secondary) ++result.secondary_tagged;
      if (item.manual.has_value()) {
        absl::StatusOr<ResponseRecord> tagged =
            store.AddManualTag(item.response->response_id, *item.manual);
        if (!tagged.ok()) return Annotate(tagged.status(), "AddManualTag");
        ++result.manual_tags;
      }
    }
    progress.Maybe(result.responses, options.responses);
  }
  progress.Maybe(result.responses, options.responses, /*force=*/true);

  // Outcome events: one subscription_cancelled for 8 % of the users, in
  // time order.
  std::vector<std::pair<absl::Time, size_t>> outcomes;
  for (size_t u = 0; u < options.users; ++u) {
    if (gen.Uniform() >= kOutcomeShare) continue;
    outcomes.emplace_back(
        gen.start() +
            absl::Seconds(gen.Uniform() * absl::ToDoubleSeconds(kSpan)),
        u);
  }
  std::sort(outcomes.begin(), outcomes.end());
  for (size_t first = 0; first < outcomes.size(); first += 2000) {
    store::WriteBatch batch;
    batch.now = options.end;
    for (size_t k = first; k < std::min(outcomes.size(), first + 2000); ++k) {
      const auto& [at, user] = outcomes[k];
      hark::v1::Event event;
      event.set_event_id(absl::StrFormat("outcome-%d-%d", options.seed, k));
      event.set_user_id(gen.UserId(user));
      event.set_name("subscription_cancelled");
      SetTimestamp(at, event.mutable_timestamp());
      (*event.mutable_properties())["source"] = StringValue("self_serve");
      store::EventRecord& record = batch.events.emplace_back();
      record.event_id = event.event_id();
      record.user_id = event.user_id();
      record.name = event.name();
      record.event_time = at;
      record.received_at = at + absl::Milliseconds(200);
      event.SerializeToString(&record.payload);
    }
    absl::StatusOr<store::WriteResult> written = store.Write(batch);
    if (!written.ok()) return Annotate(written.status(), "outcome events");
    result.outcome_events += batch.events.size();
  }
  result.seconds = progress.Seconds();
  return result;
}

}  // namespace hark::bench
