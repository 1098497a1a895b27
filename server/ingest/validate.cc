#include "server/ingest/validate.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "hark/proto_time.h"

namespace hark::ingest {
namespace {

using hark::v1::FieldError;

// The range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int32_t kMaxNanos = 999999999;

// Keys longer than this are shortened inside field paths so that an
// oversized key cannot blow up the error message.
constexpr size_t kMaxQuotedKeyBytes = 64;

FieldError Error(std::string field, std::string reason) {
  FieldError error;
  error.set_field(std::move(field));
  error.set_reason(std::move(reason));
  return error;
}

// Byte length of the UTF-8 sequence that starts with the valid lead byte `c`.
size_t SequenceLength(unsigned char c) {
  if (c < 0x80) return 1;
  if (c < 0xE0) return 2;
  if (c < 0xF0) return 3;
  return 4;
}

// `key` as it appears between the quotes of a field path such as
// properties["key"]: quotes, backslashes and control characters are escaped,
// invalid UTF-8 is shown as \xNN, and long keys are cut with "...".
std::string QuoteKey(absl::string_view key) {
  const bool valid = IsValidUtf8(key);
  std::string out;
  size_t i = 0;
  while (i < key.size() && i < kMaxQuotedKeyBytes) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (valid && c >= 0x80) {
      const size_t n = SequenceLength(c);
      absl::StrAppend(&out, key.substr(i, n));
      i += n;
      continue;
    }
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c >= 0x7F) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  if (i < key.size()) out += "...";
  return out;
}

std::string KeyPath(absl::string_view map_field, absl::string_view key) {
  return absl::StrCat(map_field, "[\"", QuoteKey(key), "\"]");
}

std::string Utf8Problem(absl::string_view text) {
  const size_t at = ValidUtf8Prefix(text);
  return absl::StrCat(
      "is not valid UTF-8 (byte 0x",
      absl::Hex(static_cast<unsigned char>(text[at]), absl::kZeroPad2),
      " at byte offset ", at, "); send UTF-8 encoded text");
}

// A required or optional text field: valid UTF-8, `min_bytes` to
// `max_bytes` bytes long. `what` describes the field in the messages.
std::optional<FieldError> CheckText(const std::string& path,
                                    absl::string_view text, size_t min_bytes,
                                    size_t max_bytes, absl::string_view what) {
  if (text.size() < min_bytes) {
    return Error(path, absl::StrCat("is empty; set ", what, " of ", min_bytes,
                                    " to ", max_bytes, " bytes"));
  }
  if (text.size() > max_bytes) {
    return Error(path,
                 absl::StrCat("is ", text.size(), " bytes long; the limit is ",
                              max_bytes, " bytes of UTF-8 (", what, ")"));
  }
  if (!IsValidUtf8(text)) return Error(path, Utf8Problem(text));
  return std::nullopt;
}

std::optional<FieldError> CheckTimestamp(const std::string& path,
                                         const google::protobuf::Timestamp& t) {
  if (t.seconds() < kMinTimestampSeconds ||
      t.seconds() > kMaxTimestampSeconds) {
    return Error(path,
                 absl::StrCat("seconds is ", t.seconds(),
                              ", outside the valid range of years 1 to 9999; "
                              "send seconds since the Unix epoch (UTC)"));
  }
  if (t.nanos() < 0 || t.nanos() > kMaxNanos) {
    return Error(path, absl::StrCat("nanos is ", t.nanos(),
                                    "; it must be 0 to 999999999 (carry whole "
                                    "seconds into the seconds field)"));
  }
  return std::nullopt;
}

std::optional<FieldError> CheckValue(const std::string& path,
                                     const hark::v1::Value& value) {
  switch (value.kind_case()) {
    case hark::v1::Value::KIND_NOT_SET:
      return Error(path,
                   "has no value; set exactly one of string_value, "
                   "number_value, bool_value or timestamp_value");
    case hark::v1::Value::kStringValue:
      return CheckText(absl::StrCat(path, ".string_value"),
                       value.string_value(), 0, kMaxStringValueBytes,
                       "a string value");
    case hark::v1::Value::kNumberValue:
      // NaN and infinities have no JSON form and make every comparison in a
      // rule predicate false.
      if (!std::isfinite(value.number_value())) {
        return Error(absl::StrCat(path, ".number_value"),
                     "is NaN or infinite; send a finite number");
      }
      return std::nullopt;
    case hark::v1::Value::kBoolValue:
      return std::nullopt;
    case hark::v1::Value::kTimestampValue:
      return CheckTimestamp(absl::StrCat(path, ".timestamp_value"),
                            value.timestamp_value());
  }
  return Error(path, "has an unknown kind; upgrade the server or the client");
}

// One entry of `properties` or `traits`.
std::optional<FieldError> CheckEntry(absl::string_view map_field,
                                     absl::string_view noun,
                                     const std::string& key,
                                     const hark::v1::Value& value) {
  const std::string path = KeyPath(map_field, key);
  if (key.empty()) {
    return Error(path, absl::StrCat("key is empty; ", noun, " keys are 1 to ",
                                    kMaxKeyBytes, " bytes"));
  }
  if (key.size() > kMaxKeyBytes) {
    return Error(
        path, absl::StrCat("key is ", key.size(), " bytes long; the limit is ",
                           kMaxKeyBytes, " bytes of UTF-8 per ", noun, " key"));
  }
  if (!IsValidUtf8(key)) return Error(path, "key " + Utf8Problem(key));
  return CheckValue(path, value);
}

// Checks every entry of a map and reports the problem with the smallest key,
// so that the answer is deterministic.
std::optional<FieldError> CheckEntries(
    absl::string_view map_field, absl::string_view noun,
    const google::protobuf::Map<std::string, hark::v1::Value>& entries) {
  std::optional<FieldError> first;
  const std::string* first_key = nullptr;
  for (const auto& [key, value] : entries) {
    if (first_key != nullptr && key >= *first_key) continue;
    if (auto error = CheckEntry(map_field, noun, key, value)) {
      first = std::move(error);
      first_key = &key;
    }
  }
  return first;
}

std::string DescribeCharacter(absl::string_view text, size_t at) {
  const unsigned char c = static_cast<unsigned char>(text[at]);
  if (c == ' ') return "' ' (space)";
  if (c < 0x20 || c == 0x7F) {
    return absl::StrCat("control character 0x", absl::Hex(c, absl::kZeroPad2));
  }
  return absl::StrCat("'", text.substr(at, SequenceLength(c)), "'");
}

bool IsNameCharacter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '-';
}

std::optional<FieldError> CheckName(absl::string_view name) {
  if (auto error = CheckText("name", name, 1, kMaxEventNameBytes,
                             "an event name such as \"onboarding_started\"")) {
    return error;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (IsNameCharacter(name[i])) continue;
    std::string hint;
    if (name[i] >= 'A' && name[i] <= 'Z') hint = " (use lowercase)";
    return Error("name",
                 absl::StrCat(DescribeCharacter(name, i), " at byte ", i,
                              " is not allowed", hint,
                              "; event names match [a-z0-9_.:-]{1,64}, for "
                              "example \"onboarding_started\""));
  }
  return std::nullopt;
}

std::optional<FieldError> CheckUserId(absl::string_view user_id) {
  return CheckText("user_id", user_id, 1, kMaxUserIdBytes,
                   "the product's user id");
}

}  // namespace

size_t ValidUtf8Prefix(absl::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Bounds of the second byte depend on the lead byte (RFC 3629, table 3-7
    // of the Unicode standard); further bytes are always 0x80..0xBF.
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3;
      lo = 0xA0;
    } else if (c == 0xED) {
      len = 3;
      hi = 0x9F;  // U+D800..U+DFFF are surrogates
    } else if (c >= 0xE1 && c <= 0xEF) {
      len = 3;
    } else if (c == 0xF0) {
      len = 4;
      lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4;
      hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return n;
}

std::optional<FieldError> ValidateEvent(const hark::v1::Event& event,
                                        absl::Time now,
                                        absl::Duration max_future) {
  if (auto error = CheckText("event_id", event.event_id(), 1, kMaxEventIdBytes,
                             "a unique id per event (the idempotency key)")) {
    return error;
  }
  if (auto error = CheckUserId(event.user_id())) return error;
  if (auto error = CheckName(event.name())) return error;

  if (!event.has_timestamp()) {
    return Error("timestamp",
                 "is missing; set the time the event happened "
                 "(google.protobuf.Timestamp, UTC)");
  }
  if (auto error = CheckTimestamp("timestamp", event.timestamp())) {
    return error;
  }
  const absl::Duration ahead = FromTimestamp(event.timestamp()) - now;
  if (ahead > max_future) {
    return Error("timestamp",
                 absl::StrCat("is ", absl::FormatDuration(ahead),
                              " ahead of the server clock; the limit is ",
                              absl::FormatDuration(max_future),
                              " (server flag --max-future); check the "
                              "sender's clock and that it sends UTC"));
  }

  if (event.properties_size() > static_cast<int>(kMaxProperties)) {
    return Error(
        "properties",
        absl::StrCat("has ", event.properties_size(), " entries; the limit is ",
                     kMaxProperties, " properties per event"));
  }
  if (auto error = CheckEntries("properties", "property", event.properties())) {
    return error;
  }

  if (event.has_context()) {
    const hark::v1::EventContext& context = event.context();
    const std::pair<const char*, const std::string*> fields[] = {
        {"context.session_id", &context.session_id()},
        {"context.platform", &context.platform()},
        {"context.app_version", &context.app_version()},
    };
    for (const auto& [path, value] : fields) {
      if (auto error = CheckText(path, *value, 0, kMaxContextFieldBytes,
                                 "a context field")) {
        return error;
      }
    }
  }
  return std::nullopt;
}

std::optional<FieldError> ValidateTraits(
    const hark::v1::IdentifyUserRequest& request) {
  if (auto error = CheckUserId(request.user_id())) return error;
  if (request.traits().empty()) {
    return Error("traits",
                 absl::StrCat("is empty; set 1 to ", kMaxTraits, " traits"));
  }
  if (request.traits_size() > static_cast<int>(kMaxTraits)) {
    return Error("traits", absl::StrCat("has ", request.traits_size(),
                                        " entries; the limit is ", kMaxTraits,
                                        " traits per call (send the rest in "
                                        "another call)"));
  }
  return CheckEntries("traits", "trait", request.traits());
}

}  // namespace hark::ingest
