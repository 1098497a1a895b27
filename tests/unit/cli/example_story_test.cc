// The demo of examples/README.md, without a server: examples/events.jsonl,
// shifted to now as `hark events send --shift-to-now` does, fed to harkd's
// engine with the shipped rules (rules/) the way harkd feeds it (its clock
// moving the watermark), must set off every shipped rule for the user whose
// story is written for it, and nothing else.

#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/hark/event_json.h"
#include "clients/hark/time_shift.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/engine.h"
#include "server/rules/rule_set.h"

namespace hark::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The user traits of the demo: `hark users identify u-1004 plan=pro`.
class DemoTraits final : public engine::TraitSource {
 public:
  DemoTraits() { plan_.set_string_value("pro"); }
  const hark::v1::Value* Trait(absl::string_view user_id,
                               absl::string_view key) const override {
    return user_id == "u-1004" && key == "plan" ? &plan_ : nullptr;
  }

 private:
  hark::v1::Value plan_;
};

// What harkd accepts, in miniature: a lowercase name and a timestamp.
bool HarkdWouldAccept(const hark::v1::Event& event) {
  if (!event.has_timestamp() || event.name().empty()) return false;
  for (char c : event.name()) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) &&
        std::string("_.:-").find(c) == std::string::npos) {
      return false;
    }
  }
  return true;
}

std::vector<std::string> Describe(const std::vector<engine::MatchOut>& out,
                                  absl::Time origin) {
  std::vector<std::string> lines;
  for (const engine::MatchOut& m : out) {
    lines.push_back(absl::StrCat(m.rule_id, " ", m.user_id, " ",
                                 absl::FormatDuration(m.matched_at - origin)));
  }
  return lines;
}

TEST(ExampleStoryTest, ShiftedToNowEveryShippedRuleFires) {
  std::ifstream in(HARK_SOURCE_DIR "/examples/events.jsonl");
  ASSERT_TRUE(in) << "examples/events.jsonl";
  std::vector<hark::v1::Event> events;
  std::string line;
  while (std::getline(in, line)) {
    if (IsSkippedLine(line)) continue;
    hark::v1::Event event;
    ASSERT_TRUE(EventFromJsonLine(line, &event).ok()) << line;
    events.push_back(std::move(event));
  }

  // `now` as the CLI reads it; harkd gets the events a little later.
  const absl::Time now = absl::FromUnixSeconds(1795340000);
  const absl::Time server_clock = now + absl::Seconds(10);
  std::optional<TimeShift> shift = PlanShiftToNow(events, now);
  ASSERT_TRUE(shift.has_value());
  // Written in time order: a much older event after a newer one is late.
  absl::Time previous = absl::InfinitePast();
  for (hark::v1::Event& event : events) {
    ASSERT_TRUE(ShiftTimestamp(shift->by, &event).ok());
    if (!event.has_timestamp()) continue;
    const absl::Time t = absl::FromUnixSeconds(event.timestamp().seconds());
    EXPECT_GE(t, previous) << event.event_id() << " is out of order";
    previous = t;
  }
  // The file spans well under harkd's default allowed lateness (1m).
  EXPECT_LE(shift->latest - shift->earliest, absl::Seconds(30));

  absl::StatusOr<std::vector<rules::SourceFile>> files =
      rules::ReadRuleDir(HARK_SOURCE_DIR "/rules");
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<rules::LoadError> errors;
  absl::StatusOr<std::shared_ptr<const rules::RuleSet>> set =
      rules::LoadRuleSet(*files, &errors);
  ASSERT_TRUE(set.ok()) << set.status();
  engine::Engine engine(*set, engine::EngineOptions{});
  DemoTraits traits;
  std::vector<engine::MatchOut> out;
  std::set<std::string> stored;
  int64_t seq = 0;
  engine.AdvanceTo(server_clock, &out);
  for (const hark::v1::Event& event : events) {
    if (!HarkdWouldAccept(event)) continue;
    if (!stored.insert(event.event_id()).second) continue;  // duplicate
    engine.Process(++seq, event, traits, &out);
  }
  EXPECT_EQ(seq, 28);
  EXPECT_EQ(engine.stats().late_events, 0u);

  const absl::Time origin = shift->earliest + shift->by;  // the first event
  // Times from the first event: 13s the third error, 19s the downgrade,
  // 23s the cancellation.
  EXPECT_THAT(Describe(out, origin),
              ElementsAre("repeated_errors u-1002 13s",
                          "downgrade_after_upgrade u-1003 19s",
                          "cancellation u-1004 23s"));

  // u-1001's onboarding_started (at 1s) has no completion: the match comes
  // once harkd's clock is past its deadline (30m later) plus the allowed
  // lateness; u-1002 completed.
  out.clear();
  engine.AdvanceTo(
      origin + absl::Seconds(1) + absl::Minutes(31) - absl::Seconds(1), &out);
  EXPECT_THAT(out, IsEmpty());
  engine.AdvanceTo(
      origin + absl::Seconds(1) + absl::Minutes(31) + absl::Seconds(1), &out);
  EXPECT_THAT(Describe(out, origin),
              ElementsAre("onboarding_abandonment u-1001 30m1s"));
}

}  // namespace
}  // namespace hark::cli
