#ifndef HARK_SERVER_RULES_TEMPLATE_H_
#define HARK_SERVER_RULES_TEMPLATE_H_

// Parsing and reference checks of survey and interview templates (internal
// to server/rules; the loader reports what these find with positions).

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/rules/rule_set.h"

namespace hark::rules::internal {

// A problem in a template, at byte `offset` of its source text.
struct TemplateError {
  int offset = 0;
  std::string message;
  std::string hint;
};

// Splits `text` into literal parts and placeholders. `offsets` receives,
// for each part, the offset of its first byte (for a placeholder: the
// `{{`). On a syntax error (unterminated `{{`, empty path, unknown filter,
// a default without quoted text) returns false and sets `*error` (the
// first one only; the rest of the text is not read).
bool ParseTemplate(absl::string_view text, std::vector<Template::Part>* parts,
                   std::vector<int>* offsets, TemplateError* error);

// The shape check of one placeholder path, independent of any rule:
// user.KEY, match.props.KEY, match.ALIAS.props.KEY, match.rule,
// match.event, match.count. Empty message when it is one of those.
TemplateError CheckPlaceholderShape(const Template::Part& part);

// What `rule` cannot provide for `part` (a placeholder of a valid shape):
// an alias the rule does not have, or a value that may be missing at run
// time without a default. Empty message when fine; the message names the
// rule.
TemplateError CheckPlaceholderForRule(const Template::Part& part,
                                      const Rule& rule);

// A value as a template shows it: strings as they are, numbers shortest
// (integral ones without ".0"), true/false, RFC 3339 UTC timestamps. False
// when the value is unset.
bool FormatTemplateValue(const hark::v1::Value& value, std::string* out);

}  // namespace hark::rules::internal

#endif  // HARK_SERVER_RULES_TEMPLATE_H_
