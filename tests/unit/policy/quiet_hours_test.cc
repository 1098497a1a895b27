#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/policy/policy.h"

namespace hark::policy {
namespace {

absl::Time Utc(int y, int mo, int d, int h, int mi, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s),
                         absl::UTCTimeZone());
}

constexpr QuietHours kNight{22 * 60, 8 * 60};  // 22:00-08:00

TEST(AfterQuietHoursTest, OutsideIsUnchanged) {
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 21, 59, 59), kNight, ""),
            Utc(2024, 1, 10, 21, 59, 59));
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 8, 0), kNight, ""),
            Utc(2024, 1, 10, 8, 0));
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 12, 0), kNight, "UTC"),
            Utc(2024, 1, 10, 12, 0));
}

TEST(AfterQuietHoursTest, WrappingRangeEndsTheNextMorning) {
  // Before midnight: the end is tomorrow.
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 22, 0), kNight, ""),
            Utc(2024, 1, 11, 8, 0));
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 23, 30), kNight, ""),
            Utc(2024, 1, 11, 8, 0));
  // After midnight: the end is today.
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 11, 0, 0), kNight, ""),
            Utc(2024, 1, 11, 8, 0));
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 11, 7, 59, 59), kNight, ""),
            Utc(2024, 1, 11, 8, 0));
  // Across a month and a year end.
  EXPECT_EQ(AfterQuietHours(Utc(2023, 12, 31, 23, 0), kNight, ""),
            Utc(2024, 1, 1, 8, 0));
}

TEST(AfterQuietHoursTest, NonWrappingRange) {
  const QuietHours lunch{12 * 60, 13 * 60 + 30};
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 12, 0), lunch, ""),
            Utc(2024, 1, 10, 13, 30));
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 13, 29), lunch, ""),
            Utc(2024, 1, 10, 13, 30));
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 13, 30), lunch, ""),
            Utc(2024, 1, 10, 13, 30));
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 11, 59), lunch, ""),
            Utc(2024, 1, 10, 11, 59));
}

TEST(AfterQuietHoursTest, EmptyRangeIsNeverQuiet) {
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 3, 0), QuietHours{60, 60}, ""),
            Utc(2024, 1, 10, 3, 0));
}

TEST(AfterQuietHoursTest, NonUtcZone) {
  // 2024-01-10 03:00 UTC is 22:00 EST on the 9th: quiet in New York until
  // 08:00 EST, 13:00 UTC; in UTC it is already past the quiet hours.
  const absl::Time t = Utc(2024, 1, 10, 3, 0);
  EXPECT_EQ(AfterQuietHours(t, kNight, "America/New_York"),
            Utc(2024, 1, 10, 13, 0));
  EXPECT_EQ(AfterQuietHours(t, kNight, ""), Utc(2024, 1, 10, 8, 0));
  // 12:00 UTC is 07:00 EST: quiet for one more hour.
  EXPECT_EQ(
      AfterQuietHours(Utc(2024, 1, 10, 12, 0), kNight, "America/New_York"),
      Utc(2024, 1, 10, 13, 0));
  // 14:00 UTC is 09:00 EST: outside.
  EXPECT_EQ(
      AfterQuietHours(Utc(2024, 1, 10, 14, 0), kNight, "America/New_York"),
      Utc(2024, 1, 10, 14, 0));
  // East of UTC: 21:00 UTC is 06:00 JST the next day.
  EXPECT_EQ(AfterQuietHours(Utc(2024, 1, 10, 21, 0), kNight, "Asia/Tokyo"),
            Utc(2024, 1, 10, 23, 0));
}

TEST(AfterQuietHoursTest, SpringForwardNightIsAnHourShorter) {
  // New York, 2024-03-10: 02:00 EST jumps to 03:00 EDT. 23:00 EST on the
  // 9th (04:00 UTC) waits until 08:00 EDT (12:00 UTC): 8 hours, not 9.
  EXPECT_EQ(AfterQuietHours(Utc(2024, 3, 10, 4, 0), kNight, "America/New_York"),
            Utc(2024, 3, 10, 12, 0));
  // 01:00 EST (06:00 UTC), inside the night.
  EXPECT_EQ(AfterQuietHours(Utc(2024, 3, 10, 6, 0), kNight, "America/New_York"),
            Utc(2024, 3, 10, 12, 0));
}

TEST(AfterQuietHoursTest, SkippedEndTimeEndsAtTheTransition) {
  // Quiet 01:00-02:30; 02:30 does not exist on 2024-03-10 in New York, the
  // clock goes from 01:59:59 EST to 03:00 EDT (07:00 UTC).
  const QuietHours early{60, 150};
  EXPECT_EQ(AfterQuietHours(Utc(2024, 3, 10, 6, 30), early, "America/New_York"),
            Utc(2024, 3, 10, 7, 0));
}

TEST(AfterQuietHoursTest, FallBackNightIsAnHourLonger) {
  // New York, 2024-11-03: 02:00 EDT falls back to 01:00 EST. 23:00 EDT on
  // the 2nd (03:00 UTC) waits until 08:00 EST (13:00 UTC): 10 hours.
  EXPECT_EQ(AfterQuietHours(Utc(2024, 11, 3, 3, 0), kNight, "America/New_York"),
            Utc(2024, 11, 3, 13, 0));
}

TEST(AfterQuietHoursTest, RepeatedEndTimeTakesTheNextOccurrence) {
  const QuietHours late{30, 90};  // 00:30-01:30
  // 00:45 EDT (04:45 UTC): the first 01:30 (EDT, 05:30 UTC).
  EXPECT_EQ(AfterQuietHours(Utc(2024, 11, 3, 4, 45), late, "America/New_York"),
            Utc(2024, 11, 3, 5, 30));
  // 01:15 EST (06:15 UTC), in the repeated hour's second pass: the second
  // 01:30 (EST, 06:30 UTC).
  EXPECT_EQ(AfterQuietHours(Utc(2024, 11, 3, 6, 15), late, "America/New_York"),
            Utc(2024, 11, 3, 6, 30));
  // 01:45 EDT (05:45 UTC) is outside.
  EXPECT_EQ(AfterQuietHours(Utc(2024, 11, 3, 5, 45), late, "America/New_York"),
            Utc(2024, 11, 3, 5, 45));
}

TEST(AfterQuietHoursTest, UnknownOrEmptyZoneMeansUtc) {
  const absl::Time t = Utc(2024, 1, 10, 23, 0);
  EXPECT_EQ(AfterQuietHours(t, kNight, "Mars/Olympus_Mons"),
            Utc(2024, 1, 11, 8, 0));
  EXPECT_EQ(AfterQuietHours(t, kNight, ""), Utc(2024, 1, 11, 8, 0));
  EXPECT_EQ(AfterQuietHours(t, kNight, "not a zone"), Utc(2024, 1, 11, 8, 0));
}

}  // namespace
}  // namespace hark::policy
