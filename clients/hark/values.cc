#include "clients/hark/values.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace hark::cli {
namespace {

// google.protobuf.Timestamp's range:
// 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

// Integers up to 2^53 survive the trip through a double.
constexpr double kMaxExactInteger = 9007199254740992.0;

bool IsDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<google::protobuf::Timestamp> ParseRfc3339(absl::string_view s) {
  absl::Time t;
  std::string err;
  // RFC3339_full requires the offset ("Z" or "+hh:mm") and accepts any
  // number of fractional digits.
  if (!absl::ParseTime(absl::RFC3339_full, s, &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", s,
                     "\" is not an RFC 3339 time with an offset, such as "
                     "2026-11-01T09:30:00Z"));
  }
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds down
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", s, "\" is outside the years 0001-9999"));
  }
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>((t - absl::FromUnixSeconds(seconds)) /
                                    absl::Nanoseconds(1)));
  return ts;
}

std::string FormatRfc3339(const google::protobuf::Timestamp& ts) {
  absl::Time t =
      absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
  return absl::FormatTime(
      ts.nanos() == 0 ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%dT%H:%M:%E*SZ", t,
      absl::UTCTimeZone());
}

bool IsJsonNumber(absl::string_view s) {
  absl::ConsumePrefix(&s, "-");
  // Integer part: "0" or a non-zero digit followed by digits.
  size_t i = 0;
  while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
  absl::string_view integer = s.substr(0, i);
  if (integer.empty() || (integer.size() > 1 && integer[0] == '0')) {
    return false;
  }
  s.remove_prefix(i);
  if (absl::ConsumePrefix(&s, ".")) {
    i = 0;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
    if (i == 0) return false;
    s.remove_prefix(i);
  }
  if (!s.empty() && (s[0] == 'e' || s[0] == 'E')) {
    s.remove_prefix(1);
    if (!absl::ConsumePrefix(&s, "+")) absl::ConsumePrefix(&s, "-");
    return IsDigits(s);
  }
  return s.empty();
}

absl::StatusOr<std::pair<std::string, hark::v1::Value>> ParseTraitArg(
    absl::string_view arg) {
  const size_t eq = arg.find('=');
  if (eq == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("trait \"", arg,
                     "\" has no '='; write key=value (key:s=value for a "
                     "string)"));
  }
  absl::string_view key = arg.substr(0, eq);
  absl::string_view text = arg.substr(eq + 1);
  char forced = 0;
  if (key.size() >= 2 && key[key.size() - 2] == ':') {
    const char suffix = key.back();
    if (suffix == 's' || suffix == 'n' || suffix == 'b' || suffix == 't') {
      forced = suffix;
      key.remove_suffix(2);
    }
  }
  if (key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trait \"", arg, "\" has an empty key"));
  }
  auto mismatch = [&](absl::string_view expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("trait \"", arg, "\": \"", text, "\" is not ", expected));
  };

  hark::v1::Value value;
  const bool is_bool = text == "true" || text == "false";
  double number = 0;
  const bool is_number = IsJsonNumber(text) &&
                         absl::SimpleAtod(text, &number) &&
                         std::isfinite(number);
  absl::StatusOr<google::protobuf::Timestamp> time = ParseRfc3339(text);
  switch (forced) {
    case 's':
      value.set_string_value(std::string(text));
      break;
    case 'n':
      if (!is_number) return mismatch("a number");
      value.set_number_value(number);
      break;
    case 'b':
      if (!is_bool) return mismatch("true or false");
      value.set_bool_value(text == "true");
      break;
    case 't':
      if (!time.ok())
        return mismatch("an RFC 3339 time such as 2026-11-01T09:30:00Z");
      *value.mutable_timestamp_value() = *time;
      break;
    default:
      if (is_bool) {
        value.set_bool_value(text == "true");
      } else if (is_number &&
                 !(std::fabs(number) > kMaxExactInteger &&
                   text.find_first_of(".eE") == absl::string_view::npos)) {
        value.set_number_value(number);
      } else if (time.ok()) {
        *value.mutable_timestamp_value() = *time;
      } else {
        value.set_string_value(std::string(text));
      }
  }
  return std::make_pair(std::string(key), std::move(value));
}

std::string FormatValue(const hark::v1::Value& value) {
  switch (value.kind_case()) {
    case hark::v1::Value::kStringValue:
      return absl::StrCat("\"", absl::Utf8SafeCEscape(value.string_value()),
                          "\"");
    case hark::v1::Value::kNumberValue: {
      // The shortest of %.15g and %.17g that reads back as the same double.
      std::string s = absl::StrFormat("%.15g", value.number_value());
      double back = 0;
      if (!absl::SimpleAtod(s, &back) || back != value.number_value()) {
        s = absl::StrFormat("%.17g", value.number_value());
      }
      return s;
    }
    case hark::v1::Value::kBoolValue:
      return value.bool_value() ? "true" : "false";
    case hark::v1::Value::kTimestampValue:
      return FormatRfc3339(value.timestamp_value());
    case hark::v1::Value::KIND_NOT_SET:
      break;
  }
  return "(unset)";
}

absl::string_view ValueKindName(const hark::v1::Value& value) {
  switch (value.kind_case()) {
    case hark::v1::Value::kStringValue:
      return "string";
    case hark::v1::Value::kNumberValue:
      return "number";
    case hark::v1::Value::kBoolValue:
      return "bool";
    case hark::v1::Value::kTimestampValue:
      return "timestamp";
    case hark::v1::Value::KIND_NOT_SET:
      break;
  }
  return "unset";
}

}  // namespace hark::cli
