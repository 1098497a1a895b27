#include "clients/hark/time_shift.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "clients/hark/values.h"

namespace hark::cli {
namespace {

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds down
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) /
                                    absl::Nanoseconds(1)));
  return ts;
}

}  // namespace

std::optional<TimeShift> PlanShiftToNow(
    absl::Span<const hark::v1::Event> events, absl::Time now) {
  std::optional<TimeShift> shift;
  for (const hark::v1::Event& event : events) {
    if (!event.has_timestamp()) continue;
    const absl::Time t = ToTime(event.timestamp());
    if (!shift.has_value()) {
      shift = TimeShift{absl::ZeroDuration(), t, t};
      continue;
    }
    shift->latest = std::max(shift->latest, t);
    shift->earliest = std::min(shift->earliest, t);
  }
  if (shift.has_value()) {
    const absl::Time target = absl::FromUnixSeconds(absl::ToUnixSeconds(now));
    shift->by = target - shift->latest;
  }
  return shift;
}

absl::Status ShiftTimestamp(absl::Duration by, hark::v1::Event* event) {
  if (!event->has_timestamp()) return absl::OkStatus();
  const absl::Time shifted = ToTime(event->timestamp()) + by;
  if (shifted < absl::FromUnixSeconds(kMinSeconds) ||
      shifted >= absl::FromUnixSeconds(kMaxSeconds + 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("timestamp: ", FormatRfc3339(event->timestamp()),
                     " shifted by --shift-to-now (", FormatShiftAmount(by),
                     ") falls outside the years 0001-9999"));
  }
  *event->mutable_timestamp() = ToTimestamp(shifted);
  return absl::OkStatus();
}

std::string FormatShiftAmount(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  std::string out = d < absl::ZeroDuration() ? "-" : "+";
  d = absl::AbsDuration(d);
  const int64_t days = absl::IDivDuration(d, absl::Hours(24), &d);
  const int64_t hours = absl::IDivDuration(d, absl::Hours(1), &d);
  const int64_t minutes = absl::IDivDuration(d, absl::Minutes(1), &d);
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  bool started = false;
  auto unit = [&](int64_t n, absl::string_view name) {
    if (n == 0 && !started) return;
    absl::StrAppend(&out, started ? " " : "", n, name);
    started = true;
  };
  unit(days, "d");
  unit(hours, "h");
  unit(minutes, "m");
  std::string sec = absl::StrCat(seconds);
  if (nanos != 0) {
    std::string fraction = absl::StrFormat("%09d", nanos);
    while (fraction.back() == '0') fraction.pop_back();
    absl::StrAppend(&sec, ".", fraction);
  }
  absl::StrAppend(&out, started ? " " : "", sec, "s");
  return out;
}

std::string DescribeShift(const TimeShift& shift) {
  return absl::StrCat("shifted event times by ", FormatShiftAmount(shift.by),
                      ": the latest event, ",
                      FormatRfc3339(ToTimestamp(shift.latest)), ", is now ",
                      FormatRfc3339(ToTimestamp(shift.latest + shift.by)));
}

}  // namespace hark::cli
