#ifndef HARK_CLIENTS_HARK_VALUES_H_
#define HARK_CLIENTS_HARK_VALUES_H_

// Typed values on the command line and in event files: RFC 3339 times, the
// `k=v` trait arguments of `hark users identify`, and their display.

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/timestamp.pb.h"
#include "hark/v1/common.pb.h"

namespace hark::cli {

// Parses an RFC 3339 time with an explicit offset ("2026-11-01T09:30:00Z",
// "2026-11-01T10:30:00.250+01:00"). INVALID_ARGUMENT otherwise, or when the
// time is outside the years 0001-9999 that google.protobuf.Timestamp allows.
absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view s);

// RFC 3339 in UTC with a "Z" and, only when non-zero, fractional seconds.
std::string FormatRfc3339(const google::protobuf::Timestamp& t);

// True if `s` is a JSON number literal (no leading '+', no leading zeros,
// no "inf"/"nan").
bool IsJsonNumber(absl::string_view s);

// Parses one trait argument "key=value" (split at the first '=') into a
// typed value:
//   true / false                   -> bool
//   a JSON number literal          -> number, except integers beyond 2^53,
//                                     which stay strings so that long ids
//                                     keep every digit
//   an RFC 3339 time               -> timestamp
//   anything else                  -> string
// A type suffix on the key forces the type and makes a mismatch an error:
// "key:s=value" string, "key:n=" number, "key:b=" bool, "key:t=" timestamp.
// INVALID_ARGUMENT for a missing '=', an empty key or a forced type that
// does not fit; the message names the argument.
absl::StatusOr<std::pair<std::string, hark::v1::Value>> ParseTraitArg(
    absl::string_view arg);

// The value for display: strings quoted, numbers without a trailing ".0",
// timestamps in RFC 3339.
std::string FormatValue(const hark::v1::Value& value);

// "string", "number", "bool", "timestamp" or "unset".
absl::string_view ValueKindName(const hark::v1::Value& value);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_VALUES_H_
