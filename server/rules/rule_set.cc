#include "server/rules/rule_set.h"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hark::rules {
namespace {

// The event names a pattern reads, each once, in pattern order.
std::vector<absl::string_view> EventsOf(const Pattern& pattern) {
  std::vector<absl::string_view> names;
  auto add = [&](const EventFilter& filter) {
    if (std::find(names.begin(), names.end(), filter.event) == names.end()) {
      names.push_back(filter.event);
    }
  };
  if (const auto* match = std::get_if<MatchPattern>(&pattern)) {
    add(match->filter);
  } else if (const auto* count = std::get_if<CountPattern>(&pattern)) {
    add(count->filter);
  } else if (const auto* seq = std::get_if<SequencePattern>(&pattern)) {
    for (const SequencePattern::Step& step : seq->steps) add(step.filter);
    if (seq->absent.has_value()) add(*seq->absent);
  }
  return names;
}

// What the engine relies on. The loader reports each of these with a
// position first; this catches rules made in code (tests, benchmarks).
absl::Status CheckRule(const Rule& rule) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("rule \"", rule.id, "\": ", what));
  };
  if (rule.id.empty()) return absl::InvalidArgumentError("a rule has no id");
  for (absl::string_view event : EventsOf(rule.pattern)) {
    if (event.empty()) return bad("an event filter has no event name");
  }
  if (const auto* count = std::get_if<CountPattern>(&rule.pattern)) {
    if (count->at_least < 1) return bad("at_least must be at least 1");
    if (count->within <= absl::ZeroDuration()) {
      return bad("within must be positive");
    }
    for (const std::string& key : count->group_by) {
      if (key.empty()) return bad("a group_by key is empty");
    }
  } else if (const auto* seq = std::get_if<SequencePattern>(&rule.pattern)) {
    if (seq->steps.empty()) return bad("a sequence needs at least one step");
    if (seq->within <= absl::ZeroDuration()) {
      return bad("within must be positive");
    }
  }
  if (!(rule.sample > 0 && rule.sample <= 1)) {
    return bad("sample must be in (0, 1]");
  }
  if (rule.quota.has_value() &&
      (rule.quota->max < 1 || rule.quota->per <= absl::ZeroDuration())) {
    return bad("a quota needs max >= 1 and per > 0");
  }
  return absl::OkStatus();
}

absl::Duration WithinOf(const Pattern& pattern) {
  if (const auto* count = std::get_if<CountPattern>(&pattern)) {
    return count->within;
  }
  if (const auto* seq = std::get_if<SequencePattern>(&pattern)) {
    return seq->within;
  }
  return absl::ZeroDuration();
}

}  // namespace

std::string LoadError::ToString() const {
  std::string out = path;
  if (line > 0) absl::StrAppend(&out, ":", line, ":", column);
  absl::StrAppend(&out, ": ", message);
  if (!hint.empty()) absl::StrAppend(&out, " (hint: ", hint, ")");
  return out;
}

absl::string_view Rule::kind() const {
  if (std::holds_alternative<CountPattern>(pattern)) return "count";
  if (std::holds_alternative<SequencePattern>(pattern)) return "sequence";
  return "match";
}

const Rule* RuleSet::Find(absl::string_view id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &rules_[it->second];
}

absl::Span<const int> RuleSet::RulesForEvent(
    absl::string_view event_name) const {
  auto it = by_event_.find(event_name);
  if (it == by_event_.end()) return {};
  return it->second;
}

std::vector<absl::string_view> RuleSet::EventNames() const {
  std::vector<absl::string_view> names;
  names.reserve(by_event_.size());
  for (const auto& [name, rules] : by_event_) names.push_back(name);
  return names;
}

RuleSetBuilder::RuleSetBuilder() : set_(std::make_shared<RuleSet>()) {}

RuleSetBuilder& RuleSetBuilder::AddRule(Rule rule) {
  set_->rules_.push_back(std::move(rule));
  return *this;
}

RuleSetBuilder& RuleSetBuilder::AddTest(RuleTest test) {
  set_->tests_.push_back(std::move(test));
  return *this;
}

RuleSetBuilder& RuleSetBuilder::SetContactPolicy(ContactPolicy policy) {
  set_->contact_policy_ = std::move(policy);
  return *this;
}

const Survey* RuleSet::FindSurvey(absl::string_view id) const {
  for (const Survey& s : surveys_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

const Interview* RuleSet::FindInterview(absl::string_view id) const {
  for (const Interview& i : interviews_) {
    if (i.id == id) return &i;
  }
  return nullptr;
}

RuleSetBuilder& RuleSetBuilder::AddSurvey(Survey survey) {
  set_->surveys_.push_back(std::move(survey));
  return *this;
}

RuleSetBuilder& RuleSetBuilder::AddInterview(Interview interview) {
  set_->interviews_.push_back(std::move(interview));
  return *this;
}

RuleSetBuilder& RuleSetBuilder::SetTaxonomy(Taxonomy taxonomy) {
  set_->taxonomy_ = std::move(taxonomy);
  return *this;
}

absl::StatusOr<std::shared_ptr<const RuleSet>> RuleSetBuilder::Build() {
  // The builder starts over whatever happens, so it can be reused.
  std::shared_ptr<RuleSet> set =
      std::exchange(set_, std::make_shared<RuleSet>());
  for (int i = 0; i < static_cast<int>(set->rules_.size()); ++i) {
    Rule& rule = set->rules_[i];
    if (absl::Status status = CheckRule(rule); !status.ok()) return status;
    if (!set->by_id_.emplace(rule.id, i).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate rule id \"", rule.id, "\""));
    }
    rule.version = PatternVersion(rule.pattern);
    for (absl::string_view event : EventsOf(rule.pattern)) {
      set->by_event_[event].push_back(i);
    }
    set->max_within_ = std::max(set->max_within_, WithinOf(rule.pattern));
  }
  absl::flat_hash_set<absl::string_view> surveys;
  for (const Survey& s : set->surveys_) {
    if (s.id.empty()) return absl::InvalidArgumentError("a survey has no id");
    if (!surveys.insert(s.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate survey id \"", s.id, "\""));
    }
  }
  absl::flat_hash_set<absl::string_view> interviews;
  for (const Interview& i : set->interviews_) {
    if (i.id.empty()) {
      return absl::InvalidArgumentError("an interview has no id");
    }
    if (!interviews.insert(i.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate interview id \"", i.id, "\""));
    }
    if (i.quota.has_value() &&
        (i.quota->max < 1 || i.quota->per <= absl::ZeroDuration())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "interview \"", i.id, "\": a quota needs max >= 1 and per > 0"));
    }
  }
  if (set->taxonomy_.has_value()) {
    absl::flat_hash_set<absl::string_view> types;
    for (const Taxonomy::Type& type : set->taxonomy_->types) {
      if (!IsFrictionType(type.name)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "taxonomy: \"", type.name, "\" is not a friction type"));
      }
      if (!types.insert(type.name).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "taxonomy: friction type \"", type.name, "\" is given twice"));
      }
      if (type.phrases.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "taxonomy: friction type \"", type.name, "\" has no phrases"));
      }
    }
  }
  for (const Rule& rule : set->rules_) {
    if (!rule.action.has_value()) continue;
    const bool survey = rule.action->kind == Action::Kind::kSurvey;
    if (!(survey ? surveys : interviews).contains(rule.action->target)) {
      return absl::InvalidArgumentError(
          absl::StrCat("rule \"", rule.id, "\": its action names ",
                       survey ? "survey" : "interview", " \"",
                       rule.action->target, "\", which the set does not have"));
    }
  }
  return std::shared_ptr<const RuleSet>(std::move(set));
}

}  // namespace hark::rules
