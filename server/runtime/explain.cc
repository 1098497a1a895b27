#include "server/runtime/explain.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hark/proto_time.h"
#include "hark/status_macros.h"
#include "hark/v1/prompts.pb.h"
#include "hark/v1/rules.pb.h"
#include "server/runtime/orchestrator.h"

namespace hark::runtime {
namespace {

// Ties at the same instant keep this order: cause before effect.
enum Rank { kEvent = 0, kMatch = 1, kDecision = 2, kPrompt = 3, kResponse = 4 };

struct Entry {
  absl::Time at;
  Rank rank;
  hark::v1::TimelineEntry entry;
};

hark::v1::Value Text(absl::string_view s) {
  hark::v1::Value v;
  v.set_string_value(std::string(s));
  return v;
}

std::string FormatValue(const hark::v1::Value& v) {
  switch (v.kind_case()) {
    case hark::v1::Value::kStringValue:
      return absl::StrCat("\"", v.string_value(), "\"");
    case hark::v1::Value::kNumberValue:
      return absl::StrCat(v.number_value());
    case hark::v1::Value::kBoolValue:
      return v.bool_value() ? "true" : "false";
    case hark::v1::Value::kTimestampValue:
      return absl::FormatTime(
          absl::RFC3339_sec,
          absl::FromUnixSeconds(v.timestamp_value().seconds()),
          absl::UTCTimeZone());
    case hark::v1::Value::KIND_NOT_SET:
      break;
  }
  return "null";
}

Entry Make(absl::Time at, Rank rank, absl::string_view kind,
           std::string summary) {
  Entry e{at, rank, {}};
  SetTimestamp(at, e.entry.mutable_at());
  e.entry.set_kind(std::string(kind));
  e.entry.set_summary(std::move(summary));
  return e;
}

absl::string_view KindName(int kind) {
  return kind == hark::v1::Prompt::INTERVIEW ? "interview" : "survey";
}

std::string Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<hark::v1::ExplainResponse> Explain(store::Store& store,
                                                  absl::string_view user_id) {
  if (user_id.empty()) {
    return absl::InvalidArgumentError(
        "user_id: required (the user whose timeline is wanted)");
  }
  std::vector<Entry> entries;
  absl::flat_hash_set<std::string> seen_events;

  store::MatchFilter filter;
  filter.user_id = std::string(user_id);
  filter.page_size = 1000;
  size_t matches = 0;
  do {
    ASSIGN_OR_RETURN(store::MatchPage page, store.ListMatches(filter));
    for (const store::MatchRecord& m : page.matches) {
      hark::v1::Match context;
      context.ParseFromString(m.context);
      for (const hark::v1::MatchedEvent& ev : context.events()) {
        if (!seen_events.insert(ev.event_id()).second) continue;
        std::vector<std::string> props;
        for (const auto& [key, value] : ev.properties()) {
          props.push_back(absl::StrCat(key, "=", FormatValue(value)));
        }
        std::sort(props.begin(), props.end());
        Entry e = Make(FromTimestamp(ev.timestamp()), kEvent, "event",
                       props.empty() ? ev.name()
                                     : absl::StrCat(ev.name(), " ",
                                                    absl::StrJoin(props, " ")));
        (*e.entry.mutable_details())["event_id"] = Text(ev.event_id());
        (*e.entry.mutable_details())["name"] = Text(ev.name());
        for (const auto& [key, value] : ev.properties()) {
          (*e.entry.mutable_details())[absl::StrCat("props.", key)] = value;
        }
        entries.push_back(std::move(e));
      }
      std::string summary = absl::StrCat(
          "rule ", m.rule_id, " matched",
          m.at_deadline ? " (its absence deadline passed)" : "",
          m.group_key.empty() ? "" : absl::StrCat(" for group ", m.group_key));
      Entry e = Make(m.matched_at, kMatch, "match", std::move(summary));
      auto& d = *e.entry.mutable_details();
      d["match_id"] = Text(m.match_id);
      d["rule_id"] = Text(m.rule_id);
      d["rule_version"] = Text(m.rule_version);
      if (!m.group_key.empty()) d["group_key"] = Text(m.group_key);
      entries.push_back(std::move(e));
      ++matches;
    }
    filter.page_token = page.next_page_token;
  } while (!filter.page_token.empty() && matches < kExplainMaxMatches);

  ASSIGN_OR_RETURN(std::vector<store::DecisionRecord> decisions,
                   store.ListUserDecisions(user_id));
  for (const store::DecisionRecord& r : decisions) {
    std::string summary =
        r.outcome == "sent" ? absl::StrCat("rule ", r.rule_id, ": sent ",
                                           KindName(r.kind), " ", r.target)
                            : absl::StrCat("rule ", r.rule_id, ": not asked (",
                                           r.outcome, "): ", r.reason);
    Entry e = Make(r.decided_at, kDecision, "decision", std::move(summary));
    auto& d = *e.entry.mutable_details();
    d["match_id"] = Text(r.match_id);
    d["rule_id"] = Text(r.rule_id);
    d["outcome"] = Text(r.outcome);
    d["reason"] = Text(r.reason);
    d["target"] = Text(r.target);
    entries.push_back(std::move(e));
  }

  ASSIGN_OR_RETURN(std::vector<store::PromptRecord> prompts,
                   store.ListUserPrompts(user_id));
  for (const store::PromptRecord& p : prompts) {
    auto add = [&](absl::Time at, std::string summary) {
      Entry e = Make(at, kPrompt, "prompt", std::move(summary));
      auto& d = *e.entry.mutable_details();
      d["prompt_id"] = Text(p.prompt_id);
      d["match_id"] = Text(p.match_id);
      d["state"] = Text(PromptStateName(p.state));
      entries.push_back(std::move(e));
    };
    add(p.created_at,
        absl::StrCat(KindName(p.kind), " ", p.definition_id, " prompt ",
                     p.prompt_id, " created: due ", Utc(p.due_at), ", expires ",
                     Utc(p.expires_at), "; now ", PromptStateName(p.state)));
    if (p.delivered_at.has_value()) {
      add(*p.delivered_at, absl::StrCat("prompt ", p.prompt_id, " delivered"));
    }
    if (p.shown_at.has_value()) {
      add(*p.shown_at, absl::StrCat("prompt ", p.prompt_id, " shown"));
    }
    if (p.closed_at.has_value()) {
      add(*p.closed_at,
          absl::StrCat("prompt ", p.prompt_id, " ", PromptStateName(p.state)));
    }
  }

  store::ResponseQuery by_user;
  by_user.user_id = std::string(user_id);
  ASSIGN_OR_RETURN(std::vector<store::ResponseRecord> responses,
                   store.ListResponses(by_user, 0, kExplainMaxMatches));
  for (const store::ResponseRecord& r : responses) {
    std::string primary = "unknown";
    std::string source;
    for (const store::TagRecord& t : r.tags) {
      if (!t.primary) continue;
      primary = t.friction;
      source = t.source;
    }
    std::string summary = absl::StrCat(
        r.interview_status.empty() ? absl::StrCat("answered ", r.definition_id)
                                   : absl::StrCat("interview ", r.definition_id,
                                                  " ", r.interview_status),
        " (prompt ", r.prompt_id, "): friction ", primary,
        source.empty() ? "" : absl::StrCat(" from ", source));
    Entry e = Make(r.submitted_at, kResponse, "response", std::move(summary));
    auto& d = *e.entry.mutable_details();
    d["response_id"] = Text(r.response_id);
    d["prompt_id"] = Text(r.prompt_id);
    d["friction"] = Text(primary);
    entries.push_back(std::move(e));
  }

  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) {
                     if (a.at != b.at) return a.at < b.at;
                     return a.rank < b.rank;
                   });
  hark::v1::ExplainResponse out;
  for (Entry& e : entries) *out.add_entries() = std::move(e.entry);
  return out;
}

}  // namespace hark::runtime
