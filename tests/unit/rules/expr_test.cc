#include "server/rules/expr.h"

#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hark/v1/common.pb.h"
#include "tests/unit/rules/alloc_counter.h"

namespace hark::rules {
namespace {

using ::hark::v1::Value;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Value Str(std::string s) {
  Value v;
  v.set_string_value(std::move(s));
  return v;
}
Value Num(double n) {
  Value v;
  v.set_number_value(n);
  return v;
}
Value Bool(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}
Value Time(int64_t seconds, int32_t nanos = 0) {
  Value v;
  v.mutable_timestamp_value()->set_seconds(seconds);
  v.mutable_timestamp_value()->set_nanos(nanos);
  return v;
}

class FakeInput final : public EvalInput {
 public:
  std::string name = "page_view";
  std::map<std::string, Value, std::less<>> props;
  std::map<std::string, Value, std::less<>> traits;
  std::vector<std::map<std::string, Value, std::less<>>> steps;

  absl::string_view EventName() const override { return name; }
  const Value* Prop(absl::string_view key) const override {
    return Find(props, key);
  }
  const Value* Trait(absl::string_view key) const override {
    return Find(traits, key);
  }
  const Value* StepProp(int step, absl::string_view key) const override {
    if (step < 0 || step >= static_cast<int>(steps.size())) return nullptr;
    return Find(steps[step], key);
  }

 private:
  static const Value* Find(const std::map<std::string, Value, std::less<>>& m,
                           absl::string_view key) {
    auto it = m.find(key);
    return it == m.end() ? nullptr : &it->second;
  }
};

std::unique_ptr<const Predicate> Compile(absl::string_view text,
                                         ExprEnv env = {}) {
  ExprError error;
  auto compiled = CompilePredicate(text, env, &error);
  EXPECT_TRUE(compiled.ok()) << text << ": at " << error.offset << ": "
                             << error.message << " (" << error.hint << ")";
  if (!compiled.ok()) return nullptr;
  return std::move(compiled).value();
}

// Evaluates `text` on `input`; `mismatches` receives the counter.
bool Eval(absl::string_view text, const FakeInput& input,
          uint64_t* mismatches = nullptr, ExprEnv env = {}) {
  auto p = Compile(text, std::move(env));
  if (p == nullptr) return false;
  EvalStats stats;
  const bool result = p->Eval(input, &stats);
  if (mismatches != nullptr) *mismatches = stats.type_mismatches;
  return result;
}

ExprError CompileError(absl::string_view text, ExprEnv env = {}) {
  ExprError error;
  auto compiled = CompilePredicate(text, env, &error);
  EXPECT_FALSE(compiled.ok()) << text;
  if (!compiled.ok()) {
    EXPECT_EQ(compiled.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(error.message.empty()) << text;
    EXPECT_FALSE(error.hint.empty()) << text;
  }
  return error;
}

TEST(ExprTest, ComparesNumbersAsDoubles) {
  FakeInput in;
  in.props["n"] = Num(3);
  EXPECT_TRUE(Eval("props.n == 3", in));
  EXPECT_TRUE(Eval("props.n == 3.0", in));
  EXPECT_FALSE(Eval("props.n != 3", in));
  EXPECT_TRUE(Eval("props.n < 3.5", in));
  EXPECT_FALSE(Eval("props.n < 3", in));
  EXPECT_TRUE(Eval("props.n <= 3", in));
  EXPECT_TRUE(Eval("props.n > -1", in));
  EXPECT_FALSE(Eval("props.n > 3", in));
  EXPECT_TRUE(Eval("props.n >= 3", in));
  EXPECT_TRUE(Eval("3 == props.n", in));
  EXPECT_TRUE(Eval("props.n == 3e0", in));
  EXPECT_TRUE(Eval("1 < 2", in));
}

TEST(ExprTest, ComparesStringsBytewise) {
  FakeInput in;
  in.props["plan"] = Str("pro");
  in.props["upper"] = Str("B");
  in.props["utf8"] = Str("\xc3\xa9");  // é sorts after every ASCII byte
  EXPECT_TRUE(Eval("props.plan == \"pro\"", in));
  EXPECT_TRUE(Eval("props.plan == 'pro'", in));
  EXPECT_TRUE(Eval("props.plan != \"free\"", in));
  EXPECT_TRUE(Eval("props.upper < \"a\"", in));
  EXPECT_TRUE(Eval("props.plan >= \"pro\"", in));
  EXPECT_TRUE(Eval("props.plan > \"pr\"", in));
  EXPECT_TRUE(Eval("props.utf8 > \"z\"", in));
  EXPECT_TRUE(Eval("event.name == \"page_view\"", in));
  EXPECT_TRUE(Eval("event.name <= \"page_view\"", in));
}

TEST(ExprTest, StringEscapes) {
  FakeInput in;
  in.props["q"] = Str("a\"b'c\\d\ne\tf");
  EXPECT_TRUE(Eval(R"(props.q == "a\"b'c\\d\ne\tf")", in));
  EXPECT_TRUE(Eval(R"(props.q == 'a"b\'c\\d\ne\tf')", in));
}

TEST(ExprTest, ComparesBoolsAndTimestamps) {
  FakeInput in;
  in.props["trial"] = Bool(true);
  in.traits["trial_ends_at"] = Time(100, 5);
  in.props["now"] = Time(100, 6);
  EXPECT_TRUE(Eval("props.trial == true", in));
  EXPECT_TRUE(Eval("props.trial != false", in));
  EXPECT_TRUE(Eval("props.now > user.trial_ends_at", in));
  EXPECT_FALSE(Eval("props.now <= user.trial_ends_at", in));
  EXPECT_TRUE(Eval("props.now == props.now", in));
  // Ordering two bool values is a type mismatch at run time.
  uint64_t mismatches = 0;
  EXPECT_FALSE(Eval("props.trial < props.trial", in, &mismatches));
  EXPECT_EQ(mismatches, 1u);
}

TEST(ExprTest, MissingOrWrongTypeIsFalseAndCounted) {
  FakeInput in;
  in.props["code"] = Str("42");
  uint64_t m = 0;
  EXPECT_FALSE(Eval("props.missing == 1", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_FALSE(Eval("props.missing != 1", in, &m));
  EXPECT_EQ(m, 1u);
  // A string value against a number literal: a mismatch, never equal.
  EXPECT_FALSE(Eval("props.code == 42", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_FALSE(Eval("props.code != 42", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_FALSE(Eval("props.code < 50", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_TRUE(Eval("props.code == \"42\"", in, &m));
  EXPECT_EQ(m, 0u);
  // `!` works on the false of the failed comparison.
  EXPECT_TRUE(Eval("!(props.missing == 1)", in, &m));
  EXPECT_EQ(m, 1u);
  // Each failed comparison counts.
  EXPECT_FALSE(Eval("props.a == 1 || user.b == 2", in, &m));
  EXPECT_EQ(m, 2u);
  // && short-circuits: the right side is not evaluated.
  EXPECT_FALSE(Eval("props.a == 1 && user.b == 2", in, &m));
  EXPECT_EQ(m, 1u);
}

TEST(ExprTest, NullStatsPointerIsAllowed) {
  FakeInput in;
  auto p = Compile("props.x == 1");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->Eval(in, nullptr));
}

TEST(ExprTest, LogicAndPrecedence) {
  FakeInput in;
  in.props["t"] = Bool(true);
  in.props["f"] = Bool(false);
  EXPECT_TRUE(Eval("true || false && false", in));  // && binds tighter
  EXPECT_FALSE(Eval("(true || false) && false", in));
  EXPECT_TRUE(Eval("!false", in));
  EXPECT_FALSE(Eval("!true", in));
  EXPECT_TRUE(Eval("!!true", in));
  EXPECT_TRUE(Eval("!false && true", in));  // ! binds tighter than &&
  EXPECT_TRUE(Eval("props.t", in));
  EXPECT_FALSE(Eval("props.f", in));
  EXPECT_TRUE(Eval("!props.f", in));
  EXPECT_TRUE(Eval("props.t && !props.f", in));
  EXPECT_TRUE(Eval("props.f || props.t", in));
  EXPECT_TRUE(Eval("1 < 2 && 2 < 3 || false", in));
  EXPECT_TRUE(Eval("false || 1 == 1 && \"a\" < \"b\"", in));
}

TEST(ExprTest, DynamicValueAsConditionMustBeBool) {
  FakeInput in;
  in.props["s"] = Str("yes");
  uint64_t m = 0;
  EXPECT_FALSE(Eval("props.s", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_FALSE(Eval("props.missing", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_TRUE(Eval("!props.missing", in, &m));
  EXPECT_EQ(m, 1u);
}

TEST(ExprTest, In) {
  FakeInput in;
  in.props["severity"] = Str("fatal");
  in.props["n"] = Num(2);
  in.props["b"] = Bool(false);
  uint64_t m = 0;
  EXPECT_TRUE(Eval("props.severity in [\"error\", \"fatal\"]", in, &m));
  EXPECT_FALSE(Eval("props.severity in ['error', 'warning',]", in, &m));
  EXPECT_TRUE(Eval("props.n in [1, 2, 3]", in, &m));
  EXPECT_TRUE(Eval("props.n in [-1, 2.0]", in, &m));
  EXPECT_FALSE(Eval("props.n in [1, 3]", in, &m));
  EXPECT_TRUE(Eval("props.b in [false]", in, &m));
  EXPECT_TRUE(Eval("event.name in [\"page_view\"]", in, &m));
  EXPECT_TRUE(Eval("!(props.severity in [\"info\"])", in, &m));
  EXPECT_EQ(m, 0u);
  EXPECT_FALSE(Eval("props.severity in []", in, &m));
  EXPECT_EQ(m, 0u);
  EXPECT_FALSE(Eval("props.missing in [\"a\"]", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_FALSE(Eval("props.n in [\"2\"]", in, &m));
  EXPECT_EQ(m, 1u);
  // `in` binds tighter than && and ||.
  EXPECT_TRUE(Eval("props.n in [2] && props.severity in [\"fatal\"]", in));
  // A long list (hash lookup) behaves the same.
  EXPECT_TRUE(
      Eval("props.severity in [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\","
           "\"i\",\"fatal\"]",
           in));
}

TEST(ExprTest, Has) {
  FakeInput in;
  in.props["plan"] = Str("pro");
  in.traits["country"] = Str("fr");
  in.steps.push_back({{"code", Num(1)}});
  ExprEnv env{{"up"}, {}};
  uint64_t m = 0;
  EXPECT_TRUE(Eval("has(props.plan)", in, &m));
  EXPECT_FALSE(Eval("has(props.nope)", in, &m));
  EXPECT_TRUE(Eval("!has(props.nope)", in, &m));
  EXPECT_TRUE(Eval("has(user.country)", in, &m));
  EXPECT_FALSE(Eval("has(user.plan)", in, &m));
  EXPECT_TRUE(Eval("has(up.props.code)", in, &m, env));
  EXPECT_FALSE(Eval("has(up.props.other)", in, &m, env));
  EXPECT_TRUE(Eval("has(event.name)", in, &m));
  EXPECT_TRUE(Eval("has(props[\"plan\"])", in, &m));
  EXPECT_EQ(m, 0u);  // absence is the answer, not a mismatch
  EXPECT_TRUE(Eval("has(props.nope) == false", in));
  EXPECT_FALSE(Eval("has(props.nope) != false", in));
  EXPECT_TRUE(Eval("has(props.plan) == true", in));
  EXPECT_TRUE(Eval("true == has(props.plan)", in));
  EXPECT_TRUE(Eval("has(props.plan) == (1 < 2)", in));
  // The idiom for "not free, or unknown".
  EXPECT_TRUE(Eval("!has(user.plan) || user.plan != \"free\"", in));
}

TEST(ExprTest, ComputedConditionAgainstDynamicBool) {
  FakeInput in;
  in.props["flag"] = Bool(true);
  in.props["s"] = Str("x");
  uint64_t m = 0;
  EXPECT_TRUE(Eval("has(props.s) == props.flag", in, &m));
  EXPECT_EQ(m, 0u);
  EXPECT_FALSE(Eval("has(props.s) == props.s", in, &m));
  EXPECT_EQ(m, 1u);
}

TEST(ExprTest, Methods) {
  FakeInput in;
  in.props["url"] = Str("/billing/plans");
  in.props["n"] = Num(1);
  in.steps.push_back({{"prefix", Str("/billing")}});
  ExprEnv env{{"first"}, {}};
  uint64_t m = 0;
  EXPECT_TRUE(Eval("props.url.startsWith(\"/billing\")", in, &m));
  EXPECT_FALSE(Eval("props.url.startsWith(\"/plans\")", in, &m));
  EXPECT_TRUE(Eval("props.url.endsWith(\"plans\")", in, &m));
  EXPECT_TRUE(Eval("props.url.contains(\"ing/pl\")", in, &m));
  EXPECT_FALSE(Eval("props.url.contains(\"x\")", in, &m));
  EXPECT_TRUE(Eval("props.url.startsWith(first.props.prefix)", in, &m, env));
  EXPECT_TRUE(
      Eval("\"/billing/x\".startsWith(first.props.prefix)", in, &m, env));
  EXPECT_TRUE(Eval("event.name.contains(\"view\")", in, &m));
  EXPECT_TRUE(Eval("!props.url.startsWith(\"/x\")", in, &m));
  EXPECT_EQ(m, 0u);
  EXPECT_FALSE(Eval("props.n.startsWith(\"1\")", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_FALSE(Eval("props.missing.contains(\"1\")", in, &m));
  EXPECT_EQ(m, 1u);
  EXPECT_FALSE(Eval("props.url.contains(props.n)", in, &m));
  EXPECT_EQ(m, 1u);
}

TEST(ExprTest, BracketKeysAndKeywordKeys) {
  FakeInput in;
  in.props["x-y"] = Str("a");
  in.props["in"] = Num(1);
  in.traits["plan.tier"] = Str("gold");
  EXPECT_TRUE(Eval("props[\"x-y\"] == \"a\"", in));
  EXPECT_TRUE(Eval("props['x-y'] == 'a'", in));
  EXPECT_TRUE(Eval("props.in == 1", in));
  EXPECT_TRUE(Eval("user[\"plan.tier\"] == \"gold\"", in));
}

TEST(ExprTest, CrossStepReferences) {
  FakeInput in;
  in.name = "plan_changed";
  in.props["direction"] = Str("downgrade");
  in.props["plan"] = Str("basic");
  in.steps.push_back({{"plan", Str("pro")}, {"from", Str("basic")}});
  in.steps.push_back({});  // unnamed step 1
  in.steps.push_back({{"x", Num(7)}});
  ExprEnv env{{"up", "", "mid"}, {"down"}};
  auto p = Compile(
      "props.direction == \"downgrade\" && props.plan == up.props.from && "
      "up.props.plan != props.plan && mid.props.x > 5 && "
      "has(up.props[\"plan\"]) && user.tier == user.tier",
      env);
  ASSERT_NE(p, nullptr);
  EvalStats stats;
  EXPECT_FALSE(p->Eval(in, &stats));  // user.tier is missing
  EXPECT_EQ(stats.type_mismatches, 1u);
  in.traits["tier"] = Num(1);
  EXPECT_TRUE(p->Eval(in, &stats));
  const ExprRefs& refs = p->refs();
  EXPECT_THAT(refs.props, ElementsAre("direction", "plan"));
  EXPECT_THAT(refs.traits, ElementsAre("tier"));
  EXPECT_THAT(refs.step_props, ElementsAre(ExprRefs::StepProp{0, "from"},
                                           ExprRefs::StepProp{0, "plan"},
                                           ExprRefs::StepProp{2, "x"}));
  EXPECT_FALSE(refs.reads_event_name);
  EXPECT_EQ(p->text(),
            "props.direction == \"downgrade\" && props.plan == up.props.from "
            "&& up.props.plan != props.plan && mid.props.x > 5 && "
            "has(up.props[\"plan\"]) && user.tier == user.tier");
}

TEST(ExprTest, RefsOfEventName) {
  auto p = Compile("event.name == \"x\" || props.a == 1");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->refs().reads_event_name);
  EXPECT_THAT(p->refs().step_props, IsEmpty());
}

// The leading equality the engine indexes rules by (EqualityGuard).
TEST(ExprTest, GuardIsTheLeadingEqualityOnAProperty) {
  auto guard = [](absl::string_view text) { return Compile(text)->guard(); };
  using Kind = EqualityGuard::Kind;

  auto g = guard(R"(props.code == "E1" && props.n > 3)");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->key, "code");
  EXPECT_EQ(g->kind, Kind::kString);
  EXPECT_THAT(g->strings, ElementsAre("E1"));

  g = guard(R"("E1" == props.code)");  // constant on the left
  ASSERT_TRUE(g.has_value());
  EXPECT_THAT(g->strings, ElementsAre("E1"));

  g = guard(R"((props.n == 3 && props.a == "x") && props.b == "y")");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->key, "n");
  EXPECT_EQ(g->kind, Kind::kNumber);
  EXPECT_THAT(g->numbers, ElementsAre(3.0));

  g = guard("props.ok == true");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->kind, Kind::kBool);
  EXPECT_THAT(g->bools, ElementsAre(true));

  g = guard(R"(props.sev in ["fatal", "error"] && props.n > 1)");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->key, "sev");
  EXPECT_THAT(g->strings, ElementsAre("error", "fatal"));
  g = guard("props.n in [1, 2.5]");
  ASSERT_TRUE(g.has_value());
  EXPECT_THAT(g->numbers, ElementsAre(1.0, 2.5));

  // Not a necessary condition, or not one the index can look up.
  for (const char* text : {
           R"(props.n > 3 && props.code == "E1")",  // not the leftmost
           R"(props.code == "E1" || props.n > 3)",
           R"(!(props.code == "E1"))",
           R"(props.code != "E1")",
           R"(user.plan == "pro")",
           R"(event.name == "error")",
           R"(props.a == props.b)",
           "props.n in []",
           "true && props.n == 3",
       }) {
    EXPECT_FALSE(guard(text).has_value()) << text;
  }
}

TEST(ExprTest, EvalAfterGuardIsEvalWhenTheGuardHolds) {
  // Guarded predicates, and values of the other properties to try.
  const char* texts[] = {
      R"(props.code == "E1")",
      R"("E1" == props.code && props.n > 3)",
      R"((props.code == "E1" && props.n > 3) && props.s == "x")",
      R"(props.code in ["E1", "E2"] && (props.n > 3 || props.s == "x"))",
      R"(props.code == "E1" && props.s in ["x", "y"] && !(props.n == 4))",
  };
  const std::vector<std::map<std::string, Value, std::less<>>> others = {
      {},
      {{"n", Num(5)}},
      {{"n", Num(4)}, {"s", Str("x")}},
      {{"n", Num(1)}, {"s", Str("y")}},
      {{"n", Str("5")}, {"s", Num(1)}},
  };
  for (const char* text : texts) {
    auto p = Compile(text);
    ASSERT_NE(p, nullptr);
    ASSERT_TRUE(p->guard().has_value()) << text;
    for (const auto& props : others) {
      FakeInput input;
      input.props = props;
      input.props["code"] = Str("E1");  // the guard holds
      EvalStats full, rest;
      EXPECT_EQ(p->EvalAfterGuard(input, &rest), p->Eval(input, &full)) << text;
      EXPECT_EQ(rest.type_mismatches, full.type_mismatches) << text;
    }
  }
  // Only the rest is evaluated: the guard's property is not even read.
  FakeInput no_code;
  no_code.props["n"] = Num(5);
  EXPECT_TRUE(Compile(R"(props.code == "E1" && props.n > 3)")
                  ->EvalAfterGuard(no_code, nullptr));
  EXPECT_TRUE(
      Compile(R"(props.code in ["E1"])")->EvalAfterGuard(no_code, nullptr));
}

struct ErrorCase {
  std::string text;
  int offset;
  std::string message;  // a substring of the message
  std::string hint;     // a substring of the hint
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.text; }

class ExprErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ExprErrorTest, ReportsOffsetMessageAndHint) {
  const ErrorCase& c = GetParam();
  ExprEnv env{{"up"}, {"down"}};
  ExprError error = CompileError(c.text, env);
  EXPECT_EQ(error.offset, c.offset) << c.text << ": " << error.message;
  EXPECT_THAT(error.message, HasSubstr(c.message)) << c.text;
  EXPECT_THAT(error.hint, HasSubstr(c.hint)) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    All, ExprErrorTest,
    ::testing::Values(
        // Lexical.
        ErrorCase{"props.x = 1", 8, "`=` alone", "=="},
        ErrorCase{"props.x == \"abc", 11, "never closed", "same quote"},
        ErrorCase{"props.x & props.y", 8, "`&` alone", "&&"},
        ErrorCase{"props.x | props.y", 8, "`|` alone", "||"},
        ErrorCase{"props.x == 3d", 11, "not a number", "quoted"},
        ErrorCase{"props.x == #", 11, "unexpected `#`", "quoted"},
        ErrorCase{"props.x == \"a\\qb\"", 13, "unknown escape", "\\\\"},
        // Syntax.
        ErrorCase{"", 0, "empty", "where"},
        ErrorCase{"   ", 0, "empty", "where"},
        ErrorCase{"props.x ==", 10, "ends too early", "props.plan"},
        ErrorCase{"(props.x == 1", 13, "expected `)`", ")"},
        ErrorCase{"1 < props.x < 3", 12, "cannot be chained", "&&"},
        ErrorCase{"props.x == 1 and props.y == 2", 13, "unexpected `and`",
                  "&&"},
        ErrorCase{"props.x == 1 props.y", 13,
                  "found `props` where the expression should end", "&&"},
        ErrorCase{"props.x in [1 2]", 14, "expected `,` or `]`", "commas"},
        ErrorCase{"props. == 1", 7, "expected a name after `props.`",
                  "props.plan"},
        ErrorCase{"props == 1", 6, "`props` needs a key", "props.plan"},
        ErrorCase{"props[x] == 1", 6, "quoted key", "props[\"key"},
        ErrorCase{"-props.x == 1", 0, "negative number", "arithmetic"},
        ErrorCase{"props.x == null", 11, "`null`", "has(props.x)"},
        // Types.
        ErrorCase{"\"a\" < true", 4, "true/false cannot be ordered", "=="},
        ErrorCase{"\"a\" == 1", 4, "cannot compare text with a number",
                  "quote both"},
        ErrorCase{"event.name == 1", 11, "cannot compare text with a number",
                  "quote"},
        ErrorCase{"props.x >= false", 8, "cannot be ordered", "=="},
        ErrorCase{"[1] == props.x", 0, "list cannot be compared", "in"},
        ErrorCase{"props.x in \"a\"", 11, "needs a list", "brackets"},
        ErrorCase{"props.x in props.y", 11, "needs a list", "brackets"},
        ErrorCase{"event.name in [1, 2]", 11,
                  "cannot look for text in a list of a number", "quote"},
        ErrorCase{"props.x in [1, \"a\"]", 15, "mixes", "quote"},
        ErrorCase{"props.x in [props.y]", 12, "literal values only", "["},
        ErrorCase{"has(props.x) in [true]", 0, "single value", "in"},
        ErrorCase{"\"pro\"", 0, "must be a condition", "compare"},
        ErrorCase{"42", 0, "must be a condition", "props.count"},
        ErrorCase{"[\"a\"]", 0, "must be a condition", "in"},
        ErrorCase{"event.name", 0, "must be a condition", "event.name =="},
        ErrorCase{"props.x == 1 && \"a\"", 16, "each side of `&&`", "compare"},
        ErrorCase{"\"a\" || props.x", 0, "each side of `||`", "compare"},
        ErrorCase{"!\"a\"", 1, "`!` needs a condition", "!("},
        ErrorCase{"!5 == 1", 1, "`!` needs a condition", "!("},
        ErrorCase{"has(props.x) == 1", 13, "cannot compare true/false with",
                  "same kind"},
        // Names.
        ErrorCase{"plan == \"pro\"", 0, "unknown name `plan`",
                  "props.plan (a property of the event), user.plan"},
        ErrorCase{"pro == 1", 0, "unknown name `pro`", "up.props.pro"},
        ErrorCase{"prop.plan == 1", 0, "unknown name `prop`",
                  "did you mean `props`?"},
        ErrorCase{"usr.plan == 1", 0, "unknown name `usr`",
                  "did you mean `user`?"},
        ErrorCase{"upp.props.x == 1", 0, "unknown name `upp`",
                  "did you mean `up`?"},
        ErrorCase{"name == \"x\"", 0, "unknown name `name`", "event.name"},
        ErrorCase{"True", 0, "unknown name `True`", "lower case"},
        ErrorCase{"not props.x", 0, "unknown name `not`", "!"},
        ErrorCase{"event.type == \"x\"", 0, "only one field", "props.x"},
        ErrorCase{"event.props.x == 1", 6, "written props.x", "props.plan"},
        ErrorCase{"down.props.x == 1", 0, "later one", "earlier steps"},
        ErrorCase{"up.plan == 1", 0, "step alias gives", "up.props.plan"},
        ErrorCase{"props.a.b == 1", 7, "single value and has no field `b`",
                  "props[\"a.b\"]"},
        ErrorCase{"props.a[\"b\"] == 1", 7, "cannot be indexed",
                  "text, numbers"},
        // Functions and methods.
        ErrorCase{"foo(props.x)", 0, "unknown function `foo`", "has("},
        ErrorCase{"hass(props.x)", 0, "unknown function `hass`",
                  "did you mean has(props.x)?"},
        ErrorCase{"size(props.x) > 1", 0, "unknown function `size`", "has"},
        ErrorCase{"startsWith(props.x, \"a\")", 0, "is a method",
                  "props.url.startsWith"},
        ErrorCase{"props.x.startswith(\"a\")", 8, "unknown method",
                  "did you mean startsWith?"},
        ErrorCase{"props.x.matches(\"a\")", 8, "unknown method",
                  ".contains(\"a\")"},
        ErrorCase{"props.x.contains()", 17, "needs one argument",
                  "contains(\"/billing\")"},
        ErrorCase{"props.x.contains(\"a\", \"b\")", 20, "takes one argument",
                  "contains"},
        ErrorCase{"props.x.contains(1)", 17, "must be text, not a number",
                  "contains"},
        ErrorCase{"(1).contains(\"a\")", 0, "works on text, not a number",
                  "startsWith"},
        ErrorCase{"has(\"x\")", 4, "has() takes a field", "has(props.plan)"},
        ErrorCase{"has(props.x == 1)", 4, "has() takes a field", "has("},
        ErrorCase{"has()", 4, "has() needs a field", "has(props.plan)"},
        ErrorCase{"has(props.x, props.y)", 11, "expected `)`", "one field"}));

TEST(ExprTest, EvalDoesNotAllocate) {
  if (!testing_alloc::Available()) {
    GTEST_SKIP() << "operator new is not replaceable in this build";
  }
  FakeInput in;
  in.props["severity"] = Str("fatal");
  in.props["url"] = Str("/billing/x");
  in.props["n"] = Num(4);
  in.traits["plan"] = Str("pro");
  in.steps.push_back({{"code", Str("E1")}});
  ExprEnv env{{"up"}, {}};
  auto p = Compile(
      "props.severity in [\"error\", \"fatal\"] && "
      "props.url.startsWith(\"/billing\") && props.n >= 3 && "
      "user.plan != \"free\" && has(up.props.code) && "
      "up.props.code == \"E1\" && event.name == \"page_view\" && "
      "!(props.missing == 1)",
      env);
  ASSERT_NE(p, nullptr);
  EvalStats stats;
  bool result = false;
  const int allocations = testing_alloc::CountAllocations([&] {
    for (int i = 0; i < 100; ++i) result = p->Eval(in, &stats);
  });
  EXPECT_TRUE(result);
  EXPECT_EQ(allocations, 0);
  // The counter does count (so the zero above means something).
  std::string grown;
  EXPECT_GT(testing_alloc::CountAllocations([&] { grown.assign(1000, 'x'); }),
            0);
  EXPECT_EQ(grown.size(), 1000u);
  EXPECT_EQ(stats.type_mismatches, 100u);
}

TEST(NormalizeExprTextTest, IgnoresLayoutAndQuoting) {
  EXPECT_EQ(NormalizeExprText("props.a=='x'&&(props.n>=3.0)"),
            NormalizeExprText("  props . a == \"x\"\n &&  ( props.n >= 3 )"));
  EXPECT_NE(NormalizeExprText("props.a == \"x\""),
            NormalizeExprText("props.a == \"y\""));
  EXPECT_NE(NormalizeExprText("props.a == \"x y\""),
            NormalizeExprText("props.a == \"x  y\""));
  // Text that does not lex still normalizes its whitespace.
  EXPECT_EQ(NormalizeExprText("a  =\n b"), "a = b");
}

}  // namespace
}  // namespace hark::rules
