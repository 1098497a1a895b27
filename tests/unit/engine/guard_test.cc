// The guard index (server/engine/guard_index.h) and the engine with it: a
// rule set whose predicates start with an indexed equality must match
// exactly what the same predicates behind a leading `true &&` (which
// nothing indexes) match, with the same type-mismatch count.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/guard_index.h"
#include "tests/unit/engine/engine_test_util.h"

namespace hark::engine::testing {
namespace {

using internal::GuardIndex;
using Result = GuardIndex::Result;

hark::v1::Value Bool(bool b) {
  hark::v1::Value v;
  v.set_bool_value(b);
  return v;
}

class PropsInput : public rules::EvalInput {
 public:
  explicit PropsInput(const Props& props) {
    for (const auto& [k, v] : props) props_[k] = v;
  }
  absl::string_view EventName() const override { return ""; }
  const hark::v1::Value* Prop(absl::string_view key) const override {
    auto it = props_.find(key);
    return it == props_.end() ? nullptr : &it->second;
  }
  const hark::v1::Value* Trait(absl::string_view) const override {
    return nullptr;
  }
  const hark::v1::Value* StepProp(int, absl::string_view) const override {
    return nullptr;
  }

 private:
  absl::flat_hash_map<std::string, hark::v1::Value> props_;
};

rules::EqualityGuard GuardOf(const std::string& where) {
  return *Where(where)->guard();
}

TEST(GuardIndex, TellsWhichStepsOfTheEventCanPass) {
  GuardIndex index;
  const uint32_t a = index.Add("error", GuardOf(R"(props.code == "E1")"));
  const uint32_t b =
      index.Add("error", GuardOf(R"(props.code in ["E1", "E2"])"));
  const uint32_t n = index.Add("error", GuardOf("props.n == 0"));
  const uint32_t t = index.Add("error", GuardOf("props.ok == true"));
  const uint32_t other =
      index.Add("page_view", GuardOf(R"(props.code == "E1")"));
  EXPECT_EQ(index.slots(), 5u);
  EXPECT_EQ(index.keys(), 4u);  // code, n, ok of error; code of page_view

  index.Begin(
      index.KeysOf("error"),
      PropsInput({{"code", Str("E2")}, {"n", Num(-0.0)}, {"ok", Bool(false)}}));
  EXPECT_EQ(index.Check(a), Result::kFail);
  EXPECT_EQ(index.Check(b), Result::kPass);
  EXPECT_EQ(index.Check(n), Result::kPass);  // -0 == 0
  EXPECT_EQ(index.Check(t), Result::kFail);
  // Not a step of this event: the caller must evaluate it.
  EXPECT_EQ(index.Check(other), Result::kUnknown);

  // Missing or of another kind: a type mismatch, as evaluating would count.
  index.Begin(index.KeysOf("error"),
              PropsInput({{"code", Num(1)}, {"ok", Str("true")}}));
  EXPECT_EQ(index.Check(a), Result::kMismatch);
  EXPECT_EQ(index.Check(b), Result::kMismatch);
  EXPECT_EQ(index.Check(n), Result::kMismatch);
  EXPECT_EQ(index.Check(t), Result::kMismatch);

  // NaN equals nothing, without a mismatch; a pass does not outlive its
  // event.
  index.Begin(index.KeysOf("error"),
              PropsInput({{"code", Str("E1")},
                          {"n", Num(std::numeric_limits<double>::quiet_NaN())},
                          {"ok", Bool(true)}}));
  EXPECT_EQ(index.Check(a), Result::kPass);
  EXPECT_EQ(index.Check(n), Result::kFail);
  EXPECT_EQ(index.Check(t), Result::kPass);
  index.Begin(index.KeysOf("error"), PropsInput({}));
  EXPECT_EQ(index.Check(a), Result::kMismatch);
  EXPECT_EQ(index.Check(t), Result::kMismatch);

  index.Begin(index.KeysOf("page_view"), PropsInput({{"code", Str("E1")}}));
  EXPECT_EQ(index.Check(other), Result::kPass);
  EXPECT_EQ(index.Check(a), Result::kUnknown);
}

// The rule set under test; `unguarded` puts `true && (...)` around every
// predicate, which means the same but has no guard.
std::shared_ptr<const rules::RuleSet> Rules(bool unguarded, bool cross_step,
                                            bool reversed) {
  auto f = [unguarded](std::string event, std::string where,
                       std::vector<std::string> aliases = {}) {
    if (unguarded) where = absl::StrCat("true && (", where, ")");
    return Filter(std::move(event), std::move(where), std::move(aliases));
  };
  std::vector<rules::Rule> list;
  list.push_back(
      MatchRule("m_code", f("e", R"(props.code == "A" && props.n > 2)")));
  list.push_back(MatchRule("m_in", f("e", R"(props.code in ["A", "B"])")));
  list.push_back(MatchRule("m_num", f("e", "props.n == 0")));
  list.push_back(MatchRule(
      "m_bool", f("e", R"(props.flag == true && props.code != "C")")));
  list.push_back(CountRule("c_b", f("e", R"(props.code == "B")"), 2,
                           absl::Minutes(1), {"n"}));
  list.push_back(
      SequenceRule("s_absent",
                   {Step("a", f("s", R"(props.kind == "k1")")),
                    Step("b", f("e", R"(props.kind in ["k1", "k2"])"))},
                   absl::Minutes(2), f("x", "props.n in [1, 2]")));
  if (cross_step) {
    list.push_back(SequenceRule(
        "s_cross",
        {Step("a", f("s", R"(props.code == "A")")),
         Step("b",
              f("e", R"(props.code == "A" && props.n > a.props.n)", {"a"}))},
        absl::Minutes(5), f("x", R"(props.code == a.props.code)", {"a"})));
  }
  if (reversed) std::reverse(list.begin(), list.end());
  return Build(std::move(list));
}

std::vector<std::tuple<std::string, std::string, std::string, absl::Time, bool,
                       std::vector<int64_t>>>
Summary(const std::vector<MatchOut>& matches) {
  std::vector<std::tuple<std::string, std::string, std::string, absl::Time,
                         bool, std::vector<int64_t>>>
      out;
  for (const MatchOut& m : matches) {
    std::vector<int64_t> seqs;
    for (const MatchedEventRef& e : m.events) seqs.push_back(e.seq);
    out.emplace_back(m.rule_id, m.user_id, m.group_key, m.matched_at,
                     m.at_deadline, std::move(seqs));
  }
  return out;
}

class GuardedEngine : public ::testing::TestWithParam<bool> {};

TEST_P(GuardedEngine, MatchesWhatTheUnindexedRulesMatch) {
  const bool cross_step = GetParam();
  EngineOptions options;
  options.allowed_lateness = absl::Seconds(30);
  Driver guarded(Rules(false, cross_step, false), options);
  Driver plain(Rules(true, cross_step, false), options);

  const std::vector<std::pair<bool, hark::v1::Value>> codes = {{true, Str("A")},
                                                               {true, Str("B")},
                                                               {true, Str("C")},
                                                               {true, Num(1)},
                                                               {false, {}}};
  const std::vector<std::pair<bool, hark::v1::Value>> ns = {
      {true, Num(0)}, {true, Num(-0.0)}, {true, Num(1)}, {true, Num(2)},
      {true, Num(3)}, {true, Str("3")},  {false, {}}};
  const std::vector<std::pair<bool, hark::v1::Value>> flags = {
      {true, Bool(true)},
      {true, Bool(false)},
      {true, Str("true")},
      {false, {}}};
  const std::vector<std::pair<bool, hark::v1::Value>> kinds = {
      {true, Str("k1")}, {true, Str("k2")}, {true, Num(1)}, {false, {}}};
  const char* names[] = {"e", "e", "s", "x"};

  std::mt19937 rng(11);
  absl::Duration now;
  for (int i = 0; i < 20000; ++i) {
    if (i == 10000) {
      // A reload to the same rules in another order: new slots, same
      // state.
      guarded.engine().Reload(Rules(false, cross_step, true));
      plain.engine().Reload(Rules(true, cross_step, true));
    }
    now += absl::Seconds(rng() % 20);
    // Now and then an event from the past, inside or beyond the lateness.
    const absl::Duration at =
        rng() % 10 == 0 ? now - absl::Seconds(rng() % 60) : now;
    const std::string user = absl::StrCat("u", rng() % 6);
    const std::string name = names[rng() % 4];
    Props props;
    auto pick = [&](const char* key, const auto& choices) {
      const auto& [present, value] = choices[rng() % choices.size()];
      if (present) props.emplace_back(key, value);
    };
    pick("code", codes);
    pick("n", ns);
    pick("flag", flags);
    pick("kind", kinds);
    ASSERT_EQ(Summary(guarded.Send(user, name, at, props)),
              Summary(plain.Send(user, name, at, props)))
        << "event " << i;
    if (i % 100 == 99) {
      ASSERT_EQ(Summary(guarded.Advance(now + absl::Minutes(1))),
                Summary(plain.Advance(now + absl::Minutes(1))));
    }
  }
  EXPECT_GT(guarded.all().size(), 1000u);
  for (const char* rule :
       {"m_code", "m_in", "m_num", "m_bool", "c_b", "s_absent"}) {
    EXPECT_TRUE(
        std::any_of(guarded.all().begin(), guarded.all().end(),
                    [rule](const MatchOut& m) { return m.rule_id == rule; }))
        << rule << " never matched: the test would not see a wrong guard";
  }
  EXPECT_EQ(guarded.engine().stats().live_states,
            plain.engine().stats().live_states);
  // A step whose predicate reads earlier steps is evaluated only once its
  // record is found, unless its guard rules the event out before: there
  // the counts differ by design.
  if (!cross_step) {
    EXPECT_EQ(guarded.engine().stats().type_mismatches,
              plain.engine().stats().type_mismatches);
    EXPECT_GT(guarded.engine().stats().type_mismatches, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutCrossStepPredicates, GuardedEngine,
                         ::testing::Bool());

}  // namespace
}  // namespace hark::engine::testing
