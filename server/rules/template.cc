// Templates: parsing, reference checks, rendering; booking links.

#include "server/rules/template.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "hark/proto_time.h"
#include "server/rules/rule_set.h"
#include "server/rules/suggest.h"

namespace hark::rules {
namespace internal {
namespace {

constexpr absl::string_view kExampleDefault =
    "{{user.first_name | default: \"there\"}}";

bool IsPathChar(char c) {
  return absl::ascii_isalnum(c) || c == '_' || c == '-';
}

// The text a hint suggests as a default for `key`.
std::string ExampleDefault(absl::string_view key) {
  return absl::StrContains(key, "name") ? "there" : "unknown";
}

std::string WithDefault(absl::string_view path, absl::string_view key) {
  return absl::StrCat("{{", path, " | default: \"", ExampleDefault(key),
                      "\"}}");
}

}  // namespace

bool ParseTemplate(absl::string_view text, std::vector<Template::Part>* parts,
                   std::vector<int>* offsets, TemplateError* error) {
  parts->clear();
  offsets->clear();
  auto fail = [&](size_t offset, std::string message, std::string hint) {
    error->offset = static_cast<int>(offset);
    error->message = std::move(message);
    error->hint = std::move(hint);
    return false;
  };
  std::string literal;
  size_t literal_start = 0;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    if (!(text[i] == '{' && i + 1 < n && text[i + 1] == '{')) {
      if (literal.empty()) literal_start = i;
      literal.push_back(text[i]);
      ++i;
      continue;
    }
    if (!literal.empty()) {
      parts->push_back(Template::Part{std::move(literal), "", std::nullopt});
      offsets->push_back(static_cast<int>(literal_start));
      literal.clear();
    }
    const size_t start = i;
    // The closing }}, outside the quotes of a default.
    bool after_pipe = false;
    char quote = 0;
    size_t close = absl::string_view::npos;
    for (size_t k = start + 2; k < n; ++k) {
      const char c = text[k];
      if (quote != 0) {
        if (c == '\\' && quote == '"') {
          ++k;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if (c == '|') {
        after_pipe = true;
      } else if (after_pipe && (c == '"' || c == '\'')) {
        quote = c;
      } else if (c == '}' && k + 1 < n && text[k + 1] == '}') {
        close = k;
        break;
      } else if (c == '{' && k + 1 < n && text[k + 1] == '{') {
        break;  // a new {{ before this one is closed
      }
    }
    if (close == absl::string_view::npos) {
      return fail(start, "`{{` is not closed by `}}`",
                  absl::StrCat("write placeholders as {{match.props.code}} "
                               "or ",
                               kExampleDefault));
    }
    const absl::string_view inner = text.substr(start + 2, close - start - 2);
    const size_t pipe = inner.find('|');
    absl::string_view path_raw = inner.substr(0, pipe);
    const size_t lead = path_raw.find_first_not_of(" \t\n");
    const absl::string_view path = absl::StripAsciiWhitespace(path_raw);
    if (path.empty()) {
      return fail(
          start, "a placeholder needs a name between {{ and }}",
          absl::StrCat("e.g. {{match.props.code}} or ", kExampleDefault));
    }
    const size_t path_offset = start + 2 + lead;
    bool path_ok = path.front() != '.' && path.back() != '.' &&
                   !absl::StrContains(path, "..");
    for (char c : path) path_ok = path_ok && (IsPathChar(c) || c == '.');
    if (!path_ok) {
      return fail(
          path_offset,
          absl::StrCat("`", std::string(path), "` is not a placeholder name"),
          absl::StrCat("names are parts joined by dots, e.g. "
                       "{{match.props.code}}; a default is written ",
                       kExampleDefault));
    }
    Template::Part part;
    part.path = std::string(path);
    if (pipe != absl::string_view::npos) {
      const size_t filter_offset =
          start + 2 + pipe + 1 +
          (inner.substr(pipe + 1).find_first_not_of(" \t\n") ==
                   absl::string_view::npos
               ? 0
               : inner.substr(pipe + 1).find_first_not_of(" \t\n"));
      absl::string_view filter =
          absl::StripLeadingAsciiWhitespace(inner.substr(pipe + 1));
      size_t name_len = 0;
      while (
          name_len < filter.size() &&
          (absl::ascii_isalnum(filter[name_len]) || filter[name_len] == '_')) {
        ++name_len;
      }
      const absl::string_view name = filter.substr(0, name_len);
      if (name != "default") {
        return fail(
            filter_offset,
            name.empty()
                ? std::string("a `|` must be followed by a filter")
                : absl::StrCat("unknown filter `", std::string(name), "`"),
            absl::StrCat("the only filter is default: ",
                         WithDefault(part.path, part.path)));
      }
      absl::string_view rest =
          absl::StripLeadingAsciiWhitespace(filter.substr(name_len));
      std::string value;
      bool ok = absl::ConsumePrefix(&rest, ":");
      rest = absl::StripLeadingAsciiWhitespace(rest);
      if (ok && !rest.empty() && (rest[0] == '"' || rest[0] == '\'')) {
        const char q = rest[0];
        size_t k = 1;
        bool closed = false;
        for (; k < rest.size(); ++k) {
          if (q == '"' && rest[k] == '\\' && k + 1 < rest.size()) {
            value.push_back(rest[++k]);
          } else if (rest[k] == q) {
            closed = true;
            break;
          } else {
            value.push_back(rest[k]);
          }
        }
        ok = closed && absl::StripAsciiWhitespace(rest.substr(k + 1)).empty();
      } else {
        ok = false;
      }
      if (!ok) {
        return fail(filter_offset,
                    "default needs a text in quotes (and nothing after it)",
                    absl::StrCat("e.g. ", WithDefault(part.path, part.path)));
      }
      part.default_value = std::move(value);
    }
    parts->push_back(std::move(part));
    offsets->push_back(static_cast<int>(start));
    i = close + 2;
  }
  if (!literal.empty()) {
    parts->push_back(Template::Part{std::move(literal), "", std::nullopt});
    offsets->push_back(static_cast<int>(literal_start));
  }
  return true;
}

TemplateError CheckPlaceholderShape(const Template::Part& part) {
  TemplateError e;
  const std::vector<absl::string_view> segs = absl::StrSplit(part.path, '.');
  const std::string quoted = absl::StrCat("`{{", part.path, "}}`");
  constexpr absl::string_view kMatchHint =
      "a match has match.rule, match.event, match.count, match.props.KEY "
      "and, in sequences, match.STEP.props.KEY";
  if (segs[0] == "user") {
    if (segs.size() == 2) return e;
    e.message = absl::StrCat(quoted, " does not name one user trait");
    e.hint =
        absl::StrCat("traits are written user.NAME, e.g. ", kExampleDefault);
    return e;
  }
  if (segs[0] == "match") {
    if (segs.size() == 2 &&
        (segs[1] == "rule" || segs[1] == "event" || segs[1] == "count")) {
      return e;
    }
    if (segs.size() == 3 && segs[1] == "props") return e;
    if (segs.size() == 4 && segs[2] == "props" && segs[1] != "props" &&
        segs[1] != "rule" && segs[1] != "event" && segs[1] != "count") {
      return e;
    }
    e.message = absl::StrCat(quoted, " is not something a match has");
    e.hint = std::string(kMatchHint);
    if (segs.size() == 2) {
      static constexpr absl::string_view kFields[] = {"rule", "event", "count",
                                                      "props"};
      const std::string near = Nearest(segs[1], kFields);
      if (!near.empty() && near != "props") {
        e.hint =
            absl::StrCat("did you mean {{match.", near, "}}? ", kMatchHint);
      } else if (segs[1] == "props" || near == "props") {
        e.hint = "name the property: {{match.props.code}}";
      }
    }
    return e;
  }
  e.message = absl::StrCat(quoted, " does not start with user. or match.");
  if (segs[0] == "props" && segs.size() == 2) {
    e.hint = absl::StrCat("event properties are written {{match.props.",
                          segs[1], "}}");
  } else if (segs[0] == "token") {
    e.hint = "{{token}} is only for booking_url";
  } else if (segs.size() == 1) {
    e.hint = absl::StrCat("a user trait is written {{user.", part.path,
                          " | default: \"", ExampleDefault(part.path),
                          "\"}}; a property of the event {{match.props.",
                          part.path, "}}");
  } else {
    static constexpr absl::string_view kRoots[] = {"user", "match"};
    const std::string near = Nearest(segs[0], kRoots);
    e.hint =
        near.empty()
            ? absl::StrCat("placeholders are user traits (", kExampleDefault,
                           ") or parts of the match (", kMatchHint, ")")
            : absl::StrCat("did you mean `", near, "`?");
  }
  return e;
}

TemplateError CheckPlaceholderForRule(const Template::Part& part,
                                      const Rule& rule) {
  TemplateError e;
  const std::vector<absl::string_view> segs = absl::StrSplit(part.path, '.');
  const std::string quoted = absl::StrCat("`{{", part.path, "}}`");
  if (segs.size() == 4 && segs[0] == "match") {
    std::vector<absl::string_view> aliases;
    if (const auto* seq = std::get_if<SequencePattern>(&rule.pattern)) {
      for (const SequencePattern::Step& step : seq->steps) {
        if (!step.alias.empty()) aliases.push_back(step.alias);
      }
    }
    if (std::find(aliases.begin(), aliases.end(), segs[1]) == aliases.end()) {
      e.message = absl::StrCat(quoted, ": rule `", rule.id,
                               "` has no step named `", segs[1], "`");
      const std::string near = Nearest(segs[1], aliases);
      if (!near.empty()) {
        e.hint = absl::StrCat("did you mean {{match.", near, ".props.", segs[3],
                              "}}?");
      } else if (!aliases.empty()) {
        e.hint =
            absl::StrCat("its steps are named ", absl::StrJoin(aliases, ", "));
      } else {
        e.hint = absl::StrCat(
            "only sequence steps with `as:` have names; the matched event's "
            "own properties are {{match.props.",
            segs[3], "}}");
      }
      return e;
    }
  }
  if (part.default_value.has_value()) return e;
  if (segs[0] == "user") {
    e.message =
        absl::StrCat(quoted, " may be missing when rule `", rule.id,
                     "` asks: a user may have no `", segs[1], "` trait");
    e.hint = absl::StrCat("add a default: ", WithDefault(part.path, segs[1]));
    return e;
  }
  if (segs.size() == 3 && segs[1] == "props") {
    if (const auto* count = std::get_if<CountPattern>(&rule.pattern)) {
      for (const std::string& key : count->group_by) {
        if (key == segs[2]) return e;
      }
    }
    e.message = absl::StrCat(quoted, " may be missing when rule `", rule.id,
                             "` asks: its last event may have no `", segs[2],
                             "` property");
    e.hint = absl::StrCat("add a default: ", WithDefault(part.path, segs[2]));
    if (std::holds_alternative<CountPattern>(rule.pattern)) {
      absl::StrAppend(&e.hint, " (or count per value: group_by: [props.",
                      segs[2], "])");
    }
    return e;
  }
  if (segs.size() == 4) {
    e.message = absl::StrCat(quoted, " may be missing when rule `", rule.id,
                             "` asks: step `", segs[1], "` may have no `",
                             segs[3], "` property");
    e.hint = absl::StrCat("add a default: ", WithDefault(part.path, segs[3]));
  }
  return e;
}

bool FormatTemplateValue(const hark::v1::Value& value, std::string* out) {
  switch (value.kind_case()) {
    case hark::v1::Value::kStringValue:
      *out = value.string_value();
      return true;
    case hark::v1::Value::kBoolValue:
      *out = value.bool_value() ? "true" : "false";
      return true;
    case hark::v1::Value::kNumberValue: {
      const double d = value.number_value();
      if (!std::isfinite(d)) {
        *out = std::isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity");
        return true;
      }
      // Exact integers (up to 2^53) without a fraction or an exponent.
      if (d == std::trunc(d) && std::fabs(d) <= 9007199254740992.0) {
        *out = absl::StrCat(static_cast<int64_t>(d));
        return true;
      }
      // The shortest text that reads back as the same double.
      char buf[32];
      for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof(buf), "%.*g", precision, d);
        if (std::strtod(buf, nullptr) == d) break;
      }
      *out = buf;
      return true;
    }
    case hark::v1::Value::kTimestampValue: {
      const absl::Time t = FromTimestamp(value.timestamp_value());
      *out = absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());
      return true;
    }
    case hark::v1::Value::KIND_NOT_SET:
      break;
  }
  return false;
}

}  // namespace internal

namespace {

// The value at `path` in `match`; false when it is missing.
bool Lookup(absl::string_view path, const hark::v1::Match& match,
            std::string* out) {
  const std::vector<absl::string_view> segs = absl::StrSplit(path, '.');
  const hark::v1::MatchedEvent* last =
      match.events_size() > 0 ? &match.events(match.events_size() - 1)
                              : nullptr;
  auto prop = [&](const hark::v1::MatchedEvent* event, absl::string_view key) {
    if (event == nullptr) return false;
    auto it = event->properties().find(std::string(key));
    return it != event->properties().end() &&
           internal::FormatTemplateValue(it->second, out);
  };
  if (segs.size() == 2 && segs[0] == "user") {
    auto it = match.traits().find(std::string(segs[1]));
    return it != match.traits().end() &&
           internal::FormatTemplateValue(it->second, out);
  }
  if (segs[0] != "match") return false;
  if (segs.size() == 2) {
    if (segs[1] == "rule") {
      *out = match.rule_id();
      return true;
    }
    if (segs[1] == "event") {
      if (last == nullptr) return false;
      *out = last->name();
      return true;
    }
    if (segs[1] == "count") {
      *out = absl::StrCat(match.events_size());
      return true;
    }
    return false;
  }
  if (segs.size() == 3 && segs[1] == "props") return prop(last, segs[2]);
  if (segs.size() == 4 && segs[2] == "props") {
    const hark::v1::MatchedEvent* step = nullptr;
    for (const hark::v1::MatchedEvent& e : match.events()) {
      if (e.alias() == segs[1]) step = &e;
    }
    return prop(step, segs[3]);
  }
  return false;
}

}  // namespace

bool IsFrictionType(absl::string_view name) {
  return name == "product" || name == "process" || name == "pricing" ||
         name == "perception";
}

std::string RenderTemplate(const Template& t, const hark::v1::Match& match) {
  std::string out;
  for (const Template::Part& part : t.parts) {
    if (part.path.empty()) {
      out += part.literal;
      continue;
    }
    std::string value;
    // Empty text counts as missing, so "Hi {{user.first_name | default:
    // "there"}}" never renders as "Hi ".
    if (Lookup(part.path, match, &value) && !value.empty()) {
      out += value;
    } else if (part.default_value.has_value()) {
      out += *part.default_value;
    }
  }
  return out;
}

std::string RenderBookingUrl(const Interview& interview,
                             absl::string_view token) {
  // The token is URL-safe by contract; escape anything else anyway.
  std::string safe;
  for (char c : token) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      safe.push_back(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const unsigned char u = static_cast<unsigned char>(c);
      safe.push_back('%');
      safe.push_back(kHex[u >> 4]);
      safe.push_back(kHex[u & 15]);
    }
  }
  constexpr absl::string_view kSlot = "{{token}}";
  const std::string& url = interview.booking_url;
  if (absl::StrContains(url, kSlot)) {
    std::string out;
    absl::string_view rest = url;
    for (size_t at = rest.find(kSlot); at != absl::string_view::npos;
         at = rest.find(kSlot)) {
      absl::StrAppend(&out, rest.substr(0, at), safe);
      rest.remove_prefix(at + kSlot.size());
    }
    absl::StrAppend(&out, rest);
    return out;
  }
  // Before a #fragment, after any query.
  const size_t hash = url.find('#');
  const absl::string_view base = absl::string_view(url).substr(0, hash);
  const absl::string_view fragment = hash == std::string::npos
                                         ? absl::string_view()
                                         : absl::string_view(url).substr(hash);
  const char sep = !absl::StrContains(base, '?') ? '?'
                   : (absl::EndsWith(base, "?") || absl::EndsWith(base, "&"))
                       ? '\0'
                       : '&';
  std::string out(base);
  if (sep != '\0') out.push_back(sep);
  absl::StrAppend(&out, "hark_token=", safe, fragment);
  return out;
}

bool FormatValue(const hark::v1::Value& value, std::string* out) {
  return internal::FormatTemplateValue(value, out);
}

}  // namespace hark::rules
