// hark-bench ingest --compare-rules: the measurement of what rules cost,
// run small against real harkd processes (the benchmark starts them).

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;

struct Output {
  int exit_code = -1;
  std::string stdout_text;
};

// Runs hark-bench with `args`; its stderr goes to the test's log.
Output RunBench(const std::string& args) {
  Output out;
  const std::string command = absl::StrCat(HARK_BENCH_PATH, " ", args);
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
    out.stdout_text.append(buffer.data(), n);
  }
  const int status = pclose(pipe);
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  return out;
}

const std::string& Small() {
  static const std::string* const args = new std::string(
      "ingest --events=2000 --users=200 --ceiling=off --progress=off "
      "--harkd-flag=--allowed-lateness=2h");
  return *args;
}

// A small stream-only comparison with the rules folder `folder` (under the
// source tree).
Output CompareStream(const std::string& folder, int rounds) {
  return RunBench(
      absl::StrCat(Small(), " --mode=stream --compare-rules=", HARK_SOURCE_DIR,
                   "/", folder, " --rounds=", rounds));
}

const google::protobuf::Value& Field(const google::protobuf::Struct& s,
                                     const std::string& name) {
  static const google::protobuf::Value* const missing =
      new google::protobuf::Value;
  auto it = s.fields().find(name);
  EXPECT_NE(it, s.fields().end()) << "no field " << name;
  return it == s.fields().end() ? *missing : it->second;
}

TEST(BenchCompareRules, ReportsBothRunsOfEachRoundAndTheMedianRatio) {
  const Output out =
      RunBench(absl::StrCat(Small(), " --compare-rules=", HARK_SOURCE_DIR,
                            "/bench/rules-100 --rounds=2 --json"));
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  google::protobuf::Struct json;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(out.stdout_text, &json).ok())
      << out.stdout_text;

  const auto& config = Field(json, "config").struct_value();
  EXPECT_EQ(Field(config, "rounds").number_value(), 2);
  EXPECT_THAT(Field(config, "compare_rules").string_value(),
              HasSubstr("bench/rules-100"));

  const auto& rounds = Field(json, "rounds").list_value();
  ASSERT_EQ(rounds.values_size(), 2);
  for (const auto& round : rounds.values()) {
    for (const char* run : {"without_rules", "with_rules"}) {
      const auto& modes =
          Field(Field(round.struct_value(), run).struct_value(), "modes")
              .list_value();
      ASSERT_EQ(modes.values_size(), 2) << run;
      for (const auto& mode : modes.values()) {
        EXPECT_EQ(Field(mode.struct_value(), "accepted").number_value(), 2000)
            << run;
        EXPECT_GT(
            Field(mode.struct_value(), "events_per_second").number_value(), 0)
            << run;
      }
    }
  }
  const auto& median = Field(json, "median_ratio").struct_value();
  EXPECT_GT(Field(median, "unary").number_value(), 0);
  EXPECT_GT(Field(median, "stream").number_value(), 0);
  const auto& notes = Field(json, "notes").list_value();
  ASSERT_EQ(notes.values_size(), 1);
  EXPECT_THAT(notes.values(0).string_value(), HasSubstr("in every run"));
}

TEST(BenchCompareRules, TextReportNamesTheRuleCountsAndTheTarget) {
  const Output out = CompareStream("bench/rules-100", 1);
  ASSERT_EQ(out.exit_code, 0) << out.stdout_text;
  EXPECT_THAT(out.stdout_text, HasSubstr("(serving 0 and 100 rules)"));
  EXPECT_THAT(out.stdout_text, HasSubstr("median over the rounds"));
  EXPECT_THAT(out.stdout_text, HasSubstr("Target: at least 0.70 in each mode"));
}

TEST(BenchCompareRules, AFolderWithoutRulesFailsTheRun) {
  const Output out = CompareStream("bench/no-such-folder", 3);
  EXPECT_EQ(out.exit_code, 1) << out.stdout_text;
  EXPECT_THAT(out.stdout_text, HasSubstr("harkd loaded no rules from"));
  EXPECT_THAT(out.stdout_text, HasSubstr("not judged, a run failed"));
  // It stops at the first failed round.
  EXPECT_THAT(out.stdout_text, ::testing::Not(HasSubstr("\n2 ")));
}

TEST(BenchCompareRules, RefusesFlagsThatWouldMeasureSomethingElse) {
  EXPECT_EQ(RunBench("ingest --rounds=2 2>&1").exit_code, 2);
  EXPECT_EQ(RunBench("ingest --compare-rules=x --harkd-flag=--rules=y 2>&1")
                .exit_code,
            2);
  const Output server =
      RunBench("ingest --compare-rules=x --server=127.0.0.1:1 --key=k 2>&1");
  EXPECT_EQ(server.exit_code, 2);
  EXPECT_THAT(server.stdout_text, HasSubstr("cannot load --server"));
}

}  // namespace
