#ifndef HARK_SERVER_RULES_EXPR_LEXER_H_
#define HARK_SERVER_RULES_EXPR_LEXER_H_

// The tokens of the predicate language (internal to server/rules): used by
// the parser in expr.cc and by NormalizeExprText for pattern versions.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace hark::rules::internal {

enum class Tok {
  kEnd,
  kIdent,
  kNumber,
  kString,
  kTrue,
  kFalse,
  kNull,
  kIn,
  kEqEq,
  kNotEq,
  kLess,
  kLessEq,
  kGreater,
  kGreaterEq,
  kAndAnd,
  kOrOr,
  kBang,
  kMinus,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kDot,
};

struct Token {
  Tok kind = Tok::kEnd;
  int offset = 0;  // byte offset of the token's first character
  int length = 0;  // bytes of source text
  // kIdent: the name; kString: the decoded value; others: empty.
  std::string text;
  double number = 0;  // kNumber
};

struct LexError {
  int offset = 0;
  std::string message;
  std::string hint;
};

// Splits `src` into tokens, ending with one kEnd token at src.size().
// Returns false and fills `*error` at the first character it cannot read.
bool Lex(absl::string_view src, std::vector<Token>* out, LexError* error);

// How a token kind is written, for messages ("`==`", "a name", ...).
std::string Describe(const Token& token);

}  // namespace hark::rules::internal

#endif  // HARK_SERVER_RULES_EXPR_LEXER_H_
