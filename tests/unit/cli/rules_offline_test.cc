#include "clients/hark/rules_offline.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::cli {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr char kCancellation[] = R"(rules:
  - id: cancellation
    friction_hypothesis: perception
    pattern: { match: { event: subscription_cancelled } }
    action: { survey: cancel_exit }
surveys:
  - id: cancel_exit
    title: Before you go
    questions: [ { id: reason, type: text, text: "Why did you cancel?" } ]
tests:
  - name: fires_on_cancel
    events:
      - { at: "0s", user: u1, event: subscription_cancelled }
    expect: [ { rule: cancellation, user: u1, at: "0s" } ]
)";

constexpr char kWrongExpectation[] = R"(tests:
  - name: expects_the_wrong_user
    events:
      - { at: "0s", user: u1, event: subscription_cancelled }
    expect: [ { rule: cancellation, user: u2, at: "0s" } ]
)";

// An unknown key on line 5, column 5.
constexpr char kUnknownKey[] = R"(rules:
  - id: typo
    pattern: { match: { event: error } }
    action: { survey: cancel_exit }
    cooldwn: "7d"
)";

// A bad duration: `within` on line 5.
constexpr char kBadDuration[] = R"(rules:
  - id: errors
    pattern:
      count: { event: error, at_least: 3,
               within: "ten minutes" }
    action: { survey: cancel_exit }
)";

class RulesOfflineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           absl::StrCat("hark_cli_rules_", getpid(), "_", info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& content) {
    std::filesystem::path path = dir_ / name;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << content;
  }

  int Check() {
    out_.str("");
    err_.str("");
    return RunRulesCheck(dir_.string(), out_, err_);
  }
  int Test() {
    out_.str("");
    err_.str("");
    return RunRulesTest(dir_.string(), absl::Minutes(1), out_, err_);
  }

  std::filesystem::path dir_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(RulesOfflineTest, CheckOk) {
  Write("cancellation.yaml", kCancellation);
  EXPECT_EQ(Check(), 0) << out_.str() << err_.str();
  EXPECT_EQ(out_.str(), "ok: 1 rule in 1 file\n");
  EXPECT_THAT(err_.str(), IsEmpty());
}

TEST_F(RulesOfflineTest, CheckReportsEveryErrorWithFolderPathAndHint) {
  Write("a_typo.yaml", kUnknownKey);
  Write("sub/b_duration.yaml", kBadDuration);
  Write("cancellation.yaml", kCancellation);
  EXPECT_EQ(Check(), 1);
  const std::string out = out_.str();
  EXPECT_THAT(out, HasSubstr(absl::StrCat(dir_.string(), "/a_typo.yaml:5:5: ")))
      << out;
  EXPECT_THAT(out,
              HasSubstr(absl::StrCat(dir_.string(), "/sub/b_duration.yaml:5:")))
      << out;
  EXPECT_THAT(out, HasSubstr("\n  hint: ")) << out;
  EXPECT_THAT(out, EndsWith(" in 2 files\n")) << out;
  EXPECT_THAT(out, Not(HasSubstr("ok:")));
}

TEST_F(RulesOfflineTest, CheckMissingFolder) {
  dir_ /= "nope";
  EXPECT_EQ(Check(), 1);
  EXPECT_THAT(out_.str(), IsEmpty());
  EXPECT_THAT(err_.str(), HasSubstr("hark: rules folder "));
  EXPECT_THAT(err_.str(), HasSubstr("/nope does not exist (NOT_FOUND)\n"
                                    "  hint: give the folder"));
}

TEST_F(RulesOfflineTest, CheckEmptyFolderIsOkWithAWarning) {
  EXPECT_EQ(Check(), 0);
  EXPECT_EQ(out_.str(), "ok: 0 rules in 0 files\n");
  EXPECT_THAT(err_.str(), HasSubstr("warning: no .yaml or .yml files"));
}

TEST_F(RulesOfflineTest, TestAllPass) {
  Write("cancellation.yaml", kCancellation);
  EXPECT_EQ(Test(), 0) << out_.str() << err_.str();
  EXPECT_EQ(out_.str(), absl::StrCat("PASS  ", dir_.string(),
                                     "/cancellation.yaml: fires_on_cancel\n"
                                     "1 passed, 0 failed\n"));
}

TEST_F(RulesOfflineTest, TestFailureShowsExpectedAndActual) {
  Write("cancellation.yaml", kCancellation);
  Write("z_wrong.yaml", kWrongExpectation);
  EXPECT_EQ(Test(), 1) << out_.str() << err_.str();
  const std::string out = out_.str();
  EXPECT_THAT(out,
              HasSubstr(absl::StrCat("PASS  ", dir_.string(),
                                     "/cancellation.yaml: fires_on_cancel\n")));
  EXPECT_THAT(out,
              HasSubstr(absl::StrCat("FAIL  ", dir_.string(),
                                     "/z_wrong.yaml: expects_the_wrong_user\n"
                                     "      expected:\n"
                                     "        cancellation u2")))
      << out;
  EXPECT_THAT(out, HasSubstr("      actual:\n        cancellation u1")) << out;
  EXPECT_THAT(out, EndsWith("1 passed, 1 failed\n"));
}

TEST_F(RulesOfflineTest, TestStopsAtLoadErrors) {
  Write("cancellation.yaml", kCancellation);
  Write("a_typo.yaml", kUnknownKey);
  EXPECT_EQ(Test(), 1);
  EXPECT_THAT(out_.str(), HasSubstr("/a_typo.yaml:5:5: "));
  EXPECT_THAT(out_.str(), EndsWith("1 error in 1 file\n"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("PASS")));
}

TEST(RulesOfflineConversionTest, LoadErrorAndTestOutcome) {
  rules::LoadError e;
  e.path = "a.yaml";
  e.line = 3;
  e.column = 7;
  e.message = "m";
  e.hint = "h";
  hark::v1::RuleError pe = ToRuleError(e);
  EXPECT_EQ(pe.path(), "a.yaml");
  EXPECT_EQ(pe.line(), 3u);
  EXPECT_EQ(pe.column(), 7u);
  EXPECT_EQ(pe.message(), "m");
  EXPECT_EQ(pe.hint(), "h");

  engine::TestOutcome o;
  o.path = "a.yaml";
  o.name = "t";
  o.expected = {"r u1 at=1m"};
  o.actual = {};
  hark::v1::TestResult pr = ToTestResult(o);
  EXPECT_FALSE(pr.passed());
  EXPECT_EQ(pr.expected_size(), 1);
  EXPECT_EQ(pr.actual_size(), 0);
}

}  // namespace
}  // namespace hark::cli
