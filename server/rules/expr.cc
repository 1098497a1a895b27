// The predicate language: recursive-descent parser and type checker in one
// pass, producing a tree of small nodes. Values never exist as objects at
// run time: a comparison reads its two operands straight from the
// EvalInput (a property, a trait, a step property, the event name or a
// constant) as a View, so Eval allocates nothing.

#include "server/rules/expr.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/rules/expr_lexer.h"
#include "server/rules/suggest.h"

namespace hark::rules {
namespace {

using internal::Tok;
using internal::Token;

// ---------------------------------------------------------------------------
// Run time.

// A value as read from the input or a constant; borrowed, never owned.
struct View {
  enum Kind : uint8_t { kMissing, kString, kNumber, kBool, kTimestamp };
  Kind kind = kMissing;
  bool b = false;
  double n = 0;
  absl::string_view s;
  const google::protobuf::Timestamp* ts = nullptr;
};

View FromValue(const hark::v1::Value* value) {
  View v;
  if (value == nullptr) return v;
  switch (value->kind_case()) {
    case hark::v1::Value::kStringValue:
      v.kind = View::kString;
      v.s = value->string_value();
      break;
    case hark::v1::Value::kNumberValue:
      v.kind = View::kNumber;
      v.n = value->number_value();
      break;
    case hark::v1::Value::kBoolValue:
      v.kind = View::kBool;
      v.b = value->bool_value();
      break;
    case hark::v1::Value::kTimestampValue:
      v.kind = View::kTimestamp;
      v.ts = &value->timestamp_value();
      break;
    case hark::v1::Value::KIND_NOT_SET:
      break;
  }
  return v;
}

// Where an operand's value comes from.
struct Operand {
  enum class Source { kConst, kEventName, kProp, kTrait, kStepProp };
  Source source = Source::kConst;
  std::string key;  // kProp, kTrait, kStepProp; the text of a string const
  int step = -1;    // kStepProp
  View::Kind const_kind = View::kMissing;
  double number = 0;
  bool boolean = false;

  View Fetch(const EvalInput& input) const {
    switch (source) {
      case Source::kConst: {
        View v;
        v.kind = const_kind;
        v.s = key;
        v.n = number;
        v.b = boolean;
        return v;
      }
      case Source::kEventName: {
        View v;
        v.kind = View::kString;
        v.s = input.EventName();
        return v;
      }
      case Source::kProp:
        return FromValue(input.Prop(key));
      case Source::kTrait:
        return FromValue(input.Trait(key));
      case Source::kStepProp:
        return FromValue(input.StepProp(step, key));
    }
    return View();
  }
};

// The EqualityGuard of `props.<key> == <constant>`, if `prop` and
// `constant` are that.
std::optional<EqualityGuard> GuardOf(const Operand& prop,
                                     const Operand& constant) {
  if (prop.source != Operand::Source::kProp ||
      constant.source != Operand::Source::kConst) {
    return std::nullopt;
  }
  EqualityGuard guard;
  guard.key = prop.key;
  switch (constant.const_kind) {
    case View::kString:
      guard.kind = EqualityGuard::Kind::kString;
      guard.strings.push_back(constant.key);
      return guard;
    case View::kNumber:
      guard.kind = EqualityGuard::Kind::kNumber;
      guard.numbers.push_back(constant.number);
      return guard;
    case View::kBool:
      guard.kind = EqualityGuard::Kind::kBool;
      guard.bools.push_back(constant.boolean);
      return guard;
    default:
      return std::nullopt;
  }
}

void Mismatch(EvalStats* stats) {
  if (stats != nullptr) ++stats->type_mismatches;
}

class Node {
 public:
  virtual ~Node() = default;
  virtual bool Eval(const EvalInput& input, EvalStats* stats) const = 0;
  // The EqualityGuard this node's Eval() needs as its first test, if any.
  virtual std::optional<EqualityGuard> Guard() const { return std::nullopt; }
  // For a node with a Guard(): appends the nodes that, all true, make this
  // node true once its guard holds (nothing for a node that is its guard).
  virtual void AfterGuard(std::vector<const Node*>* rest) const {
    rest->push_back(this);
  }
};

class ConstNode final : public Node {
 public:
  explicit ConstNode(bool value) : value_(value) {}
  bool Eval(const EvalInput&, EvalStats*) const override { return value_; }

 private:
  bool value_;
};

class NotNode final : public Node {
 public:
  explicit NotNode(std::unique_ptr<Node> inner) : inner_(std::move(inner)) {}
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    return !inner_->Eval(input, stats);
  }

 private:
  std::unique_ptr<Node> inner_;
};

class AndNode final : public Node {
 public:
  AndNode(std::unique_ptr<Node> l, std::unique_ptr<Node> r)
      : l_(std::move(l)), r_(std::move(r)) {}
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    return l_->Eval(input, stats) && r_->Eval(input, stats);
  }
  // The left operand is evaluated first, and false ends the evaluation.
  std::optional<EqualityGuard> Guard() const override { return l_->Guard(); }
  void AfterGuard(std::vector<const Node*>* rest) const override {
    l_->AfterGuard(rest);
    rest->push_back(r_.get());
  }

 private:
  std::unique_ptr<Node> l_, r_;
};

class OrNode final : public Node {
 public:
  OrNode(std::unique_ptr<Node> l, std::unique_ptr<Node> r)
      : l_(std::move(l)), r_(std::move(r)) {}
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    return l_->Eval(input, stats) || r_->Eval(input, stats);
  }

 private:
  std::unique_ptr<Node> l_, r_;
};

// A dynamic value used as a condition: true only if it is the bool true.
class TruthNode final : public Node {
 public:
  explicit TruthNode(Operand operand) : operand_(std::move(operand)) {}
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    const View v = operand_.Fetch(input);
    if (v.kind != View::kBool) {
      Mismatch(stats);
      return false;
    }
    return v.b;
  }

 private:
  Operand operand_;
};

enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe };

template <typename T>
bool Apply(CmpOp op, const T& a, const T& b) {
  switch (op) {
    case CmpOp::kEq:
      return a == b;
    case CmpOp::kNe:
      return a != b;
    case CmpOp::kLt:
      return a < b;
    case CmpOp::kLe:
      return a <= b;
    case CmpOp::kGt:
      return a > b;
    case CmpOp::kGe:
      return a >= b;
  }
  return false;
}

class CompareNode final : public Node {
 public:
  CompareNode(CmpOp op, Operand l, Operand r)
      : op_(op), l_(std::move(l)), r_(std::move(r)) {}
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    const View a = l_.Fetch(input);
    const View b = r_.Fetch(input);
    if (a.kind == View::kMissing || a.kind != b.kind) {
      Mismatch(stats);
      return false;
    }
    switch (a.kind) {
      case View::kString:
        // string_view compares bytewise (char_traits<char> compares as
        // unsigned char).
        return Apply(op_, a.s, b.s);
      case View::kNumber:
        return Apply(op_, a.n, b.n);
      case View::kBool:
        if (op_ != CmpOp::kEq && op_ != CmpOp::kNe) {
          Mismatch(stats);
          return false;
        }
        return Apply(op_, a.b, b.b);
      case View::kTimestamp: {
        const std::pair<int64_t, int32_t> x(a.ts->seconds(), a.ts->nanos());
        const std::pair<int64_t, int32_t> y(b.ts->seconds(), b.ts->nanos());
        return Apply(op_, x, y);
      }
      case View::kMissing:
        break;
    }
    return false;
  }
  std::optional<EqualityGuard> Guard() const override {
    if (op_ != CmpOp::kEq) return std::nullopt;
    if (std::optional<EqualityGuard> g = GuardOf(l_, r_)) return g;
    return GuardOf(r_, l_);
  }
  // The guard holding is this comparison being true.
  void AfterGuard(std::vector<const Node*>* rest) const override {
    if (!Guard().has_value()) rest->push_back(this);
  }

 private:
  CmpOp op_;
  Operand l_, r_;
};

// A computed condition compared with another condition or a bool value:
// `has(props.x) == false`.
class BoolEqNode final : public Node {
 public:
  // Exactly one of r_node / r_operand is used.
  BoolEqNode(bool negate, std::unique_ptr<Node> l, std::unique_ptr<Node> r_node,
             std::optional<Operand> r_operand)
      : negate_(negate),
        l_(std::move(l)),
        r_node_(std::move(r_node)),
        r_operand_(std::move(r_operand)) {}
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    const bool a = l_->Eval(input, stats);
    bool b;
    if (r_node_ != nullptr) {
      b = r_node_->Eval(input, stats);
    } else {
      const View v = r_operand_->Fetch(input);
      if (v.kind != View::kBool) {
        Mismatch(stats);
        return false;
      }
      b = v.b;
    }
    return (a == b) != negate_;
  }

 private:
  bool negate_;
  std::unique_ptr<Node> l_;
  std::unique_ptr<Node> r_node_;
  std::optional<Operand> r_operand_;
};

class InNode final : public Node {
 public:
  // `list` holds constants of one kind (or is empty).
  InNode(Operand value, const std::vector<Operand>& list)
      : value_(std::move(value)) {
    if (!list.empty()) kind_ = list.front().const_kind;
    for (const Operand& item : list) {
      switch (item.const_kind) {
        case View::kString:
          strings_.insert(item.key);
          break;
        case View::kNumber:
          numbers_.push_back(item.number);
          break;
        case View::kBool:
          bools_[item.boolean ? 1 : 0] = true;
          break;
        default:
          break;
      }
    }
  }
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    const View v = value_.Fetch(input);
    if (v.kind == View::kMissing ||
        (kind_ != View::kMissing && v.kind != kind_)) {
      Mismatch(stats);
      return false;
    }
    switch (v.kind) {
      case View::kString:
        return strings_.contains(v.s);
      case View::kNumber:
        return std::find(numbers_.begin(), numbers_.end(), v.n) !=
               numbers_.end();
      case View::kBool:
        return bools_[v.b ? 1 : 0];
      default:
        return false;
    }
  }
  std::optional<EqualityGuard> Guard() const override {
    if (value_.source != Operand::Source::kProp) return std::nullopt;
    EqualityGuard guard;
    guard.key = value_.key;
    switch (kind_) {
      case View::kString:
        guard.kind = EqualityGuard::Kind::kString;
        guard.strings.assign(strings_.begin(), strings_.end());
        std::sort(guard.strings.begin(), guard.strings.end());
        return guard;
      case View::kNumber:
        guard.kind = EqualityGuard::Kind::kNumber;
        guard.numbers = numbers_;
        return guard;
      case View::kBool:
        guard.kind = EqualityGuard::Kind::kBool;
        for (bool b : {false, true}) {
          if (bools_[b ? 1 : 0]) guard.bools.push_back(b);
        }
        return guard;
      default:  // an empty list: always false, nothing to index by
        return std::nullopt;
    }
  }
  // The guard holding is the value being in the list.
  void AfterGuard(std::vector<const Node*>* rest) const override {
    if (!Guard().has_value()) rest->push_back(this);
  }

 private:
  Operand value_;
  View::Kind kind_ = View::kMissing;  // kMissing for an empty list
  // Heterogeneous lookup: find(string_view) does not allocate.
  absl::flat_hash_set<std::string> strings_;
  std::vector<double> numbers_;
  bool bools_[2] = {false, false};
};

class HasNode final : public Node {
 public:
  explicit HasNode(Operand field) : field_(std::move(field)) {}
  bool Eval(const EvalInput& input, EvalStats*) const override {
    return field_.Fetch(input).kind != View::kMissing;
  }

 private:
  Operand field_;
};

enum class Method { kStartsWith, kEndsWith, kContains };

class MethodNode final : public Node {
 public:
  MethodNode(Method method, Operand receiver, Operand argument)
      : method_(method),
        receiver_(std::move(receiver)),
        argument_(std::move(argument)) {}
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    const View r = receiver_.Fetch(input);
    const View a = argument_.Fetch(input);
    if (r.kind != View::kString || a.kind != View::kString) {
      Mismatch(stats);
      return false;
    }
    switch (method_) {
      case Method::kStartsWith:
        return absl::StartsWith(r.s, a.s);
      case Method::kEndsWith:
        return absl::EndsWith(r.s, a.s);
      case Method::kContains:
        return absl::StrContains(r.s, a.s);
    }
    return false;
  }

 private:
  Method method_;
  Operand receiver_, argument_;
};

class CompiledPredicate final : public Predicate {
 public:
  CompiledPredicate(std::string text, std::unique_ptr<Node> root, ExprRefs refs)
      : text_(std::move(text)),
        root_(std::move(root)),
        refs_(std::move(refs)),
        guard_(root_->Guard()) {
    if (guard_.has_value()) root_->AfterGuard(&after_guard_);
  }
  bool Eval(const EvalInput& input, EvalStats* stats) const override {
    return root_->Eval(input, stats);
  }
  bool EvalAfterGuard(const EvalInput& input, EvalStats* stats) const override {
    for (const Node* node : after_guard_) {
      if (!node->Eval(input, stats)) return false;
    }
    return true;
  }
  const ExprRefs& refs() const override { return refs_; }
  const std::optional<EqualityGuard>& guard() const override { return guard_; }
  const std::string& text() const override { return text_; }

 private:
  std::string text_;
  std::unique_ptr<Node> root_;
  ExprRefs refs_;
  std::optional<EqualityGuard> guard_;
  // What is left to evaluate once the guard holds, in order.
  std::vector<const Node*> after_guard_;
};

// ---------------------------------------------------------------------------
// Compile time.

// Static types. Properties, traits and step properties are kDyn: their type
// is known only per event.
enum class Type { kBool, kString, kNumber, kDyn, kList };

absl::string_view TypeName(Type type) {
  switch (type) {
    case Type::kBool:
      return "true/false";
    case Type::kString:
      return "text";
    case Type::kNumber:
      return "a number";
    case Type::kDyn:
      return "a value";
    case Type::kList:
      return "a list";
  }
  return "a value";
}

// One parsed sub-expression: either a condition already compiled to a node
// (`node`), a single value (`operand`: a literal or a field), or a list
// literal (`list`).
struct Parsed {
  Type type = Type::kDyn;
  int offset = 0;  // where the sub-expression starts
  std::unique_ptr<Node> node;
  std::optional<Operand> operand;
  std::vector<Operand> list;
  Type type_of_items = Type::kDyn;  // of a non-empty list
  bool is_field = false;  // props.x, user.x, alias.props.x, event.name
  std::string spelling;   // of a field, for messages ("props.plan")
};

// The parser stops at the first error; `failed_` then short-circuits every
// production so callers need not check after each call.
class Parser {
 public:
  Parser(absl::string_view text, std::vector<Token> tokens, const ExprEnv& env,
         ExprError* error)
      : text_(text), tokens_(std::move(tokens)), env_(env), error_(error) {}

  std::unique_ptr<Node> ParseAll() {
    Parsed e = ParseOr();
    if (failed_) return nullptr;
    if (Peek().kind != Tok::kEnd) {
      const Token& t = Peek();
      if (t.kind == Tok::kIdent && (t.text == "and" || t.text == "or" ||
                                    t.text == "AND" || t.text == "OR")) {
        Fail(t.offset, absl::StrCat("unexpected `", t.text, "`"),
             "combine conditions with && (and) or || (or)");
      } else {
        Fail(t.offset,
             absl::StrCat("found ", internal::Describe(t),
                          " where the expression should end"),
             "combine conditions with && or ||; put a list in brackets: "
             "[\"a\", \"b\"]");
      }
      return nullptr;
    }
    return AsCondition(std::move(e), "the expression");
  }

  ExprRefs TakeRefs() { return std::move(refs_); }

 private:
  const Token& Peek(int ahead = 0) const {
    const size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool Accept(Tok kind) {
    if (Peek().kind != kind) return false;
    Next();
    return true;
  }

  Parsed Fail(int offset, std::string message, std::string hint) {
    if (!failed_) {
      failed_ = true;
      error_->offset = offset;
      error_->message = std::move(message);
      error_->hint = std::move(hint);
    }
    return Parsed();
  }

  bool Expect(Tok kind, absl::string_view what, absl::string_view hint) {
    if (Accept(kind)) return true;
    Fail(
        Peek().offset,
        absl::StrCat("expected ", what, ", found ", internal::Describe(Peek())),
        std::string(hint));
    return false;
  }

  // Turns `e` into a condition node, or fails: literals other than
  // true/false, lists and text-valued fields are not conditions.
  std::unique_ptr<Node> AsCondition(Parsed e, absl::string_view where) {
    if (failed_) return nullptr;
    if (e.node != nullptr) return std::move(e.node);
    if (e.type == Type::kBool && e.operand.has_value() &&
        e.operand->source == Operand::Source::kConst) {
      return std::make_unique<ConstNode>(e.operand->boolean);
    }
    if (e.type == Type::kDyn && e.operand.has_value()) {
      return std::make_unique<TruthNode>(std::move(*e.operand));
    }
    std::string hint;
    if (e.type == Type::kString && e.is_field) {
      hint = absl::StrCat("compare it: ", e.spelling, " == \"signup\"");
    } else if (e.type == Type::kString) {
      hint = "compare a field with it: props.plan == \"pro\"";
    } else if (e.type == Type::kNumber) {
      hint = "compare a field with it: props.count >= 3";
    } else {
      hint =
          "test membership with in: props.severity in [\"error\", \"fatal\"]";
    }
    Fail(e.offset,
         absl::StrCat(where, " must be a condition (true or false), not ",
                      TypeName(e.type)),
         hint);
    return nullptr;
  }

  Parsed ParseOr() {
    Parsed left = ParseAnd();
    while (!failed_ && Peek().kind == Tok::kOrOr) {
      Next();
      Parsed right = ParseAnd();
      if (failed_) break;
      const int offset = left.offset;
      auto l = AsCondition(std::move(left), "each side of `||`");
      auto r = AsCondition(std::move(right), "each side of `||`");
      if (failed_) break;
      left = Parsed();
      left.type = Type::kBool;
      left.offset = offset;
      left.node = std::make_unique<OrNode>(std::move(l), std::move(r));
    }
    return left;
  }

  Parsed ParseAnd() {
    Parsed left = ParseRelation();
    while (!failed_ && Peek().kind == Tok::kAndAnd) {
      Next();
      Parsed right = ParseRelation();
      if (failed_) break;
      const int offset = left.offset;
      auto l = AsCondition(std::move(left), "each side of `&&`");
      auto r = AsCondition(std::move(right), "each side of `&&`");
      if (failed_) break;
      left = Parsed();
      left.type = Type::kBool;
      left.offset = offset;
      left.node = std::make_unique<AndNode>(std::move(l), std::move(r));
    }
    return left;
  }

  static std::optional<CmpOp> RelOp(Tok kind) {
    switch (kind) {
      case Tok::kEqEq:
        return CmpOp::kEq;
      case Tok::kNotEq:
        return CmpOp::kNe;
      case Tok::kLess:
        return CmpOp::kLt;
      case Tok::kLessEq:
        return CmpOp::kLe;
      case Tok::kGreater:
        return CmpOp::kGt;
      case Tok::kGreaterEq:
        return CmpOp::kGe;
      default:
        return std::nullopt;
    }
  }

  Parsed ParseRelation() {
    Parsed left = ParseUnary();
    if (failed_) return left;
    const Token& op_token = Peek();
    std::optional<CmpOp> op = RelOp(op_token.kind);
    if (!op.has_value() && op_token.kind != Tok::kIn) return left;
    const Token op_copy = Next();
    Parsed right = ParseUnary();
    if (failed_) return right;
    Parsed result =
        op.has_value()
            ? Compare(*op, op_copy, std::move(left), std::move(right))
            : In(op_copy, std::move(left), std::move(right));
    if (failed_) return result;
    if (RelOp(Peek().kind).has_value() || Peek().kind == Tok::kIn) {
      return Fail(Peek().offset, "comparisons cannot be chained",
                  "combine two comparisons with &&: 1 <= props.n && "
                  "props.n <= 5");
    }
    return result;
  }

  Parsed Compare(CmpOp op, const Token& op_token, Parsed l, Parsed r) {
    const std::string op_text = internal::Describe(op_token);
    const bool ordering = op != CmpOp::kEq && op != CmpOp::kNe;
    for (const Parsed* side : {&l, &r}) {
      if (side->type == Type::kList) {
        return Fail(side->offset,
                    absl::StrCat("a list cannot be compared with ", op_text),
                    "test membership with in: props.severity in "
                    "[\"error\", \"fatal\"]");
      }
    }
    if (ordering && (l.type == Type::kBool || r.type == Type::kBool)) {
      return Fail(op_token.offset,
                  absl::StrCat(op_text,
                               " needs numbers or text; true/false cannot be "
                               "ordered"),
                  "compare true/false with == or !=");
    }
    if (l.type != Type::kDyn && r.type != Type::kDyn && l.type != r.type) {
      std::string hint;
      if ((l.type == Type::kString && r.type == Type::kNumber) ||
          (l.type == Type::kNumber && r.type == Type::kString)) {
        hint =
            "text and numbers never compare equal: quote both sides "
            "(\"42\") or neither (42)";
      } else {
        hint = "compare values of the same kind";
      }
      return Fail(op_token.offset,
                  absl::StrCat("cannot compare ", TypeName(l.type), " with ",
                               TypeName(r.type), " using ", op_text),
                  hint);
    }
    Parsed out;
    out.type = Type::kBool;
    out.offset = l.offset;
    // A computed condition (has(), a comparison in parentheses, ...) on
    // either side: only == and != apply, on true/false.
    if (l.node != nullptr || r.node != nullptr) {
      if (l.node == nullptr) std::swap(l, r);
      const bool negate = op == CmpOp::kNe;
      if (r.node != nullptr) {
        out.node = std::make_unique<BoolEqNode>(
            negate, std::move(l.node), std::move(r.node), std::nullopt);
      } else if (r.operand->source == Operand::Source::kConst) {
        // `cond == true` is `cond`; `cond == false` is `!cond`.
        const bool want = r.operand->boolean;
        out.node = (want != negate)
                       ? std::move(l.node)
                       : std::make_unique<NotNode>(std::move(l.node));
      } else {
        out.node = std::make_unique<BoolEqNode>(negate, std::move(l.node),
                                                nullptr, std::move(r.operand));
      }
      return out;
    }
    out.node = std::make_unique<CompareNode>(op, std::move(*l.operand),
                                             std::move(*r.operand));
    return out;
  }

  Parsed In(const Token& op_token, Parsed l, Parsed r) {
    if (r.type != Type::kList) {
      return Fail(r.offset,
                  absl::StrCat("`in` needs a list on its right, not ",
                               TypeName(r.type)),
                  "write the values in brackets: props.severity in "
                  "[\"error\", \"fatal\"]");
    }
    if (l.type == Type::kList || !l.operand.has_value()) {
      return Fail(l.offset, "the left side of `in` must be a single value",
                  "props.severity in [\"error\", \"fatal\"]");
    }
    if (l.type != Type::kDyn && !r.list.empty()) {
      const Type item = r.type_of_items;
      if (item != l.type) {
        return Fail(op_token.offset,
                    absl::StrCat("cannot look for ", TypeName(l.type),
                                 " in a list of ", TypeName(item)),
                    "text and numbers never compare equal: quote both sides "
                    "(\"42\") or neither (42)");
      }
    }
    Parsed out;
    out.type = Type::kBool;
    out.offset = l.offset;
    out.node = std::make_unique<InNode>(std::move(*l.operand), r.list);
    return out;
  }

  Parsed ParseUnary() {
    if (Peek().kind == Tok::kBang) {
      const Token bang = Next();
      Parsed inner = ParseUnary();
      if (failed_) return inner;
      if (inner.type != Type::kBool && inner.type != Type::kDyn) {
        return Fail(
            inner.offset,
            absl::StrCat("`!` needs a condition, not ", TypeName(inner.type)),
            "negate a comparison with !( ... ): !(props.plan == "
            "\"free\")");
      }
      auto node = AsCondition(std::move(inner), "the operand of `!`");
      if (failed_) return Parsed();
      Parsed out;
      out.type = Type::kBool;
      out.offset = bang.offset;
      out.node = std::make_unique<NotNode>(std::move(node));
      return out;
    }
    if (Peek().kind == Tok::kMinus) {
      const Token minus = Next();
      if (Peek().kind != Tok::kNumber) {
        return Fail(minus.offset, "`-` can only make a negative number",
                    "write a negative number as -3; arithmetic is not "
                    "supported");
      }
      Parsed number = ParseMember();
      if (failed_) return number;
      number.operand->number = -number.operand->number;
      number.offset = minus.offset;
      return number;
    }
    return ParseMember();
  }

  // A primary followed by method calls (`.startsWith("a")`).
  Parsed ParseMember() {
    Parsed e = ParsePrimary();
    while (!failed_ && Peek().kind == Tok::kDot) {
      const Token dot = Next();
      const Token& name = Peek();
      if (name.kind != Tok::kIdent) {
        return Fail(name.offset,
                    absl::StrCat("expected a method name after `.`, found ",
                                 internal::Describe(name)),
                    "methods are .startsWith(\"a\"), .endsWith(\"a\"), "
                    ".contains(\"a\")");
      }
      const Token method = Next();
      if (Peek().kind != Tok::kLParen) {
        if (e.is_field) {
          return Fail(
              dot.offset,
              absl::StrCat(e.spelling,
                           " is a single value and has no "
                           "field `",
                           method.text, "`"),
              absl::StrCat("for a key with a dot in it write ",
                           e.spelling.substr(0, e.spelling.rfind('.')), "[\"",
                           e.spelling.substr(e.spelling.rfind('.') + 1), ".",
                           method.text, "\"]"));
        }
        return Fail(dot.offset, absl::StrCat("unexpected `.", method.text, "`"),
                    "methods are .startsWith(\"a\"), .endsWith(\"a\"), "
                    ".contains(\"a\")");
      }
      e = CallMethod(std::move(e), method);
    }
    if (!failed_ && Peek().kind == Tok::kLBracket && e.is_field) {
      return Fail(Peek().offset,
                  absl::StrCat(e.spelling,
                               " is a single value; it cannot be "
                               "indexed"),
                  "property values are text, numbers, true/false or times");
    }
    return e;
  }

  Parsed CallMethod(Parsed receiver, const Token& name) {
    static const absl::string_view kMethods[] = {"startsWith", "endsWith",
                                                 "contains"};
    Method method;
    if (name.text == "startsWith") {
      method = Method::kStartsWith;
    } else if (name.text == "endsWith") {
      method = Method::kEndsWith;
    } else if (name.text == "contains") {
      method = Method::kContains;
    } else {
      const std::string near = internal::Nearest(name.text, kMethods);
      return Fail(name.offset, absl::StrCat("unknown method `", name.text, "`"),
                  near.empty()
                      ? std::string("methods are .startsWith(\"a\"), "
                                    ".endsWith(\"a\"), .contains(\"a\")")
                      : absl::StrCat("did you mean ", near, "?"));
    }
    if (receiver.type != Type::kString && receiver.type != Type::kDyn) {
      return Fail(
          receiver.offset,
          absl::StrCat(".", name.text, "() works on text, not ",
                       TypeName(receiver.type)),
          "call it on a text value: props.url.startsWith(\"/billing\")");
    }
    Next();  // (
    if (Peek().kind == Tok::kRParen) {
      return Fail(Peek().offset,
                  absl::StrCat(".", name.text, "() needs one argument"),
                  absl::StrCat("props.url.", name.text, "(\"/billing\")"));
    }
    Parsed arg = ParseOr();
    if (failed_) return arg;
    if (Peek().kind == Tok::kComma) {
      return Fail(Peek().offset,
                  absl::StrCat(".", name.text, "() takes one argument"),
                  absl::StrCat("props.url.", name.text, "(\"/billing\")"));
    }
    if (!Expect(Tok::kRParen, "`)`", "close the argument list with )")) {
      return Parsed();
    }
    if ((arg.type != Type::kString && arg.type != Type::kDyn) ||
        !arg.operand.has_value()) {
      return Fail(arg.offset,
                  absl::StrCat("the argument of .", name.text,
                               "() must be text, not ", TypeName(arg.type)),
                  absl::StrCat("props.url.", name.text, "(\"/billing\")"));
    }
    Parsed out;
    out.type = Type::kBool;
    out.offset = receiver.offset;
    out.node = std::make_unique<MethodNode>(
        method, std::move(*receiver.operand), std::move(*arg.operand));
    return out;
  }

  Parsed Literal(const Token& t, Type type, View::Kind kind) {
    Parsed p;
    p.type = type;
    p.offset = t.offset;
    Operand o;
    o.source = Operand::Source::kConst;
    o.const_kind = kind;
    o.key = t.text;
    o.number = t.number;
    o.boolean = t.kind == Tok::kTrue;
    p.operand = std::move(o);
    return p;
  }

  Parsed ParsePrimary() {
    const Token t = Next();
    switch (t.kind) {
      case Tok::kNumber:
        return Literal(t, Type::kNumber, View::kNumber);
      case Tok::kString:
        return Literal(t, Type::kString, View::kString);
      case Tok::kTrue:
      case Tok::kFalse:
        return Literal(t, Type::kBool, View::kBool);
      case Tok::kNull:
        return Fail(t.offset, "`null` is not supported",
                    "test whether a value is there with has(props.x) or "
                    "!has(props.x)");
      case Tok::kLParen: {
        Parsed inner = ParseOr();
        if (failed_) return inner;
        if (!Expect(Tok::kRParen, "`)`", "every ( needs a matching )")) {
          return Parsed();
        }
        inner.offset = t.offset;
        return inner;
      }
      case Tok::kLBracket:
        return ParseList(t);
      case Tok::kIdent:
        return ParseName(t);
      case Tok::kEnd:
        return Fail(t.offset, "the expression ends too early",
                    "complete it, e.g. props.plan == \"pro\"");
      default:
        return Fail(t.offset,
                    absl::StrCat("found ", internal::Describe(t),
                                 " where a value should be"),
                    "a condition looks like props.plan == \"pro\"");
    }
  }

  Parsed ParseList(const Token& open) {
    Parsed p;
    p.type = Type::kList;
    p.offset = open.offset;
    bool have_type = false;
    if (Accept(Tok::kRBracket)) return p;
    while (true) {
      Parsed item = ParseUnary();
      if (failed_) return item;
      if (item.node != nullptr || !item.operand.has_value() ||
          item.operand->source != Operand::Source::kConst) {
        return Fail(item.offset,
                    "a list holds literal values only (text, numbers, "
                    "true/false)",
                    "[\"error\", \"fatal\"] or [1, 2, 3]");
      }
      if (have_type && item.type != p.type_of_items) {
        return Fail(item.offset,
                    absl::StrCat("this list mixes ", TypeName(p.type_of_items),
                                 " and ", TypeName(item.type)),
                    "make all items of one kind: quote them all or none");
      }
      have_type = true;
      p.type_of_items = item.type;
      p.list.push_back(std::move(*item.operand));
      if (Accept(Tok::kComma)) {
        if (Accept(Tok::kRBracket)) return p;  // trailing comma
        continue;
      }
      if (!Expect(Tok::kRBracket, "`,` or `]`",
                  "separate items with commas: [\"a\", \"b\"]")) {
        return Parsed();
      }
      return p;
    }
  }

  // A key after `props.` / `user.`: a name (keywords are fine as keys) or
  // a quoted string in brackets.
  std::optional<std::string> ParseKey(absl::string_view root) {
    if (Accept(Tok::kDot)) {
      const Token& k = Peek();
      switch (k.kind) {
        case Tok::kIdent:
          return Next().text;
        case Tok::kTrue:
        case Tok::kFalse:
        case Tok::kNull:
        case Tok::kIn:
          Next();
          return std::string(text_.substr(k.offset, k.length));
        default:
          Fail(k.offset,
               absl::StrCat("expected a name after `", root, ".`, found ",
                            internal::Describe(k)),
               absl::StrCat("write ", root, ".plan, or ", root,
                            "[\"key-with-dashes\"]"));
          return std::nullopt;
      }
    }
    if (Accept(Tok::kLBracket)) {
      const Token& k = Peek();
      if (k.kind != Tok::kString) {
        Fail(k.offset,
             absl::StrCat("expected a quoted key inside ", root, "[ ]"),
             absl::StrCat("write ", root, "[\"key-with-dashes\"]"));
        return std::nullopt;
      }
      std::string key = Next().text;
      if (!Expect(Tok::kRBracket, "`]`", "close the key with ]")) {
        return std::nullopt;
      }
      if (key.empty()) {
        Fail(k.offset, "a key cannot be empty", "write props[\"name\"]");
        return std::nullopt;
      }
      return key;
    }
    Fail(Peek().offset,
         absl::StrCat("`", root, "` needs a key: ", root, ".name"),
         absl::StrCat("write ", root, ".plan, or ", root,
                      "[\"key-with-dashes\"]"));
    return std::nullopt;
  }

  Parsed Field(int offset, Operand operand, std::string spelling) {
    Parsed p;
    p.type = operand.source == Operand::Source::kEventName ? Type::kString
                                                           : Type::kDyn;
    p.offset = offset;
    p.is_field = true;
    p.spelling = std::move(spelling);
    p.operand = std::move(operand);
    return p;
  }

  static void AddUnique(std::vector<std::string>* v, const std::string& s) {
    if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
  }

  Parsed ParseName(const Token& t) {
    const std::string& name = t.text;
    if (Peek().kind == Tok::kLParen) return ParseCall(t);
    if (name == "event") {
      if (Peek().kind == Tok::kDot && Peek(1).kind == Tok::kIdent &&
          Peek(1).text == "name") {
        Next();
        Next();
        refs_.reads_event_name = true;
        Operand o;
        o.source = Operand::Source::kEventName;
        return Field(t.offset, std::move(o), "event.name");
      }
      if (Peek().kind == Tok::kDot && Peek(1).kind == Tok::kIdent &&
          (Peek(1).text == "props" || Peek(1).text == "properties")) {
        return Fail(Peek(1).offset,
                    "the event's properties are written props.x",
                    "write props.plan, not event.props.plan");
      }
      return Fail(t.offset, "`event` has only one field: event.name",
                  "event.name is the event's name; its properties are "
                  "props.x");
    }
    if (name == "props" || name == "user") {
      std::optional<std::string> key = ParseKey(name);
      if (!key.has_value()) return Parsed();
      Operand o;
      o.source =
          name == "props" ? Operand::Source::kProp : Operand::Source::kTrait;
      o.key = *key;
      AddUnique(name == "props" ? &refs_.props : &refs_.traits, *key);
      return Field(t.offset, std::move(o), absl::StrCat(name, ".", *key));
    }
    for (int i = 0; i < static_cast<int>(env_.step_aliases.size()); ++i) {
      if (env_.step_aliases[i].empty() || env_.step_aliases[i] != name) {
        continue;
      }
      if (!(Peek().kind == Tok::kDot && Peek(1).kind == Tok::kIdent &&
            Peek(1).text == "props")) {
        return Fail(t.offset,
                    absl::StrCat("a step alias gives its event's properties: ",
                                 name, ".props.x"),
                    absl::StrCat("write ", name, ".props.plan"));
      }
      Next();  // .
      Next();  // props
      std::optional<std::string> key = ParseKey(absl::StrCat(name, ".props"));
      if (!key.has_value()) return Parsed();
      Operand o;
      o.source = Operand::Source::kStepProp;
      o.step = i;
      o.key = *key;
      ExprRefs::StepProp ref{i, *key};
      if (std::find(refs_.step_props.begin(), refs_.step_props.end(), ref) ==
          refs_.step_props.end()) {
        refs_.step_props.push_back(ref);
      }
      return Field(t.offset, std::move(o), absl::StrCat(name, ".props.", *key));
    }
    for (const std::string& later : env_.later_step_aliases) {
      if (!later.empty() && later == name) {
        return Fail(t.offset,
                    absl::StrCat("step `", name,
                                 "` is this step or a later one; a condition "
                                 "can only read earlier steps"),
                    "this step's own event is props.x; earlier steps are "
                    "<alias>.props.x");
      }
    }
    return UnknownName(t);
  }

  Parsed UnknownName(const Token& t) {
    const std::string& name = t.text;
    if (name == "and" || name == "or" || name == "not" || name == "AND" ||
        name == "OR" || name == "NOT") {
      return Fail(t.offset, absl::StrCat("unknown name `", name, "`"),
                  "write && for and, || for or, ! for not");
    }
    if (name == "True" || name == "False" || name == "TRUE" ||
        name == "FALSE") {
      return Fail(t.offset, absl::StrCat("unknown name `", name, "`"),
                  "true and false are written in lower case");
    }
    if (name == "name") {
      return Fail(t.offset, "unknown name `name`",
                  "the event's name is event.name; a property called name is "
                  "props.name");
    }
    std::vector<absl::string_view> roots = {"props", "user", "event"};
    for (const std::string& alias : env_.step_aliases) {
      if (!alias.empty()) roots.push_back(alias);
    }
    const std::string near = internal::Nearest(name, roots);
    std::string hint;
    if (!near.empty()) {
      hint = absl::StrCat("did you mean `", near, "`?");
    } else {
      std::string names =
          absl::StrCat("props.", name, " (a property of the event), user.",
                       name, " (a trait of the user)");
      std::vector<std::string> aliases;
      for (const std::string& alias : env_.step_aliases) {
        if (!alias.empty())
          aliases.push_back(absl::StrCat(alias, ".props.", name));
      }
      if (!aliases.empty()) {
        absl::StrAppend(&names, ", ", absl::StrJoin(aliases, ", "),
                        " (an earlier step)");
      }
      hint = absl::StrCat("write ", names, " or event.name; text is quoted: \"",
                          name, "\"");
    }
    return Fail(t.offset, absl::StrCat("unknown name `", name, "`"), hint);
  }

  Parsed ParseCall(const Token& t) {
    if (t.text != "has") {
      static const absl::string_view kFunctions[] = {"has"};
      std::string near = internal::Nearest(t.text, kFunctions);
      if (t.text == "startsWith" || t.text == "endsWith" ||
          t.text == "contains") {
        return Fail(t.offset, absl::StrCat("`", t.text, "` is a method"),
                    absl::StrCat("call it on a value: props.url.", t.text,
                                 "(\"/billing\")"));
      }
      return Fail(t.offset, absl::StrCat("unknown function `", t.text, "`"),
                  near.empty()
                      ? std::string("the function is has(props.x); the "
                                    "methods are .startsWith(\"a\"), "
                                    ".endsWith(\"a\"), .contains(\"a\")")
                      : absl::StrCat("did you mean ", near, "(props.x)?"));
    }
    Next();  // (
    if (Peek().kind == Tok::kRParen) {
      return Fail(Peek().offset, "has() needs a field",
                  "has(props.plan) or has(user.plan)");
    }
    Parsed arg = ParseOr();
    if (failed_) return arg;
    if (!arg.is_field) {
      return Fail(arg.offset, "has() takes a field, not an expression",
                  "has(props.plan), has(user.plan) or has(up.props.plan)");
    }
    if (!Expect(Tok::kRParen, "`)`",
                "has() takes one field: has(props.plan)")) {
      return Parsed();
    }
    Parsed out;
    out.type = Type::kBool;
    out.offset = t.offset;
    out.node = std::make_unique<HasNode>(std::move(*arg.operand));
    return out;
  }

  absl::string_view text_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  const ExprEnv& env_;
  ExprError* error_;
  bool failed_ = false;
  ExprRefs refs_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<const Predicate>> CompilePredicate(
    absl::string_view text, const ExprEnv& env, ExprError* error) {
  ExprError local;
  if (error == nullptr) error = &local;
  std::vector<Token> tokens;
  internal::LexError lex_error;
  if (!internal::Lex(text, &tokens, &lex_error)) {
    error->offset = lex_error.offset;
    error->message = std::move(lex_error.message);
    error->hint = std::move(lex_error.hint);
    return absl::InvalidArgumentError(
        absl::StrCat("offset ", error->offset, ": ", error->message));
  }
  if (tokens.size() == 1) {
    error->offset = 0;
    error->message = "the expression is empty";
    error->hint =
        "write a condition, e.g. props.plan == \"pro\", or leave "
        "out `where:`";
    return absl::InvalidArgumentError(error->message);
  }
  Parser parser(text, std::move(tokens), env, error);
  std::unique_ptr<Node> root = parser.ParseAll();
  if (root == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset ", error->offset, ": ", error->message));
  }
  return std::unique_ptr<const Predicate>(std::make_unique<CompiledPredicate>(
      std::string(text), std::move(root), parser.TakeRefs()));
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
