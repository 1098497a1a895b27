#include "clients/hark/review_args.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "clients/hark/values.h"

namespace hark::cli {
namespace {

constexpr absl::string_view kFrictionTypes[] = {"product", "process", "pricing",
                                                "perception", "unknown"};
constexpr absl::string_view kSources[] = {"choice", "text", "hypothesis",
                                          "manual"};
// Scores of RATING (1-5), NPS (0-10) and CES (1-7) questions.
constexpr int kMaxScore = 10;

bool OneOf(absl::string_view value, absl::Span<const absl::string_view> set) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

absl::Status Invalid(absl::string_view option, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("--", option, " ", message));
}

// "KEY=VALUE" split at the first '='; INVALID_ARGUMENT naming the option
// when there is no '=' or KEY is empty.
absl::StatusOr<std::pair<std::string, std::string>> KeyValue(
    const OptionArg& o, absl::string_view what) {
  const size_t eq = o.value.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Invalid(o.name,
                   absl::StrCat("takes ", what, ", got '", o.value, "'"));
  }
  return std::make_pair(o.value.substr(0, eq), o.value.substr(eq + 1));
}

// A score of --score MIN-MAX: 0..10.
bool ParseScore(absl::string_view s, int* out) {
  return !s.empty() && absl::ascii_isdigit(s[0]) && absl::SimpleAtoi(s, out) &&
         *out >= 0 && *out <= kMaxScore;
}

}  // namespace

absl::StatusOr<google::protobuf::Timestamp> ParseFilterTime(
    absl::string_view text, absl::Time now) {
  if (absl::StatusOr<google::protobuf::Timestamp> t = ParseRfc3339(text);
      t.ok()) {
    return t;
  }
  absl::Time day;
  std::string err;
  if (text.size() == 10 &&
      absl::ParseTime("%Y-%m-%d", text, absl::UTCTimeZone(), &day, &err)) {
    google::protobuf::Timestamp t;
    t.set_seconds(absl::ToUnixSeconds(day));
    return t;
  }
  // "7d" and "2w" here; absl reads "30m", "12h", "1h30m", "90s".
  absl::Duration ago;
  int64_t n = 0;
  const bool days_or_weeks =
      text.size() >= 2 && (text.back() == 'd' || text.back() == 'w') &&
      absl::ascii_isdigit(text[0]) &&
      absl::SimpleAtoi(text.substr(0, text.size() - 1), &n) && n <= 100'000;
  if (days_or_weeks) {
    ago = absl::Hours(24) * n * (text.back() == 'w' ? 7 : 1);
  } else if (text.empty() || !absl::ascii_isdigit(text[0]) ||
             !absl::ParseDuration(text, &ago) ||
             ago > absl::Hours(24 * 100'000)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text,
        "' is not a time: use RFC 3339 (2026-11-01T09:30:00Z), a date "
        "(2026-11-01, UTC) or a time ago such as 30m, 12h, 7d or 2w"));
  }
  google::protobuf::Timestamp t;
  t.set_seconds(absl::ToUnixSeconds(now - ago));
  return t;
}

absl::StatusOr<hark::v1::ResponseFilter> ParseResponseFilter(
    absl::Span<const OptionArg> options, absl::Time now) {
  hark::v1::ResponseFilter filter;
  std::set<std::string> seen;
  for (const OptionArg& o : options) {
    const std::string& v = o.value;
    if (o.name == "friction") {
      if (!OneOf(v, kFrictionTypes)) {
        return Invalid(o.name,
                       absl::StrCat("must be product, process, pricing, "
                                    "perception or unknown, got '",
                                    v, "'"));
      }
      filter.set_friction(v);
    } else if (o.name == "any-tag") {
      filter.set_any_tag(true);
    } else if (o.name == "source") {
      if (!OneOf(v, kSources)) {
        return Invalid(o.name,
                       absl::StrCat("must be choice, text, hypothesis or "
                                    "manual, got '",
                                    v, "'"));
      }
      filter.set_source(v);
    } else if (o.name == "rule") {
      filter.set_rule_id(v);
    } else if (o.name == "survey") {
      filter.set_definition_id(v);
    } else if (o.name == "from" || o.name == "to") {
      absl::StatusOr<google::protobuf::Timestamp> t = ParseFilterTime(v, now);
      if (!t.ok()) return Invalid(o.name, t.status().message());
      *(o.name == "from" ? filter.mutable_from() : filter.mutable_to()) = *t;
    } else if (o.name == "trait") {
      absl::StatusOr<std::pair<std::string, std::string>> kv =
          KeyValue(o, "KEY=VALUE (for example plan=pro)");
      if (!kv.ok()) return kv.status();
      filter.set_trait(v);
    } else if (o.name == "score") {
      const std::vector<std::string> parts = absl::StrSplit(v, '-');
      int min = 0;
      int max = 0;
      if (parts.size() > 2 || !ParseScore(parts.front(), &min) ||
          !ParseScore(parts.back(), &max)) {
        return Invalid(o.name,
                       absl::StrCat("takes a score or a range of scores from "
                                    "0 to 10 such as 9, 0-6 or 9-10, got '",
                                    v, "'"));
      }
      if (min > max) {
        return Invalid(
            o.name, absl::StrCat("range '", v, "' is empty: its low end ", min,
                                 " is above its high end ", max,
                                 " (write it as ", max, "-", min, ")"));
      }
      if (max == 0) {
        return Invalid(o.name,
                       "cannot ask for the score 0 alone: the API reads 0-0 "
                       "as no score filter; use 0-1 and look at the scores");
      }
      filter.set_min_score(min);
      filter.set_max_score(max);
    } else if (o.name == "text") {
      filter.set_text_contains(v);
    } else {
      continue;
    }
    if (!seen.insert(o.name).second) {
      return Invalid(o.name, "is given twice; a filter takes one");
    }
  }
  if (filter.any_tag() && filter.friction().empty()) {
    return absl::InvalidArgumentError(
        "--any-tag needs --friction TYPE: it widens that friction filter from "
        "the primary tag to any tag");
  }
  if (filter.has_from() && filter.has_to() &&
      (filter.from().seconds() > filter.to().seconds() ||
       (filter.from().seconds() == filter.to().seconds() &&
        filter.from().nanos() > filter.to().nanos()))) {
    return absl::InvalidArgumentError(
        "--from is after --to; the time range is empty");
  }
  return filter;
}

absl::StatusOr<std::vector<hark::v1::Answer>> ParseAnswerArgs(
    absl::Span<const OptionArg> options) {
  std::vector<hark::v1::Answer> answers;
  std::set<std::string> questions;
  for (const OptionArg& o : options) {
    const bool score = o.name == "score";
    const bool choice = o.name == "choice";
    const bool choices = o.name == "choices";
    const bool text = o.name == "text";
    if (!score && !choice && !choices && !text) continue;
    absl::StatusOr<std::pair<std::string, std::string>> kv = KeyValue(
        o, score    ? "QUESTION=NUMBER (for example nps=9)"
           : choice ? "QUESTION=CHOICE_ID (for example cause=billing)"
           : choices
               ? "QUESTION=CHOICE_ID,CHOICE_ID (for example tried=docs,chat)"
               : "QUESTION=TEXT (for example details=\"The export failed\")");
    if (!kv.ok()) return kv.status();
    auto& [question, value] = *kv;
    if (!questions.insert(question).second) {
      return Invalid(o.name, absl::StrCat("answers question '", question,
                                          "' a second time; answer each "
                                          "question once"));
    }
    hark::v1::Answer answer;
    answer.set_question_id(question);
    if (score) {
      int n = 0;
      if (!absl::SimpleAtoi(value, &n)) {
        return Invalid(o.name, absl::StrCat("takes a whole number for '",
                                            question, "', got '", value, "'"));
      }
      answer.set_score(n);
    } else if (text) {
      answer.set_text(value);
    } else {
      std::vector<std::string> ids = absl::StrSplit(value, ',');
      for (const std::string& id : ids) {
        if (id.empty()) {
          return Invalid(o.name, absl::StrCat("has an empty choice id in '",
                                              o.value, "'"));
        }
      }
      if (choice && ids.size() > 1) {
        return Invalid(o.name, absl::StrCat("takes one choice id; for several "
                                            "use --choices ",
                                            o.value));
      }
      if (choice) {
        answer.set_choice(value);
      } else {
        for (std::string& id : ids) {
          answer.mutable_choices()->add_ids(std::move(id));
        }
      }
    }
    answers.push_back(std::move(answer));
  }
  return answers;
}

absl::Status CheckTagFriction(absl::string_view type) {
  // "unknown" is what the tagger says when nothing fits; a person tags with
  // one of the four types.
  if (type != "unknown" && OneOf(type, kFrictionTypes)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", type,
      "' is not a friction type to tag with: product, process, pricing or "
      "perception"));
}

absl::StatusOr<hark::v1::RecordInterviewRequest::Status> ParseInterviewStatus(
    absl::string_view text) {
  using Request = hark::v1::RecordInterviewRequest;
  if (text == "accepted") return Request::ACCEPTED;
  if (text == "declined") return Request::DECLINED;
  if (text == "booked") return Request::BOOKED;
  if (text == "completed") return Request::COMPLETED;
  if (text == "no_show") return Request::NO_SHOW;
  return absl::InvalidArgumentError(absl::StrCat(
      "'", text,
      "' is not an interview status: accepted, declined, booked, completed "
      "or no_show"));
}

}  // namespace hark::cli
