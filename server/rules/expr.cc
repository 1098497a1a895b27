#include "server/rules/expr.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/rules/expr_lexer.h"

namespace hark::rules {

using internal::Tok;
using internal::Token;

absl::StatusOr<std::unique_ptr<const Predicate>> CompilePredicate(
    absl::string_view, const ExprEnv&, ExprError* error) {
  error->offset = 0;
  error->message = "predicates are not implemented yet";
  return absl::UnimplementedError("CompilePredicate: not yet");
}

std::string NormalizeExprText(absl::string_view text) {
  std::vector<Token> tokens;
  internal::LexError lex_error;
  if (!internal::Lex(text, &tokens, &lex_error)) {
    return absl::StrJoin(
        absl::StrSplit(text, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty()),
        " ");
  }
  std::string out;
  for (const Token& token : tokens) {
    if (token.kind == Tok::kEnd) break;
    if (!out.empty()) out.push_back(' ');
    switch (token.kind) {
      case Tok::kIdent:
        out += token.text;
        break;
      case Tok::kNumber: {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.17g", token.number);
        out += buf;
        break;
      }
      case Tok::kString:
        out.push_back('"');
        for (char c : token.text) {
          if (c == '"' || c == '\\') out.push_back('\\');
          out.push_back(c);
        }
        out.push_back('"');
        break;
      default:
        absl::StrAppend(&out, text.substr(token.offset, token.length));
        break;
    }
  }
  return out;
}

}  // namespace hark::rules
