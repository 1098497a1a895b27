#include "clients/hark/event_json.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/hark/values.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "hark/status_macros.h"

namespace hark::cli {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr absl::string_view kValueHelp =
    "use a string, a number, true/false or {\"$timestamp\": \"RFC3339\"}";

absl::Status FieldError(absl::string_view field, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
}

// "a string", "null", ... for messages about a JSON value of the wrong kind.
std::string Describe(const Value& v) {
  switch (v.kind_case()) {
    case Value::kNullValue:
      return "null";
    case Value::kNumberValue:
      return "a number";
    case Value::kStringValue:
      return "a string";
    case Value::kBoolValue:
      return "a bool";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "an array";
    case Value::KIND_NOT_SET:
      break;
  }
  return "nothing";
}

absl::StatusOr<std::string> RequireString(absl::string_view field,
                                          const Value& v) {
  if (v.kind_case() != Value::kStringValue) {
    return FieldError(field,
                      absl::StrCat("must be a string, got ", Describe(v)));
  }
  return v.string_value();
}

absl::Status ConvertTimestamp(absl::string_view field, const Value& v,
                              google::protobuf::Timestamp* out) {
  ASSIGN_OR_RETURN(std::string text, RequireString(field, v));
  absl::StatusOr<google::protobuf::Timestamp> ts = ParseRfc3339(text);
  if (!ts.ok()) return FieldError(field, ts.status().message());
  *out = *ts;
  return absl::OkStatus();
}

absl::Status ConvertProperty(absl::string_view field, const Value& v,
                             hark::v1::Value* out) {
  switch (v.kind_case()) {
    case Value::kStringValue:
      out->set_string_value(v.string_value());
      return absl::OkStatus();
    case Value::kNumberValue:
      if (!std::isfinite(v.number_value())) {
        return FieldError(field, "the number is out of range");
      }
      out->set_number_value(v.number_value());
      return absl::OkStatus();
    case Value::kBoolValue:
      out->set_bool_value(v.bool_value());
      return absl::OkStatus();
    case Value::kStructValue: {
      const auto& fields = v.struct_value().fields();
      auto it = fields.find("$timestamp");
      if (fields.size() != 1 || it == fields.end()) {
        return FieldError(
            field,
            absl::StrCat("an object is not a supported value; ", kValueHelp));
      }
      return ConvertTimestamp(absl::StrCat(field, ".$timestamp"), it->second,
                              out->mutable_timestamp_value());
    }
    case Value::kNullValue:
    case Value::kListValue:
    case Value::KIND_NOT_SET:
      break;
  }
  return FieldError(
      field,
      absl::StrCat(Describe(v), " is not a supported value; ", kValueHelp));
}

absl::Status ConvertContext(const Value& v, hark::v1::EventContext* out) {
  if (v.kind_case() != Value::kStructValue) {
    return FieldError("context",
                      absl::StrCat("must be an object, got ", Describe(v)));
  }
  for (const auto& [key, value] : v.struct_value().fields()) {
    std::string field = absl::StrCat("context.", key);
    if (key == "session_id") {
      ASSIGN_OR_RETURN(*out->mutable_session_id(), RequireString(field, value));
    } else if (key == "platform") {
      ASSIGN_OR_RETURN(*out->mutable_platform(), RequireString(field, value));
    } else if (key == "app_version") {
      ASSIGN_OR_RETURN(*out->mutable_app_version(),
                       RequireString(field, value));
    } else {
      return FieldError(field,
                        "unknown key; context holds session_id, platform "
                        "and app_version");
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsSkippedLine(absl::string_view line) {
  line = absl::StripLeadingAsciiWhitespace(line);
  return line.empty() || line[0] == '#';
}

absl::Status EventFromJsonLine(absl::string_view line, hark::v1::Event* event) {
  event->Clear();
  Struct root;
  google::protobuf::util::JsonParseOptions options;
  auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(line.data(), line.size()), &root, options);
  if (!parsed.ok()) {
    // The parser's message may span lines (it echoes the input); keep the
    // first so that one bad line stays one line of output.
    std::string message(parsed.message().data(), parsed.message().size());
    std::vector<absl::string_view> lines = absl::StrSplit(message, '\n');
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid JSON (each line must be one JSON object): ", lines[0]));
  }
  const auto& fields = root.fields();

  // event_id first, so that later errors can name the event.
  if (auto it = fields.find("event_id"); it != fields.end()) {
    ASSIGN_OR_RETURN(*event->mutable_event_id(),
                     RequireString("event_id", it->second));
  }
  // Map order is unspecified; check keys in a fixed order so that a line
  // with several problems always reports the same one.
  for (absl::string_view key :
       {"user_id", "name", "timestamp", "properties", "context"}) {
    auto it = fields.find(std::string(key));
    if (it == fields.end()) continue;
    const Value& v = it->second;
    if (key == "user_id") {
      ASSIGN_OR_RETURN(*event->mutable_user_id(), RequireString(key, v));
    } else if (key == "name") {
      ASSIGN_OR_RETURN(*event->mutable_name(), RequireString(key, v));
    } else if (key == "timestamp") {
      RETURN_IF_ERROR(ConvertTimestamp(key, v, event->mutable_timestamp()));
    } else if (key == "properties") {
      if (v.kind_case() != Value::kStructValue) {
        return FieldError(key,
                          absl::StrCat("must be an object, got ", Describe(v)));
      }
      // Sorted, for the same reason as above.
      std::vector<std::string> names;
      for (const auto& [name, unused] : v.struct_value().fields()) {
        names.push_back(name);
      }
      std::sort(names.begin(), names.end());
      auto* props = event->mutable_properties();
      for (const std::string& name : names) {
        RETURN_IF_ERROR(ConvertProperty(
            absl::StrCat("properties[\"", name, "\"]"),
            v.struct_value().fields().at(name), &(*props)[name]));
      }
    } else {
      RETURN_IF_ERROR(ConvertContext(v, event->mutable_context()));
    }
  }
  std::vector<std::string> unknown;
  for (const auto& [key, unused] : fields) {
    if (key != "event_id" && key != "user_id" && key != "name" &&
        key != "timestamp" && key != "properties" && key != "context") {
      unknown.push_back(key);
    }
  }
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    return FieldError(
        unknown[0],
        "unknown key; an event has event_id, user_id, name, timestamp, "
        "properties and context");
  }
  return absl::OkStatus();
}

}  // namespace hark::cli
