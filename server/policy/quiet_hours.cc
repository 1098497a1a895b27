// AfterQuietHours: moves a time past the user's local quiet hours.
//
// Local times come from absl's civil-time conversions, so days are calendar
// days (23 or 25 hours around DST changes), not 24-hour steps. The end of a
// quiet period is the first instant after `t` whose local wall time is
// end_minute: if that wall time is skipped by a DST change, the transition
// instant (the quiet period ends when the clock jumps past it); if it occurs
// twice, the first occurrence after `t`.

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "server/policy/policy.h"

namespace hark::policy {
namespace {

constexpr int kMinutesPerDay = 24 * 60;

int NormalizeMinute(int minute) {
  return ((minute % kMinutesPerDay) + kMinutesPerDay) % kMinutesPerDay;
}

// The user's zone: UTC when `name` is empty or unknown (a trait may hold
// anything).
absl::TimeZone ZoneOrUtc(absl::string_view name) {
  absl::TimeZone zone = absl::UTCTimeZone();
  if (name.empty()) return zone;
  if (!absl::LoadTimeZone(std::string(name), &zone)) {
    return absl::UTCTimeZone();
  }
  return zone;
}

bool InQuiet(int minute_of_day, int start, int end) {
  if (start < end) return minute_of_day >= start && minute_of_day < end;
  return minute_of_day >= start || minute_of_day < end;  // wraps midnight
}

}  // namespace

absl::Time AfterQuietHours(absl::Time t, const QuietHours& quiet,
                           absl::string_view time_zone) {
  const int start = NormalizeMinute(quiet.start_minute);
  const int end = NormalizeMinute(quiet.end_minute);
  if (start == end) return t;  // an empty range: never quiet
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return t;

  const absl::TimeZone zone = ZoneOrUtc(time_zone);
  const absl::CivilSecond local = absl::ToCivilSecond(t, zone);
  const int minute_of_day = local.hour() * 60 + local.minute();
  if (!InQuiet(minute_of_day, start, end)) return t;

  // Inside the range: before `end` today (the range does not wrap, or `t`
  // is in its after-midnight part) or else before `end` tomorrow.
  absl::CivilDay end_day = absl::CivilDay(local);
  if (minute_of_day >= end) end_day += 1;
  const absl::CivilMinute end_local =
      absl::CivilMinute(end_day) + end;  // adds whole minutes to midnight
  const absl::TimeZone::TimeInfo info = zone.At(end_local);
  switch (info.kind) {
    case absl::TimeZone::TimeInfo::UNIQUE:
      return info.pre;
    case absl::TimeZone::TimeInfo::SKIPPED:
      // The wall time does not exist that day; the clock jumps over it at
      // `trans`.
      return info.trans;
    case absl::TimeZone::TimeInfo::REPEATED:
      // `t` may already be past the first occurrence (it is in the
      // repeated hour's second pass).
      return info.pre > t ? info.pre : info.post;
  }
  return info.pre;
}

}  // namespace hark::policy
