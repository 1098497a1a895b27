#include "server/responses/answers.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hark::responses {
namespace {

using hark::v1::Answer;
using hark::v1::Question;

struct Range {
  int min;
  int max;
  const char* name;
};

std::optional<Range> ScoreRange(Question::Type type) {
  switch (type) {
    case Question::RATING:
      return Range{1, 5, "a rating"};
    case Question::NPS:
      return Range{0, 10, "an NPS score"};
    case Question::CES:
      return Range{1, 7, "a CES score"};
    default:
      return std::nullopt;
  }
}

const char* ExpectedValue(Question::Type type) {
  switch (type) {
    case Question::RATING:
    case Question::NPS:
    case Question::CES:
      return "`score`";
    case Question::SINGLE_CHOICE:
      return "`choice` (one choice id)";
    case Question::MULTI_CHOICE:
      return "`choices` (a list of choice ids)";
    case Question::TEXT:
      return "`text`";
    default:
      return "a value";
  }
}

const char* GivenValue(const Answer& a) {
  switch (a.value_case()) {
    case Answer::kScore:
      return "a score";
    case Answer::kChoice:
      return "a choice";
    case Answer::kChoices:
      return "a choice list";
    case Answer::kText:
      return "a text";
    default:
      return "no value";
  }
}

std::string ChoiceIds(const Question& q) {
  std::vector<std::string> ids;
  for (const hark::v1::Choice& c : q.choices()) ids.push_back(c.id());
  return absl::StrJoin(ids, ", ");
}

bool HasChoice(const Question& q, const std::string& id) {
  return std::any_of(q.choices().begin(), q.choices().end(),
                     [&](const hark::v1::Choice& c) { return c.id() == id; });
}

// Problems of one answer to `q`, each a short phrase.
void CheckValue(const Question& q, const Answer& a,
                std::vector<std::string>* problems) {
  const bool right_kind = [&] {
    switch (q.type()) {
      case Question::RATING:
      case Question::NPS:
      case Question::CES:
        return a.value_case() == Answer::kScore;
      case Question::SINGLE_CHOICE:
        return a.value_case() == Answer::kChoice;
      case Question::MULTI_CHOICE:
        return a.value_case() == Answer::kChoices;
      case Question::TEXT:
        return a.value_case() == Answer::kText;
      default:
        return false;
    }
  }();
  if (!right_kind) {
    problems->push_back(absl::StrCat("expected ", ExpectedValue(q.type()),
                                     ", got ", GivenValue(a)));
    return;
  }
  if (std::optional<Range> range = ScoreRange(q.type())) {
    if (a.score() < range->min || a.score() > range->max) {
      problems->push_back(absl::StrCat("score ", a.score(),
                                       " is out of range: ", range->name,
                                       " is ", range->min, " to ", range->max));
    }
    return;
  }
  switch (q.type()) {
    case Question::SINGLE_CHOICE:
      if (!HasChoice(q, a.choice())) {
        problems->push_back(absl::StrCat("\"", a.choice(),
                                         "\" is not one of its choices (",
                                         ChoiceIds(q), ")"));
      }
      return;
    case Question::MULTI_CHOICE: {
      if (a.choices().ids().empty()) {
        problems->push_back("no choice given (choose at least one)");
        return;
      }
      absl::flat_hash_set<std::string> seen;
      for (const std::string& id : a.choices().ids()) {
        if (!HasChoice(q, id)) {
          problems->push_back(absl::StrCat(
              "\"", id, "\" is not one of its choices (", ChoiceIds(q), ")"));
        } else if (!seen.insert(id).second) {
          problems->push_back(absl::StrCat("\"", id, "\" is chosen twice"));
        }
      }
      return;
    }
    case Question::TEXT:
      if (a.text().size() > kMaxTextBytes) {
        problems->push_back(absl::StrCat("text is ", a.text().size(),
                                         " bytes; at most ", kMaxTextBytes,
                                         " (4 KiB) are kept"));
      }
      return;
    default:
      return;
  }
}

// An answer that counts as given (an empty text does not).
bool Given(const Answer& a) {
  return a.value_case() != Answer::VALUE_NOT_SET &&
         !(a.value_case() == Answer::kText && a.text().empty());
}

}  // namespace

absl::Status ValidateAnswers(const hark::v1::Prompt& prompt,
                             absl::Span<const Answer> answers) {
  absl::flat_hash_map<std::string, const Question*> questions;
  std::vector<std::string> ids;
  for (const Question& q : prompt.questions()) {
    questions[q.id()] = &q;
    ids.push_back(q.id());
  }
  std::vector<std::string> problems;
  if (answers.empty()) {
    problems.push_back(
        absl::StrCat("answers: none given (survey \"", prompt.definition_id(),
                     "\" asks: ", absl::StrJoin(ids, ", "), ")"));
  }
  absl::flat_hash_set<std::string> answered;
  for (size_t i = 0; i < answers.size(); ++i) {
    const Answer& a = answers[i];
    const std::string where =
        absl::StrCat("answers[", i, "] (question \"", a.question_id(), "\")");
    if (a.question_id().empty()) {
      problems.push_back(absl::StrCat("answers[", i,
                                      "].question_id: required (one of ",
                                      absl::StrJoin(ids, ", "), ")"));
      continue;
    }
    auto it = questions.find(a.question_id());
    if (it == questions.end()) {
      problems.push_back(absl::StrCat(
          where, ": survey \"", prompt.definition_id(),
          "\" has no such question (its questions: ", absl::StrJoin(ids, ", "),
          ")"));
      continue;
    }
    if (!answered.insert(a.question_id()).second) {
      problems.push_back(absl::StrCat(where, ": answered twice"));
      continue;
    }
    std::vector<std::string> value_problems;
    CheckValue(*it->second, a, &value_problems);
    for (const std::string& p : value_problems) {
      problems.push_back(absl::StrCat(where, ": ", p));
    }
  }
  for (const Question& q : prompt.questions()) {
    if (!q.required()) continue;
    bool given = false;
    for (const Answer& a : answers) {
      if (a.question_id() == q.id() && Given(a)) given = true;
    }
    if (!given) {
      problems.push_back(
          absl::StrCat("question \"", q.id(), "\": required, no answer given"));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(problems, "; "));
}

namespace {

std::string Canonical(const Answer& a) {
  Answer copy = a;
  if (copy.value_case() == Answer::kChoices) {
    auto* ids = copy.mutable_choices()->mutable_ids();
    std::sort(ids->begin(), ids->end());
  }
  std::string out;
  copy.SerializeToString(&out);
  return out;
}

std::vector<std::string> CanonicalSet(absl::Span<const Answer> answers) {
  std::vector<std::string> out;
  for (const Answer& a : answers) out.push_back(Canonical(a));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

bool SameAnswers(absl::Span<const Answer> a, absl::Span<const Answer> b) {
  return a.size() == b.size() && CanonicalSet(a) == CanonicalSet(b);
}

std::optional<int> FirstScore(absl::Span<const Answer> answers) {
  for (const Answer& a : answers) {
    if (a.value_case() == Answer::kScore) return a.score();
  }
  return std::nullopt;
}

std::string JoinedText(absl::Span<const Answer> answers) {
  std::vector<absl::string_view> texts;
  for (const Answer& a : answers) {
    if (a.value_case() == Answer::kText && !a.text().empty()) {
      texts.push_back(a.text());
    }
  }
  return absl::StrJoin(texts, "\n");
}

}  // namespace hark::responses
