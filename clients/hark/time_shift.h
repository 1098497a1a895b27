#ifndef HARK_CLIENTS_HARK_TIME_SHIFT_H_
#define HARK_CLIENTS_HARK_TIME_SHIFT_H_

// `hark events send --shift-to-now`: moves the event times of a recorded
// file so that its latest event happens now, keeping the spacing between
// events. For demos and for replaying recorded sessions against a live
// harkd, whose watermark follows its clock: unshifted, old events are late
// and count/sequence/absence rules ignore them. Not for real backfills,
// whose times must stay true.
//
// Only the event's `timestamp` moves; property values that are times
// ({"$timestamp": ...}), ids and everything else stay as they are.

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hark/v1/common.pb.h"

namespace hark::cli {

struct TimeShift {
  // Added to every event time: the whole seconds of `now` minus `latest`.
  absl::Duration by;
  // The latest and earliest event times before the shift.
  absl::Time latest;
  absl::Time earliest;
};

// The shift that moves the latest timestamp among `events` to `now`,
// truncated to whole seconds (so a file with whole-second times keeps
// them, and its latest event is at most a second before `now`). Events
// without a timestamp are ignored; nullopt when none has one.
std::optional<TimeShift> PlanShiftToNow(
    absl::Span<const hark::v1::Event> events, absl::Time now);

// Adds `by` to the event's timestamp; an event without one is left alone.
// INVALID_ARGUMENT ("timestamp: ...") when the result would be outside the
// years 0001-9999 that google.protobuf.Timestamp allows; the event is then
// unchanged.
absl::Status ShiftTimestamp(absl::Duration by, hark::v1::Event* event);

// "+14d 2h 20m 18s", "-5m 3s", "0s": a signed duration in days, hours,
// minutes and seconds (leading zero units left out; fractions of a second
// shown only when present).
std::string FormatShiftAmount(absl::Duration d);

// The line `hark events send --shift-to-now` prints:
//   shifted event times by +14d 2h 20m 18s: the latest event,
//   2026-11-08T07:30:30Z, is now 2026-11-22T09:50:48Z
// (one line).
std::string DescribeShift(const TimeShift& shift);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_TIME_SHIFT_H_
