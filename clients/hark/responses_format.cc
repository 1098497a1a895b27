#include "clients/hark/responses_format.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "clients/hark/format.h"
#include "clients/hark/prompts_format.h"
#include "clients/hark/rules_format.h"
#include "clients/hark/values.h"

namespace hark::cli {
namespace {

using hark::v1::Answer;
using hark::v1::FrictionTag;
using hark::v1::Response;

bool HasTime(const google::protobuf::Timestamp& t) {
  return t.seconds() != 0 || t.nanos() != 0;
}

std::string UtcOrDash(const google::protobuf::Timestamp& t) {
  return HasTime(t) ? absl::StrCat(FormatUtcTime(t), " UTC") : "-";
}

// "survey", "interview"; "" when harkd did not say.
std::string KindName(hark::v1::Prompt::Kind kind) {
  return kind == hark::v1::Prompt::KIND_UNSPECIFIED ? "" : PromptKindName(kind);
}

// "pricing (choice)"; "-" without a primary tag.
std::string FrictionLabel(const Response& r) {
  const FrictionTag* tag = PrimaryTag(r);
  if (tag == nullptr) return "-";
  return tag->source().empty()
             ? OrDash(tag->friction())
             : absl::StrCat(OrDash(tag->friction()), " (", tag->source(), ")");
}

// "ease=3 cause=billing": the answers without free text, for the list.
std::string AnswerSummary(const Response& r, absl::string_view separator) {
  std::vector<std::string> parts;
  for (const Answer& a : r.answers()) {
    parts.push_back(absl::StrCat(a.question_id(), "=", AnswerValue(a)));
  }
  return absl::StrJoin(parts, separator);
}

// Each line of `text` indented by `n` blanks.
std::string Indent(absl::string_view text, size_t n) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!line.empty()) absl::StrAppend(&out, std::string(n, ' '), line, "\n");
  }
  return out;
}

std::string Confidence(const FrictionTag& t) {
  return absl::StrFormat("%.2f", t.confidence());
}

// A trait or property value as the trait filter reads it: strings without
// quotes, the rest as FormatValue shows them.
std::string PlainValue(const hark::v1::Value& v) {
  return v.has_string_value() ? v.string_value() : FormatValue(v);
}

template <typename Map>
std::vector<std::pair<std::string, const hark::v1::Value*>> Sorted(
    const Map& map) {
  std::vector<std::pair<std::string, const hark::v1::Value*>> out;
  for (const auto& [key, value] : map) out.emplace_back(key, &value);
  std::sort(out.begin(), out.end());
  return out;
}

// The answers of `r`, each under its question when harkd sent the prompt as
// rendered (with the choices' labels and the score's scale); questions left
// unanswered say so. Without the prompt: question id and value.
void AppendAnswers(const Response& r, std::string* out) {
  struct Entry {
    std::string id;
    std::string question;  // "" when unknown
    std::string value;
  };
  std::vector<Entry> entries;
  std::vector<const Answer*> left;
  for (const Answer& a : r.answers()) left.push_back(&a);
  for (const hark::v1::Question& q : r.prompt().questions()) {
    auto it = std::find_if(left.begin(), left.end(), [&q](const Answer* a) {
      return a->question_id() == q.id();
    });
    std::string value = "(no answer)";
    if (it != left.end()) {
      const Answer& a = **it;
      left.erase(it);
      value = AnswerValue(a);
      if (value.empty()) {
        value = "(empty)";
      } else if (a.has_score()) {
        absl::StrAppend(&value, " (", QuestionTypeName(q.type()), ")");
      } else if (a.has_choice() || a.has_choices()) {
        std::vector<std::string> picked;
        for (absl::string_view id : absl::StrSplit(value, ',')) {
          std::string shown(id);
          for (const hark::v1::Choice& c : q.choices()) {
            if (c.id() == id && !c.label().empty()) {
              absl::StrAppend(&shown, ": ", OneLine(c.label()));
            }
          }
          picked.push_back(std::move(shown));
        }
        value = absl::StrJoin(picked, "\n");
      }
    }
    entries.push_back({q.id(), OneLine(q.text()), std::move(value)});
  }
  for (const Answer* a : left) {
    const std::string value = AnswerValue(*a);
    entries.push_back(
        {a->question_id(), "", value.empty() ? "(empty)" : value});
  }
  if (entries.empty()) return;
  absl::StrAppend(out, "\nanswers");
  if (!r.prompt().title().empty() && !r.prompt().questions().empty()) {
    absl::StrAppend(out, " to \"", OneLine(r.prompt().title()), "\"");
  }
  absl::StrAppend(out, "\n");
  size_t width = 0;
  for (const Entry& e : entries) {
    width = std::max(width, DisplayWidth(OrDash(e.id)));
  }
  for (const Entry& e : entries) {
    std::vector<absl::string_view> lines = absl::StrSplit(e.value, '\n');
    // Under a question, the answer is indented a little further.
    const std::string indent(width + (e.question.empty() ? 4 : 6), ' ');
    absl::StrAppend(out, "  ", Pad(OrDash(e.id), width), "  ",
                    e.question.empty() ? lines[0] : e.question, "\n");
    for (size_t i = e.question.empty() ? 1 : 0; i < lines.size(); ++i) {
      absl::StrAppend(out, indent, lines[i], "\n");
    }
  }
}

}  // namespace

const FrictionTag* PrimaryTag(const Response& response) {
  for (const FrictionTag& t : response.tags()) {
    if (t.primary()) return &t;
  }
  return nullptr;
}

std::string AnswerValue(const Answer& a) {
  switch (a.value_case()) {
    case Answer::kScore:
      return absl::StrCat(a.score());
    case Answer::kChoice:
      return a.choice();
    case Answer::kChoices:
      return absl::StrJoin(a.choices().ids(), ",");
    case Answer::kText:
      return a.text();
    case Answer::VALUE_NOT_SET:
      break;
  }
  return "";
}

std::string ResponseScore(const Response& r) {
  for (const Answer& a : r.answers()) {
    if (a.has_score()) return absl::StrCat(a.score());
  }
  return "";
}

std::string ResponseText(const Response& r) {
  std::vector<std::string> parts;
  for (const Answer& a : r.answers()) {
    if (a.has_text() && !a.text().empty()) parts.push_back(a.text());
  }
  if (!r.interview_notes().empty()) parts.push_back(r.interview_notes());
  return absl::StrJoin(parts, "\n");
}

std::string FormatResponseTable(absl::Span<const Response> responses,
                                size_t width) {
  if (responses.empty()) return "no responses match\n";
  // Without any score the SCORE column is left out (room for the text).
  const bool scores =
      std::any_of(responses.begin(), responses.end(),
                  [](const Response& r) { return !ResponseScore(r).empty(); });
  std::vector<std::vector<std::string>> rows;
  rows.push_back(
      {"ID", "SUBMITTED (UTC)", "USER", "RULE", "FRICTION", "SCORE", "TEXT"});
  for (const Response& r : responses) {
    std::string text = ResponseText(r);
    if (text.empty()) text = AnswerSummary(r, " ");
    if (text.empty() && !r.interview_status().empty()) {
      text = absl::StrCat("interview ", r.interview_status());
    }
    rows.push_back({OrDash(r.response_id()),
                    HasTime(r.submitted_at())
                        ? FormatUtcTime(r.submitted_at()).substr(0, 16)
                        : "-",
                    Truncate(OrDash(r.user_id()), 14),
                    Truncate(OrDash(r.rule_id()), 24), FrictionLabel(r),
                    OrDash(ResponseScore(r)), OneLine(text)});
  }
  if (!scores) {
    for (auto& row : rows) row.erase(row.begin() + 5);
  }
  // The text column gets what the others leave of `width`.
  std::vector<size_t> widths(rows[0].size() - 1, 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  }
  size_t used = 0;
  for (size_t w : widths) used += w + 2;
  const size_t text_width =
      std::max<size_t>(20, width > used ? width - used : 0);
  for (auto& row : rows) row.back() = Truncate(row.back(), text_width);
  return TextTable(rows, {false, false, false, false, false, scores});
}

std::string NextPageHint(absl::string_view next_page_token) {
  return absl::StrCat("more: add --page-token ", next_page_token,
                      " for the next page, or --all for every page\n");
}

std::string FormatResponse(const Response& r) {
  const std::string kind = KindName(r.kind());
  std::string out =
      absl::StrCat("response ", OrDash(r.response_id()),
                   kind.empty() ? "" : absl::StrCat("  (", kind, ")"), "\n");
  AppendRow("prompt", r.prompt_id(), &out);
  AppendRow("user", r.user_id(), &out);
  AppendRow("rule", r.rule_id(), &out);
  AppendRow(kind.empty() ? "definition" : kind, r.definition_id(), &out);
  AppendRow("submitted", UtcOrDash(r.submitted_at()), &out);
  // Shown when it differs to the second, as times are shown.
  if (HasTime(r.updated_at()) &&
      r.updated_at().seconds() != r.submitted_at().seconds()) {
    AppendRow("updated", UtcOrDash(r.updated_at()), &out);
  }
  AppendRow("status", r.interview_status(), &out);
  AppendRow("notes", r.interview_notes(), &out);

  AppendAnswers(r, &out);

  absl::StrAppend(&out, "\ntags (primary first)\n");
  if (r.tags().empty()) absl::StrAppend(&out, "  (none)\n");
  std::vector<std::vector<std::string>> rows;
  for (const FrictionTag& t : r.tags()) {
    rows.push_back(
        {absl::StrCat(OrDash(t.friction()), t.primary() ? " (primary)" : ""),
         OrDash(t.source()), Confidence(t)});
  }
  absl::StrAppend(&out, Indent(TextTable(rows), 2));

  if (!r.tag_history().empty()) {
    absl::StrAppend(&out, "\ntag history (oldest first)\n");
    rows.clear();
    for (const FrictionTag& t : r.tag_history()) {
      std::string who = t.tagged_by().empty()
                            ? std::string("by harkd")
                            : absl::StrCat("by ", t.tagged_by());
      if (!t.note().empty()) {
        absl::StrAppend(&who, ": \"", OneLine(t.note()), "\"");
      }
      rows.push_back(
          {HasTime(t.tagged_at()) ? FormatUtcTime(t.tagged_at()) : "-",
           OrDash(t.friction()), OrDash(t.source()), Confidence(t), who});
    }
    absl::StrAppend(&out, Indent(TextTable(rows), 2));
  }

  if (r.has_match()) {
    const hark::v1::Match& m = r.match();
    absl::StrAppend(&out, "\nmatch ", OrDash(m.match_id()), " at ",
                    UtcOrDash(m.matched_at()));
    if (!m.group_key().empty())
      absl::StrAppend(&out, ", group ", m.group_key());
    absl::StrAppend(&out, "\n");
    if (!m.events().empty()) {
      absl::StrAppend(&out, "  events that triggered it\n");
      rows.clear();
      for (const hark::v1::MatchedEvent& e : m.events()) {
        std::string name = OrDash(e.name());
        if (!e.alias().empty()) absl::StrAppend(&name, "(", e.alias(), ")");
        std::vector<std::string> props;
        for (const auto& [key, value] : Sorted(e.properties())) {
          props.push_back(absl::StrCat(key, "=", FormatValue(*value)));
        }
        rows.push_back(
            {HasTime(e.timestamp()) ? FormatUtcTime(e.timestamp()) : "-",
             name});
        if (!props.empty()) {
          rows.back().push_back(OneLine(absl::StrJoin(props, " ")));
        }
      }
      absl::StrAppend(&out, Indent(TextTable(rows), 4));
    }
    if (!m.traits().empty()) {
      absl::StrAppend(&out, "  traits at match time\n");
      rows.clear();
      for (const auto& [key, value] : Sorted(m.traits())) {
        rows.push_back({key, OneLine(FormatValue(*value))});
      }
      absl::StrAppend(&out, Indent(TextTable(rows), 4));
    }
  }
  return out;
}

std::string FormatTagResult(const Response& r) {
  const FrictionTag* tag = PrimaryTag(r);
  std::string out = absl::StrCat("response ", r.response_id(), " is now ");
  if (tag == nullptr) {
    absl::StrAppend(&out, "without a primary tag");
  } else {
    absl::StrAppend(&out, "tagged ", OrDash(tag->friction()), " (",
                    OrDash(tag->source()));
    if (!tag->tagged_by().empty()) {
      absl::StrAppend(&out, ", by ", tag->tagged_by());
    }
    absl::StrAppend(&out, ")");
  }
  absl::StrAppend(&out, "; ", Plural(r.tag_history_size(), "entry", "entries"),
                  " in its tag history\n");
  return out;
}

std::vector<std::string> ResponseCsvHeader() {
  return {"response_id",
          "submitted_at",
          "user_id",
          "rule_id",
          "definition_id",
          "kind",
          "friction",
          "friction_source",
          "confidence",
          "secondary_frictions",
          "manually_tagged_by",
          "score",
          "answers",
          "text",
          "interview_status",
          "matched_at",
          "traits"};
}

std::vector<std::string> ResponseCsvFields(const Response& r) {
  const FrictionTag* primary = PrimaryTag(r);
  // The other types the response was tagged with, each once.
  std::vector<std::string> secondary;
  for (const FrictionTag& t : r.tags()) {
    if (!t.primary() &&
        (primary == nullptr || t.friction() != primary->friction()) &&
        std::find(secondary.begin(), secondary.end(), t.friction()) ==
            secondary.end()) {
      secondary.push_back(t.friction());
    }
  }
  std::vector<std::string> traits;
  for (const auto& [key, value] : Sorted(r.match().traits())) {
    traits.push_back(absl::StrCat(key, "=", PlainValue(*value)));
  }
  const bool manual = primary != nullptr && primary->source() == "manual";
  return {r.response_id(),
          HasTime(r.submitted_at()) ? FormatTimeSeconds(r.submitted_at()) : "",
          r.user_id(),
          r.rule_id(),
          r.definition_id(),
          KindName(r.kind()),
          primary != nullptr ? primary->friction() : "",
          primary != nullptr ? primary->source() : "",
          primary != nullptr ? Confidence(*primary) : "",
          absl::StrJoin(secondary, ";"),
          manual ? primary->tagged_by() : "",
          ResponseScore(r),
          AnswerSummary(r, "; "),
          ResponseText(r),
          r.interview_status(),
          HasTime(r.match().matched_at())
              ? FormatTimeSeconds(r.match().matched_at())
              : "",
          absl::StrJoin(traits, "; ")};
}

std::string FormatSubmitResult(
    absl::string_view prompt_id,
    const hark::v1::SubmitResponseResponse& response) {
  return absl::StrCat("response ", OrDash(response.response_id()),
                      " stored for prompt ", prompt_id,
                      "; friction: ", OrDash(response.friction()), "\n");
}

std::string FormatInterviewResult(
    absl::string_view prompt_id, absl::string_view status,
    const hark::v1::RecordInterviewResponse& response) {
  return absl::StrCat("interview ", prompt_id, ": ", status, " (response ",
                      OrDash(response.response_id()), ")\n");
}

std::string FormatDeleteUserResult(
    absl::string_view user_id, const hark::v1::DeleteUserResponse& response) {
  std::vector<std::pair<uint64_t, std::string>> tables;
  uint64_t total = 0;
  for (const auto& [table, rows] : response.deleted()) {
    total += rows;
    if (rows > 0) tables.emplace_back(rows, table);
  }
  // Largest first, then by name.
  std::sort(tables.begin(), tables.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  if (total == 0) {
    return absl::StrCat("harkd held nothing about ", user_id,
                        "; nothing was deleted (check the user id)\n");
  }
  std::string out =
      absl::StrCat("deleted ", user_id, ": ", WithThousands(total),
                   total == 1 ? " row" : " rows", "\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& [n, table] : tables) {
    rows.push_back({table, WithThousands(n)});
  }
  absl::StrAppend(&out, Indent(TextTable(rows, {false, true}), 2));
  absl::StrAppend(
      &out,
      "note: aggregates already reported are not rewritten: reports and "
      "exports made before still count ",
      user_id, "; later ones do not\n");
  return out;
}

}  // namespace hark::cli
