// Randomized comparison of the engine with a naive model of the same
// semantics (maps of vectors, every deadline checked on every step). The
// model shares none of the engine's machinery (packed records, user index,
// pool, deadline wheel), which is what this test is after; it also checks
// live_states after every step, i.e. that state is freed exactly when its
// window closes. Checkpoints and reloads are taken at random points; a
// variant also drops random users (Engine::DropUser) along the way.

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/engine/engine_test_util.h"

namespace hark::engine::testing {
namespace {

constexpr int64_t kSec = 1000000;
constexpr int64_t kLateness = 60 * kSec;

struct Ev {
  int64_t time;
  int64_t seq;
};

// "rule user group at=<micros> seqs"
std::string Key(const std::string& rule, const std::string& user,
                const std::string& group, int64_t at,
                const std::vector<int64_t>& seqs) {
  return absl::StrCat(rule, " ", user, " ", group, " at=", at, " [",
                      absl::StrJoin(seqs, ","), "]");
}

class Model {
 public:
  // The count rules of kCounts on `x`; sequence a -> b within 5m with
  // absent c; sequence s within 3m with absent c.
  void Process(int64_t seq, const std::string& user, const std::string& name,
               int64_t t, const std::string& g) {
    const bool late = w_ != INT64_MIN && t < w_;
    if (!late && t > max_event_) {
      max_event_ = t;
      Advance();
    }
    if (late) return;
    if (name == "x") {
      for (const CountSpec& c : kCounts) {
        Count(c, user, c.grouped ? g : "", t, seq);
      }
    }
    Sequence("funnel", {"a", "b"}, 300 * kSec, seqs_[user], user, name, t, seq);
    Sequence("lonely", {"s"}, 180 * kSec, lonely_[user], user, name, t, seq);
  }

  void AdvanceTo(int64_t wall) {
    if (wall > wall_) {
      wall_ = wall;
      Advance();
    }
  }

  // Forgets the user's state; returns {slots, armed deadlines} dropped.
  std::pair<uint64_t, uint64_t> DropUser(const std::string& user) {
    uint64_t slots = std::erase_if(counts_, [&](const auto& entry) {
      return std::get<1>(entry.first) == user;
    });
    uint64_t armed = 0;
    for (auto* states : {&seqs_, &lonely_}) {
      std::vector<Ev>& s = (*states)[user];
      slots += !s.empty();
      armed += s.size() == (states == &seqs_ ? 2u : 1u);
      s.clear();
    }
    return {slots, armed};
  }

  uint64_t armed() const {
    uint64_t n = 0;
    for (const auto& [u, s] : seqs_) n += s.size() == 2;
    for (const auto& [u, s] : lonely_) n += s.size() == 1;
    return n;
  }

  uint64_t live() const {
    uint64_t n = counts_.size();
    for (const auto& [u, s] : seqs_) n += !s.empty();
    for (const auto& [u, s] : lonely_) n += !s.empty();
    return n;
  }
  std::vector<std::string>& out() { return out_; }

 private:
  void Emit(const std::string& rule, const std::string& user,
            const std::string& group, int64_t at, const std::vector<Ev>& evs) {
    std::vector<int64_t> seqs;
    for (const Ev& e : evs) seqs.push_back(e.seq);
    out_.push_back(Key(rule, user, group, at, seqs));
  }

  // Three count rules on `x`, so that one event updates several records of
  // a user (the engine finds them through one listing of the user's
  // records, which each write and removal must keep in step).
  struct CountSpec {
    const char* rule;
    size_t at_least;
    int64_t within;
    bool grouped;
  };
  static constexpr CountSpec kCounts[] = {{"errors", 3, 120 * kSec, true},
                                          {"bursts", 2, 30 * kSec, true},
                                          {"many", 4, 240 * kSec, false}};

  void Count(const CountSpec& c, const std::string& user, const std::string& g,
             int64_t t, int64_t seq) {
    auto& ring = counts_[{c.rule, user, g}];
    std::erase_if(ring, [&](const Ev& e) { return e.time < w_ - c.within; });
    auto at =
        std::upper_bound(ring.begin(), ring.end(), t,
                         [](int64_t v, const Ev& e) { return v < e.time; });
    ring.insert(at, Ev{t, seq});
    if (ring.size() >= c.at_least) {
      if (ring.back().time - ring.front().time <= c.within) {
        Emit(c.rule, user, g, ring.back().time, ring);
        ring.clear();
      } else {
        ring.erase(ring.begin());
      }
    }
    if (ring.empty()) counts_.erase({c.rule, user, g});
  }

  static int64_t WithinOf(const std::string& rule) {
    for (const CountSpec& c : kCounts) {
      if (rule == c.rule) return c.within;
    }
    return 0;
  }

  void Advance() {
    const int64_t latest = std::max(max_event_, wall_);
    if (latest == INT64_MIN) return;
    w_ = std::max(w_, latest - kLateness);
    for (auto it = counts_.begin(); it != counts_.end();) {
      if (it->second.back().time + WithinOf(std::get<0>(it->first)) < w_) {
        it = counts_.erase(it);
      } else {
        ++it;
      }
    }
    Expire("funnel", 2, 300 * kSec, seqs_);
    Expire("lonely", 1, 180 * kSec, lonely_);
  }

  void Expire(const std::string& rule, size_t k, int64_t within,
              std::map<std::string, std::vector<Ev>>& states) {
    for (auto& [user, s] : states) {
      if (s.empty()) continue;
      const bool armed = s.size() == k;
      const int64_t exp = (armed ? s.back().time : s.front().time) + within;
      if (exp < w_) {
        if (armed) Emit(rule, user, "", exp, s);
        s.clear();
      }
    }
  }

  void Sequence(const std::string& rule, const std::vector<std::string>& steps,
                int64_t within, std::vector<Ev>& s, const std::string& user,
                const std::string& name, int64_t t, int64_t seq) {
    bool advanced = false;
    if (!s.empty()) {
      const size_t n = s.size();
      if (n < steps.size()) {
        if (name == steps[n] && t >= s.back().time &&
            t <= s.front().time + within) {
          s.push_back(Ev{t, seq});
          advanced = true;
        }
      } else if (name == "c" && t > s.back().time &&
                 t <= s.back().time + within) {
        s.clear();
      }
    }
    if (advanced || name != steps[0]) return;
    if (!s.empty() && t < s.front().time) return;
    if (s.size() == steps.size() && t > s.back().time + within) {
      Emit(rule, user, "", s.back().time + within, s);
    }
    s.assign(1, Ev{t, seq});
  }

  int64_t max_event_ = INT64_MIN;
  int64_t wall_ = INT64_MIN;
  int64_t w_ = INT64_MIN;
  // By (rule, user, group).
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<Ev>>
      counts_;
  std::map<std::string, std::vector<Ev>> seqs_;
  std::map<std::string, std::vector<Ev>> lonely_;
  std::vector<std::string> out_;
};

std::shared_ptr<const rules::RuleSet> Rules() {
  return Build(
      {CountRule("errors", Filter("x"), 3, absl::Minutes(2), {"g"}),
       CountRule("bursts", Filter("x"), 2, absl::Seconds(30), {"g"}),
       CountRule("many", Filter("x"), 4, absl::Minutes(4), {}),
       SequenceRule("funnel", {Step("", Filter("a")), Step("", Filter("b"))},
                    absl::Minutes(5), Filter("c")),
       SequenceRule("lonely", {Step("", Filter("s"))}, absl::Minutes(3),
                    Filter("c"))});
}

std::vector<std::string> Keys(const std::vector<MatchOut>& matches) {
  std::vector<std::string> keys;
  for (const MatchOut& m : matches) {
    std::vector<int64_t> seqs;
    for (const MatchedEventRef& e : m.events) seqs.push_back(e.seq);
    keys.push_back(
        Key(m.rule_id, m.user_id, m.group_key,
            absl::ToUnixMicros(m.matched_at) - absl::ToUnixMicros(kT0), seqs));
  }
  return keys;
}

// With `drops`, a random user is dropped now and then (which draws more
// random numbers, so the event streams differ from the run without).
void CompareWithTheModel(int seed, bool drops) {
  std::mt19937_64 rng(seed);
  auto set = Rules();
  auto engine = std::make_unique<Engine>(set, EngineOptions());
  MapTraits traits;
  Model model;
  std::vector<MatchOut> out;
  const char* names[] = {"x", "x", "x", "a", "b", "c", "s", "s", "y"};
  int64_t clock = 0;
  uint64_t dropped_deadlines = 0;
  // The checkpoints a restart would read: a full one and deltas after it.
  std::string full = engine->Checkpoint();
  std::vector<std::string> deltas;
  auto checkpoint = [&](bool take_full) {
    if (take_full || !engine->CanCheckpointDelta()) {
      full = engine->Checkpoint();
      deltas.clear();
      return;
    }
    absl::StatusOr<std::string> delta = engine->CheckpointDelta();
    ASSERT_TRUE(delta.ok()) << delta.status();
    deltas.push_back(*std::move(delta));
  };
  for (int64_t seq = 1; seq <= 4000; ++seq) {
    clock += static_cast<int64_t>(rng() % (20 * kSec));
    if (rng() % 50 == 0) {
      // A quiet stretch: only the wall clock moves.
      const int64_t wall = clock + static_cast<int64_t>(rng() % (400 * kSec));
      engine->AdvanceTo(kT0 + absl::Microseconds(wall), &out);
      model.AdvanceTo(wall);
      clock = std::max(clock, wall - kLateness);
    }
    int64_t t = clock;
    if (rng() % 5 == 0) t -= static_cast<int64_t>(rng() % (90 * kSec));
    // Some timestamps on exact boundaries (whole minutes).
    if (rng() % 4 == 0) t = t / (60 * kSec) * (60 * kSec);
    const std::string user = absl::StrCat("u", rng() % 6);
    const std::string name = names[rng() % 9];
    const std::string g = absl::StrCat(rng() % 2);
    hark::v1::Event e =
        MakeEvent(user, name, kT0 + absl::Microseconds(t), {{"g", Str(g)}});
    engine->Process(seq, e, traits, &out);
    model.Process(seq, user, name, t, g);
    ASSERT_EQ(engine->stats().live_states, model.live()) << "seq " << seq;
    ASSERT_EQ(engine->stats().pending_deadlines, model.armed())
        << "seq " << seq;
    if (drops && rng() % 40 == 0) {
      const std::string dropped = absl::StrCat("u", rng() % 6);
      const DropReport report = engine->DropUser(dropped);
      const auto [slots, armed] = model.DropUser(dropped);
      ASSERT_EQ(report.slots, slots) << "seq " << seq;
      ASSERT_EQ(report.deadlines, armed) << "seq " << seq;
      dropped_deadlines += armed;
      ASSERT_EQ(engine->stats().live_states, model.live()) << "seq " << seq;
      ASSERT_EQ(engine->stats().pending_deadlines, model.armed());
    }

    if (rng() % 60 == 0) checkpoint(rng() % 4 == 0);
    if (rng() % 500 == 0) {
      // Restart from the checkpoints, brought up to date, or reload an
      // identical rule set.
      checkpoint(false);
      engine = std::make_unique<Engine>(set, EngineOptions());
      ASSERT_TRUE(engine->Restore(full, deltas).ok());
      ASSERT_EQ(engine->stats().live_states, model.live());
      ASSERT_EQ(engine->stats().pending_deadlines, model.armed());
      ASSERT_TRUE(engine->CanCheckpointDelta());
    } else if (rng() % 500 == 0) {
      ReloadReport report = engine->Reload(Rules());
      ASSERT_EQ(report.kept.size(), 5u);
    }
  }
  engine->AdvanceTo(kT0 + absl::Microseconds(clock) + absl::Hours(1), &out);
  model.AdvanceTo(clock + 3600 * kSec);
  EXPECT_EQ(engine->stats().live_states, 0u);
  EXPECT_EQ(model.live(), 0u);

  std::vector<std::string> got = Keys(out);
  std::vector<std::string> want = model.out();
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_GT(want.size(), 50u);
  EXPECT_EQ(got, want);
  if (drops) {
    EXPECT_GT(dropped_deadlines, 0u);
  }
}

class ModelTest : public ::testing::TestWithParam<int> {};

TEST_P(ModelTest, EngineAgreesWithTheModel) {
  CompareWithTheModel(GetParam(), /*drops=*/false);
}

TEST_P(ModelTest, EngineAgreesWithTheModelWhenUsersAreDropped) {
  CompareWithTheModel(GetParam(), /*drops=*/true);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ModelTest, ::testing::Range(1, 9));

}  // namespace
}  // namespace hark::engine::testing
