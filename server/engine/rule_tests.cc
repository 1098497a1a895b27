// RunRuleTests: the `tests:` blocks of rule files on a pseudo clock.

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/engine/engine.h"

namespace hark::engine {
namespace {

// The traits of the test's users as `identify:` entries set them so far.
class TestTraits final : public TraitSource {
 public:
  void Set(const std::string& user,
           const google::protobuf::Map<std::string, hark::v1::Value>& traits) {
    auto& mine = users_[user];
    for (const auto& [key, value] : traits) mine[key] = value;
  }
  const hark::v1::Value* Trait(absl::string_view user_id,
                               absl::string_view key) const override {
    auto user = users_.find(user_id);
    if (user == users_.end()) return nullptr;
    auto it = user->second.find(key);
    return it == user->second.end() ? nullptr : &it->second;
  }

 private:
  absl::flat_hash_map<std::string,
                      absl::flat_hash_map<std::string, hark::v1::Value>>
      users_;
};

std::string Line(absl::string_view rule, absl::string_view user,
                 absl::Duration at) {
  return absl::StrCat(rule, " ", user, " at=", absl::FormatDuration(at));
}

}  // namespace

std::vector<TestOutcome> RunRuleTests(const rules::RuleSet& rules,
                                      const EngineOptions& options) {
  // The pseudo clock's origin; `at` offsets are relative to it.
  const absl::Time t0 = absl::FromCivil(absl::CivilSecond(2026, 1, 1, 0, 0, 0),
                                        absl::UTCTimeZone());
  // The engine wants shared ownership; `rules` outlives this call.
  const std::shared_ptr<const rules::RuleSet> set(std::shared_ptr<void>(),
                                                  &rules);
  std::vector<TestOutcome> outcomes;
  for (const rules::RuleTest& test : rules.tests()) {
    TestOutcome outcome;
    outcome.path = test.pos.path;
    outcome.name = test.name;

    // Traits and events in `at` order (stable); at the same `at`, traits
    // first, so that an `identify` is visible to the event beside it.
    struct Item {
      absl::Duration at;
      bool is_event;
      size_t index;
    };
    std::vector<Item> items;
    for (size_t i = 0; i < test.traits.size(); ++i) {
      items.push_back(Item{test.traits[i].at, false, i});
    }
    for (size_t i = 0; i < test.events.size(); ++i) {
      items.push_back(Item{test.events[i].at, true, i});
    }
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) {
                       if (a.at != b.at) return a.at < b.at;
                       return !a.is_event && b.is_event;
                     });

    Engine engine(set, options);
    TestTraits traits;
    std::vector<MatchOut> matches;
    absl::Duration last_at = absl::ZeroDuration();
    int64_t seq = 0;
    for (const Item& item : items) {
      last_at = std::max(last_at, item.at);
      if (!item.is_event) {
        const rules::RuleTest::Trait& trait = test.traits[item.index];
        traits.Set(trait.user, trait.traits);
        continue;
      }
      const rules::RuleTest::Event& e = test.events[item.index];
      hark::v1::Event event;
      event.set_event_id(e.event_id.empty() ? absl::StrCat("t", item.index)
                                            : e.event_id);
      event.set_user_id(e.user);
      event.set_name(e.event);
      const absl::Time at = t0 + e.at;
      const int64_t micros = absl::ToUnixMicros(at);
      event.mutable_timestamp()->set_seconds(
          micros >= 0 ? micros / 1000000 : (micros - 999999) / 1000000);
      event.mutable_timestamp()->set_nanos(static_cast<int32_t>(
          (micros - event.timestamp().seconds() * 1000000) * 1000));
      *event.mutable_properties() = e.props;
      engine.AdvanceTo(at, &matches);
      engine.Process(++seq, event, traits, &matches);
    }
    const absl::Duration run_for = test.run_for.value_or(
        rules.max_within() + options.allowed_lateness + absl::Seconds(1));
    engine.AdvanceTo(t0 + last_at + run_for, &matches);

    for (const rules::RuleTest::Expect& x : test.expect) {
      outcome.expected.push_back(Line(x.rule, x.user, x.at));
    }
    for (const MatchOut& m : matches) {
      outcome.actual.push_back(Line(m.rule_id, m.user_id, m.matched_at - t0));
    }
    std::sort(outcome.expected.begin(), outcome.expected.end());
    std::sort(outcome.actual.begin(), outcome.actual.end());
    outcome.passed = outcome.expected == outcome.actual;
    if (outcome.passed) {
      outcome.expected.clear();
      outcome.actual.clear();
    }
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace hark::engine
