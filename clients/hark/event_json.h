#ifndef HARK_CLIENTS_HARK_EVENT_JSON_H_
#define HARK_CLIENTS_HARK_EVENT_JSON_H_

// One line of a JSON Lines event file -> hark.v1.Event.
//
// A line is one JSON object:
//   {"event_id": "e-1", "user_id": "u-1", "name": "plan_changed",
//    "timestamp": "2026-11-01T09:30:00Z",
//    "properties": {"plan": "pro", "seats": 5, "annual": true,
//                   "trial_ends_at": {"$timestamp": "2026-12-01T00:00:00Z"}},
//    "context": {"session_id": "s-1", "platform": "web",
//                "app_version": "4.2.0"}}
// Property values: a JSON string, number or bool, or {"$timestamp": RFC3339}.
// Everything else (null, arrays, other objects, unknown keys at the top level
// or in "context", fields of the wrong type) rejects the line here, before
// anything is sent. Fields that are merely missing or out of range (no
// timestamp, an uppercase name, ...) are left for harkd to judge, so its
// validation stays the single source of truth.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hark/v1/common.pb.h"

namespace hark::cli {

// True for lines that carry no event: blank, or starting with '#' (after
// leading blanks).
bool IsSkippedLine(absl::string_view line);

// Fills `*event` from one JSON line. On error returns INVALID_ARGUMENT whose
// message reads "<field>: <reason>" (for example
// `properties["plan"]: null is not a supported value; ...`) or
// "invalid JSON: ..."; `*event` then still holds the event_id if the line had
// a string one, so the caller can name the event.
absl::Status EventFromJsonLine(absl::string_view line, hark::v1::Event* event);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_EVENT_JSON_H_
