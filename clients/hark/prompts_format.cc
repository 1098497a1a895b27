#include "clients/hark/prompts_format.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/hark/format.h"
#include "clients/hark/rules_format.h"
#include "google/protobuf/util/json_util.h"

namespace hark::cli {

std::string FormatUtcTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

absl::StatusOr<std::string> JsonLine(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string line;
  auto printed =
      google::protobuf::util::MessageToJsonString(message, &line, options);
  if (!printed.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print as JSON: ", printed.message().as_string()));
  }
  return line;
}

std::string FormatTimeline(absl::string_view user_id,
                           absl::Span<const hark::v1::TimelineEntry> entries) {
  if (entries.empty()) {
    return absl::StrCat(
        "no events matched a rule for ", user_id,
        " yet; the timeline starts with the first match (check the user id, "
        "'hark matches --user ",
        user_id, "' and 'hark rules list')\n");
  }
  size_t kind_width = 5;  // "event", "match"; "decision" and "prompt" widen
  for (const hark::v1::TimelineEntry& e : entries) {
    kind_width = std::max(kind_width, DisplayWidth(e.kind()));
  }
  std::string out =
      absl::StrCat("Timeline of ", user_id, " (", entries.size(),
                   entries.size() == 1 ? " entry" : " entries", ", UTC)\n");
  for (const hark::v1::TimelineEntry& e : entries) {
    absl::StrAppend(&out, Pad(e.has_at() ? FormatUtcTime(e.at()) : "-", 19),
                    "  ", Pad(OrDash(e.kind()), kind_width), "  ",
                    OneLine(e.summary()), "\n");
  }
  return out;
}

std::string PromptKindName(hark::v1::Prompt::Kind kind) {
  switch (kind) {
    case hark::v1::Prompt::SURVEY:
      return "survey";
    case hark::v1::Prompt::INTERVIEW:
      return "interview";
    default:
      return absl::StrCat("unknown kind (", static_cast<int>(kind), ")");
  }
}

std::string PromptStateName(hark::v1::Prompt::State state) {
  switch (state) {
    case hark::v1::Prompt::PENDING:
      return "pending";
    case hark::v1::Prompt::DELIVERED:
      return "delivered";
    case hark::v1::Prompt::SHOWN:
      return "shown";
    case hark::v1::Prompt::ANSWERED:
      return "answered";
    case hark::v1::Prompt::DISMISSED:
      return "dismissed";
    case hark::v1::Prompt::EXPIRED:
      return "expired";
    default:
      return absl::StrCat("unknown state (", static_cast<int>(state), ")");
  }
}

std::string QuestionTypeName(hark::v1::Question::Type type) {
  switch (type) {
    case hark::v1::Question::RATING:
      return "rating 1-5";
    case hark::v1::Question::NPS:
      return "nps 0-10";
    case hark::v1::Question::CES:
      return "ces 1-7";
    case hark::v1::Question::SINGLE_CHOICE:
      return "single choice";
    case hark::v1::Question::MULTI_CHOICE:
      return "multi choice";
    case hark::v1::Question::TEXT:
      return "text";
    default:
      return absl::StrCat("unknown type (", static_cast<int>(type), ")");
  }
}

std::string FormatPrompt(const hark::v1::Prompt& p) {
  std::string out = absl::StrCat(
      PromptKindName(p.kind()), " ", OrDash(p.prompt_id()), "  (",
      PromptStateName(p.state()), ", priority ", p.priority(), ")\n");
  AppendRow("user", p.user_id(), &out);
  AppendRow("rule", p.rule_id(), &out);
  AppendRow("definition", p.definition_id(), &out);
  AppendRow("match", p.match_id(), &out);
  AppendRow("title", p.title(), &out);
  if (p.has_due_at()) {
    AppendRow("due", absl::StrCat(FormatUtcTime(p.due_at()), " UTC"), &out);
  }
  if (p.has_expires_at()) {
    AppendRow("expires", absl::StrCat(FormatUtcTime(p.expires_at()), " UTC"),
              &out);
  }
  AppendRow("booking", p.booking_url(), &out);
  AppendRow("incentive", p.incentive(), &out);
  if (p.duration_minutes() > 0) {
    AppendRow("duration",
              absl::StrCat(p.duration_minutes(),
                           p.duration_minutes() == 1 ? " minute" : " minutes"),
              &out);
  }
  if (!p.questions().empty()) {
    absl::StrAppend(&out, "  questions\n");
    int number = 0;
    for (const hark::v1::Question& q : p.questions()) {
      const std::string label = absl::StrCat(++number, ". ");
      const std::string indent(4 + label.size(), ' ');
      absl::StrAppend(&out, "    ", label, OrDash(q.id()), "  ",
                      QuestionTypeName(q.type()),
                      q.required() ? ", required" : "", "\n");
      for (absl::string_view line : absl::StrSplit(q.text(), '\n')) {
        if (!line.empty()) absl::StrAppend(&out, indent, line, "\n");
      }
      size_t id_width = 0;
      for (const hark::v1::Choice& c : q.choices()) {
        id_width = std::max(id_width, DisplayWidth(c.id()));
      }
      for (const hark::v1::Choice& c : q.choices()) {
        absl::StrAppend(&out, indent, "  - ",
                        c.label().empty() ? c.id() : Pad(c.id(), id_width),
                        c.label().empty() ? "" : "  ", OneLine(c.label()),
                        "\n");
      }
    }
  }
  return out;
}

std::string FormatPrompts(absl::string_view user_id,
                          absl::Span<const hark::v1::Prompt> prompts) {
  if (prompts.empty()) {
    return absl::StrCat("no prompts due for ", user_id, " now\n");
  }
  std::string out =
      absl::StrCat(prompts.size(), prompts.size() == 1 ? " prompt" : " prompts",
                   " for ", user_id, ", now marked delivered\n");
  for (const hark::v1::Prompt& p : prompts) {
    absl::StrAppend(&out, "\n", FormatPrompt(p));
  }
  return out;
}

namespace {

std::string WatchRow(absl::string_view due, absl::string_view cursor,
                     absl::string_view user, absl::string_view kind,
                     absl::string_view rule, absl::string_view title) {
  return absl::StrCat(Pad(due, 19), "  ", Pad(cursor, 12), "  ", Pad(user, 12),
                      "  ", Pad(kind, 9), "  ", Pad(rule, 24), "  ", title,
                      "\n");
}

}  // namespace

std::string PromptWatchHeader() {
  return WatchRow("DUE (UTC)", "CURSOR", "USER", "KIND", "RULE", "TITLE");
}

std::string FormatPromptWatchLine(const hark::v1::Prompt& p) {
  return WatchRow(p.has_due_at() ? FormatUtcTime(p.due_at()) : "-",
                  OrDash(p.cursor()), OrDash(p.user_id()),
                  PromptKindName(p.kind()), OrDash(p.rule_id()),
                  OrDash(OneLine(p.title())));
}

std::string FormatPromptEventResult(
    absl::string_view prompt_id,
    const hark::v1::RecordPromptEventResponse& response) {
  return absl::StrCat("prompt ", prompt_id, " is now ",
                      PromptStateName(response.state()), "\n");
}

}  // namespace hark::cli
