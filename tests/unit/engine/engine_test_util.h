#ifndef HARK_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_
#define HARK_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_

// Rule builders, event builders and a small driver for the engine tests.
// Everything runs on explicit times: no sleeps, no wall clock.

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "hark/v1/common.pb.h"
#include "hark/v1/ingest.pb.h"
#include "server/engine/engine.h"
#include "server/rules/expr.h"
#include "server/rules/rule_set.h"

namespace hark::engine {

// For readable gtest failure messages.
inline void PrintTo(const MatchOut& m, std::ostream* os) {
  *os << "{" << m.rule_id << " " << m.user_id << " group=" << m.group_key
      << " at=" << absl::FormatTime(m.matched_at)
      << (m.at_deadline ? " (deadline)" : "") << " events=" << m.events.size()
      << "}";
}

}  // namespace hark::engine

namespace hark::engine::testing {

// 2026-01-01T00:00:00Z.
inline const absl::Time kT0 = absl::FromUnixSeconds(1767225600);

inline hark::v1::Value Str(std::string s) {
  hark::v1::Value v;
  v.set_string_value(std::move(s));
  return v;
}
inline hark::v1::Value Num(double d) {
  hark::v1::Value v;
  v.set_number_value(d);
  return v;
}

using Props = std::vector<std::pair<std::string, hark::v1::Value>>;

// Compiles a `where:`; `aliases` are the earlier steps of a sequence.
inline std::shared_ptr<const rules::Predicate> Where(
    const std::string& text, std::vector<std::string> aliases = {}) {
  rules::ExprEnv env;
  env.step_aliases = std::move(aliases);
  rules::ExprError error;
  auto compiled = rules::CompilePredicate(text, env, &error);
  EXPECT_TRUE(compiled.ok()) << text << ": " << error.message;
  if (!compiled.ok()) return nullptr;
  return std::shared_ptr<const rules::Predicate>(std::move(compiled).value());
}

inline rules::EventFilter Filter(std::string event, std::string where = "",
                                 std::vector<std::string> aliases = {}) {
  rules::EventFilter f;
  f.event = std::move(event);
  if (!where.empty()) f.where = Where(where, std::move(aliases));
  return f;
}

inline rules::Rule MatchRule(std::string id, rules::EventFilter filter) {
  rules::Rule r;
  r.id = std::move(id);
  r.pattern = rules::MatchPattern{std::move(filter)};
  return r;
}

inline rules::Rule CountRule(std::string id, rules::EventFilter filter,
                             int at_least, absl::Duration within,
                             std::vector<std::string> group_by = {}) {
  rules::Rule r;
  r.id = std::move(id);
  rules::CountPattern c;
  c.filter = std::move(filter);
  c.at_least = at_least;
  c.within = within;
  c.group_by = std::move(group_by);
  r.pattern = std::move(c);
  return r;
}

inline rules::Rule SequenceRule(
    std::string id, std::vector<rules::SequencePattern::Step> steps,
    absl::Duration within,
    std::optional<rules::EventFilter> absent = std::nullopt) {
  rules::Rule r;
  r.id = std::move(id);
  rules::SequencePattern s;
  s.steps = std::move(steps);
  s.within = within;
  s.absent = std::move(absent);
  r.pattern = std::move(s);
  return r;
}

inline rules::SequencePattern::Step Step(std::string alias,
                                         rules::EventFilter filter) {
  return rules::SequencePattern::Step{std::move(alias), std::move(filter)};
}

inline std::shared_ptr<const rules::RuleSet> Build(
    std::vector<rules::Rule> rule_list,
    std::vector<rules::RuleTest> tests = {}) {
  rules::RuleSetBuilder builder;
  for (rules::Rule& r : rule_list) builder.AddRule(std::move(r));
  for (rules::RuleTest& t : tests) builder.AddTest(std::move(t));
  auto set = builder.Build();
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : nullptr;
}

// The users of `matches`, in order.
inline std::vector<std::string> Users(const std::vector<MatchOut>& matches) {
  std::vector<std::string> users;
  for (const MatchOut& m : matches) users.push_back(m.user_id);
  return users;
}

inline hark::v1::Event MakeEvent(const std::string& user,
                                 const std::string& name, absl::Time at,
                                 const Props& props = {}) {
  hark::v1::Event e;
  e.set_user_id(user);
  e.set_name(name);
  const int64_t micros = absl::ToUnixMicros(at);
  e.mutable_timestamp()->set_seconds(micros / 1000000);
  e.mutable_timestamp()->set_nanos(static_cast<int32_t>(micros % 1000000) *
                                   1000);
  for (const auto& [k, v] : props) (*e.mutable_properties())[k] = v;
  return e;
}

class MapTraits : public TraitSource {
 public:
  void Set(const std::string& user, const std::string& key, hark::v1::Value v) {
    traits_[user][key] = std::move(v);
  }
  const hark::v1::Value* Trait(absl::string_view user,
                               absl::string_view key) const override {
    auto u = traits_.find(user);
    if (u == traits_.end()) return nullptr;
    auto it = u->second.find(key);
    return it == u->second.end() ? nullptr : &it->second;
  }

 private:
  absl::flat_hash_map<std::string,
                      absl::flat_hash_map<std::string, hark::v1::Value>>
      traits_;
};

// Feeds events with increasing seqs and collects the matches.
class Driver {
 public:
  explicit Driver(std::shared_ptr<const rules::RuleSet> set,
                  EngineOptions options = {})
      : engine_(std::make_unique<Engine>(std::move(set), options)) {}

  // Sends an event at kT0 + at; returns the matches it produced.
  std::vector<MatchOut> Send(const std::string& user, const std::string& name,
                             absl::Duration at, const Props& props = {}) {
    std::vector<MatchOut> out;
    engine_->Process(++seq_, MakeEvent(user, name, kT0 + at, props), traits_,
                     &out);
    Collect(out);
    return out;
  }
  // Moves the wall clock to kT0 + at; returns the matches that fired.
  std::vector<MatchOut> Advance(absl::Duration at) {
    std::vector<MatchOut> out;
    engine_->AdvanceTo(kT0 + at, &out);
    Collect(out);
    return out;
  }

  Engine& engine() { return *engine_; }
  MapTraits& traits() { return traits_; }
  const std::vector<MatchOut>& all() const { return all_; }
  int64_t seq() const { return seq_; }
  void set_seq(int64_t seq) { seq_ = seq; }
  // Replaces the engine (e.g. with one restored from a checkpoint).
  void Reset(std::unique_ptr<Engine> engine) { engine_ = std::move(engine); }

 private:
  void Collect(const std::vector<MatchOut>& out) {
    all_.insert(all_.end(), out.begin(), out.end());
  }

  std::unique_ptr<Engine> engine_;
  MapTraits traits_;
  int64_t seq_ = 0;
  std::vector<MatchOut> all_;
};

}  // namespace hark::engine::testing

#endif  // HARK_TESTS_UNIT_ENGINE_ENGINE_TEST_UTIL_H_
