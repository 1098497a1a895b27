#include "clients/hark/time_shift.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "clients/hark/event_json.h"
#include "clients/hark/values.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::cli {
namespace {

using ::testing::HasSubstr;

absl::Time At(absl::string_view rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

hark::v1::Event Parse(absl::string_view line) {
  hark::v1::Event event;
  absl::Status status = EventFromJsonLine(line, &event);
  EXPECT_TRUE(status.ok()) << status << ": " << line;
  return event;
}

std::string Time(const hark::v1::Event& event) {
  return FormatRfc3339(event.timestamp());
}

// Shifts like `hark events send --shift-to-now` does.
std::optional<TimeShift> ShiftAll(std::vector<hark::v1::Event>& events,
                                  absl::Time now) {
  std::optional<TimeShift> shift = PlanShiftToNow(events, now);
  if (!shift.has_value()) return shift;
  for (hark::v1::Event& event : events) {
    absl::Status status = ShiftTimestamp(shift->by, &event);
    EXPECT_TRUE(status.ok()) << status;
  }
  return shift;
}

TEST(TimeShiftTest, LatestEventLandsOnNowAndSpacingIsKept) {
  // Out of order on purpose: the latest is found wherever it is.
  std::vector<hark::v1::Event> events = {
      Parse(R"({"event_id": "a", "user_id": "u", "name": "x",
                "timestamp": "2026-11-01T10:00:00Z"})"),
      Parse(R"({"event_id": "b", "user_id": "u", "name": "x",
                "timestamp": "2026-11-01T10:05:30Z",
                "properties": {"renews_at": {"$timestamp": "2026-12-01T00:00:00Z"}}})"),
      Parse(R"({"event_id": "c", "user_id": "u", "name": "x"})"),
      Parse(R"({"event_id": "d", "user_id": "u", "name": "x",
                "timestamp": "2026-11-01T09:59:59.250Z"})"),
  };
  std::optional<TimeShift> shift = ShiftAll(events, At("2026-11-22T12:00:00Z"));
  ASSERT_TRUE(shift.has_value());
  EXPECT_EQ(shift->latest, At("2026-11-01T10:05:30Z"));
  EXPECT_EQ(shift->earliest, At("2026-11-01T09:59:59.250Z"));
  EXPECT_EQ(shift->by, At("2026-11-22T12:00:00Z") - At("2026-11-01T10:05:30Z"));

  EXPECT_EQ(Time(events[0]), "2026-11-22T11:54:30Z");
  EXPECT_EQ(Time(events[1]), "2026-11-22T12:00:00Z");
  EXPECT_EQ(Time(events[3]), "2026-11-22T11:54:29.25Z");
  // No timestamp: still none (harkd rejects the event as before).
  EXPECT_FALSE(events[2].has_timestamp());
  // Only the event time moves: ids and time-valued properties stay.
  EXPECT_EQ(events[1].event_id(), "b");
  EXPECT_EQ(
      FormatRfc3339(events[1].properties().at("renews_at").timestamp_value()),
      "2026-12-01T00:00:00Z");
}

TEST(TimeShiftTest, NowIsCutToWholeSeconds) {
  std::vector<hark::v1::Event> events = {
      Parse(R"({"event_id": "a", "user_id": "u", "name": "x",
                "timestamp": "2026-11-01T10:00:00Z"})")};
  std::optional<TimeShift> shift =
      ShiftAll(events, At("2026-11-22T12:00:07.999Z"));
  ASSERT_TRUE(shift.has_value());
  EXPECT_EQ(Time(events[0]), "2026-11-22T12:00:07Z");
  EXPECT_EQ(FormatShiftAmount(shift->by), "+21d 2h 0m 7s");
}

TEST(TimeShiftTest, FutureFileMovesBack) {
  std::vector<hark::v1::Event> events = {
      Parse(R"({"event_id": "a", "user_id": "u", "name": "x",
                "timestamp": "2027-01-01T00:00:00Z"})"),
      Parse(R"({"event_id": "b", "user_id": "u", "name": "x",
                "timestamp": "2027-01-01T00:10:00Z"})")};
  std::optional<TimeShift> shift = ShiftAll(events, At("2027-01-01T00:00:00Z"));
  ASSERT_TRUE(shift.has_value());
  EXPECT_EQ(shift->by, -absl::Minutes(10));
  EXPECT_EQ(Time(events[0]), "2026-12-31T23:50:00Z");
  EXPECT_EQ(Time(events[1]), "2027-01-01T00:00:00Z");
}

TEST(TimeShiftTest, NothingToShiftWithoutTimestamps) {
  std::vector<hark::v1::Event> events = {
      Parse(R"({"event_id": "a", "user_id": "u", "name": "x"})")};
  EXPECT_FALSE(PlanShiftToNow(events, absl::Now()).has_value());
  EXPECT_FALSE(PlanShiftToNow({}, absl::Now()).has_value());
}

TEST(TimeShiftTest, OutOfRangeResultLeavesTheEventAlone) {
  hark::v1::Event event = Parse(R"({"event_id": "a", "user_id": "u",
      "name": "x", "timestamp": "0001-01-01T00:00:10Z"})");
  const int64_t seconds = event.timestamp().seconds();
  absl::Status status = ShiftTimestamp(-absl::Seconds(11), &event);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("timestamp: "));
  EXPECT_THAT(status.message(), HasSubstr("outside the years 0001-9999"));
  EXPECT_EQ(event.timestamp().seconds(), seconds);
  ASSERT_TRUE(ShiftTimestamp(-absl::Seconds(10), &event).ok());
  EXPECT_EQ(event.timestamp().seconds(), seconds - 10);

  event = Parse(R"({"event_id": "b", "user_id": "u", "name": "x",
                    "timestamp": "9999-12-31T23:59:50Z"})");
  EXPECT_FALSE(ShiftTimestamp(absl::Seconds(10), &event).ok());
  EXPECT_TRUE(ShiftTimestamp(absl::Seconds(9), &event).ok());
  EXPECT_EQ(Time(event), "9999-12-31T23:59:59Z");
}

TEST(TimeShiftTest, FormatsAmountsAndTheLine) {
  EXPECT_EQ(FormatShiftAmount(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatShiftAmount(absl::Seconds(30)), "+30s");
  EXPECT_EQ(FormatShiftAmount(-absl::Minutes(5) - absl::Seconds(3)), "-5m 3s");
  EXPECT_EQ(FormatShiftAmount(absl::Hours(24 * 14) + absl::Seconds(18)),
            "+14d 0h 0m 18s");
  EXPECT_EQ(FormatShiftAmount(absl::Milliseconds(1250)), "+1.25s");
  TimeShift shift{
      absl::Hours(24 * 21 + 2) + absl::Minutes(20) + absl::Seconds(18),
      At("2026-11-01T07:30:30Z"), At("2026-11-01T07:30:00Z")};
  EXPECT_EQ(DescribeShift(shift),
            "shifted event times by +21d 2h 20m 18s: the latest event, "
            "2026-11-01T07:30:30Z, is now 2026-11-22T09:50:48Z");
}

}  // namespace
}  // namespace hark::cli
