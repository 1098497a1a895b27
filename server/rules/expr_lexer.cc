#include "server/rules/expr_lexer.h"

#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace hark::rules::internal {
namespace {

bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

}  // namespace

bool Lex(absl::string_view src, std::vector<Token>* out, LexError* error) {
  out->clear();
  const int n = static_cast<int>(src.size());
  int i = 0;
  auto fail = [&](int offset, std::string message, std::string hint) {
    error->offset = offset;
    error->message = std::move(message);
    error->hint = std::move(hint);
    return false;
  };
  auto push = [&](Tok kind, int start, int length) {
    Token t;
    t.kind = kind;
    t.offset = start;
    t.length = length;
    out->push_back(std::move(t));
  };
  while (i < n) {
    const char c = src[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    const int start = i;
    if (IsIdentStart(c)) {
      while (i < n && IsIdentChar(src[i])) ++i;
      absl::string_view word = src.substr(start, i - start);
      Tok kind = Tok::kIdent;
      if (word == "true") kind = Tok::kTrue;
      if (word == "false") kind = Tok::kFalse;
      if (word == "null") kind = Tok::kNull;
      if (word == "in") kind = Tok::kIn;
      push(kind, start, i - start);
      if (kind == Tok::kIdent) out->back().text = std::string(word);
      continue;
    }
    if (absl::ascii_isdigit(c) ||
        (c == '.' && i + 1 < n && absl::ascii_isdigit(src[i + 1]))) {
      while (i < n && absl::ascii_isdigit(src[i])) ++i;
      if (i < n && src[i] == '.' && i + 1 < n &&
          absl::ascii_isdigit(src[i + 1])) {
        ++i;
        while (i < n && absl::ascii_isdigit(src[i])) ++i;
      }
      if (i < n && (src[i] == 'e' || src[i] == 'E')) {
        int j = i + 1;
        if (j < n && (src[j] == '+' || src[j] == '-')) ++j;
        if (j < n && absl::ascii_isdigit(src[j])) {
          i = j;
          while (i < n && absl::ascii_isdigit(src[i])) ++i;
        }
      }
      if (i < n && IsIdentChar(src[i])) {
        return fail(start,
                    absl::StrCat("`", src.substr(start, i - start + 1),
                                 "...` is not a number"),
                    "numbers are written 3 or 2.5; text is quoted: \"3d\"");
      }
      const std::string digits(src.substr(start, i - start));
      push(Tok::kNumber, start, i - start);
      out->back().number = std::strtod(digits.c_str(), nullptr);
      continue;
    }
    if (c == '"' || c == '\'') {
      std::string value;
      ++i;
      bool closed = false;
      while (i < n) {
        const char d = src[i];
        if (d == c) {
          closed = true;
          ++i;
          break;
        }
        if (d == '\n' || d == '\r') break;
        if (d == '\\') {
          if (i + 1 >= n) break;
          const char e = src[i + 1];
          switch (e) {
            case '\\':
            case '"':
            case '\'':
            case '`':
              value.push_back(e);
              break;
            case 'n':
              value.push_back('\n');
              break;
            case 't':
              value.push_back('\t');
              break;
            case 'r':
              value.push_back('\r');
              break;
            default:
              return fail(
                  i,
                  absl::StrCat("unknown escape `\\", std::string(1, e),
                               "` in a string"),
                  "inside quotes write \\\\ for a backslash, \\\" for a "
                  "quote, \\n for a new line");
          }
          i += 2;
          continue;
        }
        value.push_back(d);
        ++i;
      }
      if (!closed) {
        return fail(start, "this string is never closed",
                    absl::StrCat("end it with the same quote it starts with: ",
                                 std::string(1, c), "text", std::string(1, c)));
      }
      push(Tok::kString, start, i - start);
      out->back().text = std::move(value);
      continue;
    }
    auto two = [&](char second) { return i + 1 < n && src[i + 1] == second; };
    switch (c) {
      case '=':
        if (two('=')) {
          push(Tok::kEqEq, start, 2);
          i += 2;
          continue;
        }
        return fail(start, "`=` alone is not an operator",
                    "compare with ==: props.plan == \"pro\"");
      case '!':
        if (two('=')) {
          push(Tok::kNotEq, start, 2);
          i += 2;
        } else {
          push(Tok::kBang, start, 1);
          ++i;
        }
        continue;
      case '<':
        if (two('=')) {
          push(Tok::kLessEq, start, 2);
          i += 2;
        } else {
          push(Tok::kLess, start, 1);
          ++i;
        }
        continue;
      case '>':
        if (two('=')) {
          push(Tok::kGreaterEq, start, 2);
          i += 2;
        } else {
          push(Tok::kGreater, start, 1);
          ++i;
        }
        continue;
      case '&':
        if (two('&')) {
          push(Tok::kAndAnd, start, 2);
          i += 2;
          continue;
        }
        return fail(start, "`&` alone is not an operator",
                    "write && for \"and\": a && b");
      case '|':
        if (two('|')) {
          push(Tok::kOrOr, start, 2);
          i += 2;
          continue;
        }
        return fail(start, "`|` alone is not an operator",
                    "write || for \"or\": a || b");
      case '-':
        push(Tok::kMinus, start, 1);
        ++i;
        continue;
      case '(':
        push(Tok::kLParen, start, 1);
        ++i;
        continue;
      case ')':
        push(Tok::kRParen, start, 1);
        ++i;
        continue;
      case '[':
        push(Tok::kLBracket, start, 1);
        ++i;
        continue;
      case ']':
        push(Tok::kRBracket, start, 1);
        ++i;
        continue;
      case ',':
        push(Tok::kComma, start, 1);
        ++i;
        continue;
      case '.':
        push(Tok::kDot, start, 1);
        ++i;
        continue;
      default:
        break;
    }
    std::string shown = static_cast<unsigned char>(c) < 0x80
                            ? std::string(1, c)
                            : std::string("a non-ASCII character");
    return fail(start, absl::StrCat("unexpected `", shown, "`"),
                "names are props.x, user.x, event.name or a step alias; text "
                "is quoted: \"like this\"");
  }
  Token end;
  end.kind = Tok::kEnd;
  end.offset = n;
  out->push_back(std::move(end));
  return true;
}

std::string Describe(const Token& token) {
  switch (token.kind) {
    case Tok::kEnd:
      return "the end of the expression";
    case Tok::kIdent:
      return absl::StrCat("`", token.text, "`");
    case Tok::kNumber:
      return "a number";
    case Tok::kString:
      return "a string";
    case Tok::kTrue:
      return "`true`";
    case Tok::kFalse:
      return "`false`";
    case Tok::kNull:
      return "`null`";
    case Tok::kIn:
      return "`in`";
    case Tok::kEqEq:
      return "`==`";
    case Tok::kNotEq:
      return "`!=`";
    case Tok::kLess:
      return "`<`";
    case Tok::kLessEq:
      return "`<=`";
    case Tok::kGreater:
      return "`>`";
    case Tok::kGreaterEq:
      return "`>=`";
    case Tok::kAndAnd:
      return "`&&`";
    case Tok::kOrOr:
      return "`||`";
    case Tok::kBang:
      return "`!`";
    case Tok::kMinus:
      return "`-`";
    case Tok::kLParen:
      return "`(`";
    case Tok::kRParen:
      return "`)`";
    case Tok::kLBracket:
      return "`[`";
    case Tok::kRBracket:
      return "`]`";
    case Tok::kComma:
      return "`,`";
    case Tok::kDot:
      return "`.`";
  }
  return "a token";
}

}  // namespace hark::rules::internal
