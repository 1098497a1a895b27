#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/policy/policy.h"

namespace hark::policy {
namespace {

// The draw as the 53-bit integer it was made from (exact in a double).
int64_t DrawBits(double draw) {
  return static_cast<int64_t>(std::ldexp(draw, 53));
}

// Expected values computed independently (Python, FNV-1a 64 + splitmix64
// finalizer, top 53 bits). They pin the hash: a change here re-draws every
// sampled user, so it must be deliberate.
TEST(SampleDrawTest, MatchesHardCodedDraws) {
  EXPECT_EQ(DrawBits(SampleDraw("u1", "repeated_errors", "v1")),
            8393912852922049);
  EXPECT_EQ(DrawBits(SampleDraw("alice", "checkout_abandon", "3")),
            6410995532039791);
  EXPECT_EQ(DrawBits(SampleDraw("", "", "")), 4354349523106498);
  EXPECT_EQ(DrawBits(SampleDraw("user-42", "r", "sha256:abc")),
            4587906090774022);
  EXPECT_DOUBLE_EQ(SampleDraw("u1", "repeated_errors", "v1"),
                   0.9319115316011094);
}

TEST(SampleDrawTest, SeparatesTheFields) {
  // The 0 byte between fields keeps "ab"+"c" apart from "a"+"bc".
  EXPECT_NE(SampleDraw("ab", "c", "v"), SampleDraw("a", "bc", "v"));
  EXPECT_NE(SampleDraw("u", "r", "v1"), SampleDraw("u", "r", "v2"));
}

TEST(SampleDrawTest, IsStableAndInRange) {
  for (int i = 0; i < 1000; ++i) {
    const std::string user = absl::StrCat("user", i);
    const double draw = SampleDraw(user, "rule", "v1");
    EXPECT_GE(draw, 0.0);
    EXPECT_LT(draw, 1.0);
    EXPECT_EQ(draw, SampleDraw(user, "rule", "v1"));
  }
}

TEST(SampleDrawTest, HalfOfTenThousandUsersSampledIn) {
  int in = 0;
  constexpr int kUsers = 10000;
  for (int i = 0; i < kUsers; ++i) {
    if (SampleDraw(absl::StrCat("user-", i), "checkout_abandon", "v7") < 0.5) {
      ++in;
    }
  }
  EXPECT_GE(in, 4700);
  EXPECT_LE(in, 5300);
}

TEST(SampleDrawTest, TenPercentOfTenThousandUsersSampledIn) {
  int in = 0;
  for (int i = 0; i < 10000; ++i) {
    if (SampleDraw(absl::StrCat(i), "r", "1") < 0.1) ++in;
  }
  EXPECT_GE(in, 900);
  EXPECT_LE(in, 1100);
}

}  // namespace
}  // namespace hark::policy
