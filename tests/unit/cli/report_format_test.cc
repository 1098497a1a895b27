#include "clients/hark/report_format.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "review_samples.h"

namespace hark::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::SampleReport;

TEST(FormatReportTest, TablesWithTheirExplanations) {
  EXPECT_EQ(
      FormatReport(SampleReport()),
      "Report generated 2026-11-22 10:31:05 UTC: 12 responses, 2 rules\n"
      "\n"
      "Per rule: from match to answer\n"
      "RULE             HYPOTHESIS  MATCHES  SENT  DELIVERED  SHOWN  ANSWERED  "
      "RESPONSE RATE\n"
      "repeated_errors  product          80    40         30     24        12  "
      "          40%\n"
      "cancellation     perception        3     0          0      0         0  "
      "            -\n"
      "  matches        times the rule fired\n"
      "  sent           matches where Hark decided to ask (the others: "
      "decisions below)\n"
      "  delivered      prompts a product backend fetched to show\n"
      "  shown          prompts the product reported as shown to the user\n"
      "  answered       responses received\n"
      "  response rate  answered / delivered\n"
      "\n"
      "Per rule: what the answers said and what users did next\n"
      "RULE             TOP FRICTION                     HYPOTHESIS MISMATCH  "
      "OUTCOME: ANSWERED VS NOT\n"
      "repeated_errors  pricing 7, product 4, process 1  67% of 12            "
      "12% of 50 vs 31% of 200\n"
      "cancellation     -                                -                    "
      "-\n"
      "  top friction         the most frequent friction types of the answers "
      "(primary tag), with counts\n"
      "  hypothesis mismatch  answers tagged otherwise than the rule's "
      "hypothesis (its author's guess); high: the rule catches another problem "
      "than assumed\n"
      "  outcome              matched users who sent subscription_cancelled "
      "within 30 days of their first match: those who answered vs those who "
      "did not (\"12% of 50\": 12% of 50 users)\n"
      "\n"
      "Decisions by reason\n"
      "RULE             SENT  COOLDOWN  SAMPLED_OUT  SHADOW\n"
      "repeated_errors    40        25           15       0\n"
      "cancellation        0         0            0       3\n"
      "  sent         asked: a survey or invitation was created\n"
      "  cooldown     not asked: this rule asked the user within its cooldown\n"
      "  sampled_out  not asked: the user is outside the rule's sample\n"
      "  shadow       not asked: the rule runs in shadow mode (decides, asks "
      "nobody)\n"
      "\n"
      "Friction of all 12 responses (primary tag)\n"
      "product  4  [######..............]  33%\n"
      "process  1  [#...................]   8%\n"
      "pricing  7  [###########.........]  58%\n"
      "\n"
      "Weekly trend: responses by friction type (primary tag), by the week "
      "they arrived (UTC)\n"
      "WEEK OF     PRODUCT  PROCESS  PRICING  TOTAL\n"
      "2026-11-09        3        0        2      5\n"
      "2026-11-16        1        1        5      7\n");
}

TEST(FormatReportTest, EmptyReport) {
  hark::v1::Report report;
  report.set_outcome_event("subscription_cancelled");
  report.set_outcome_days(30);
  EXPECT_EQ(FormatReport(report),
            "Report: 0 responses, 0 rules\n"
            "\n"
            "No responses match.\n");
}

TEST(FormatReportTest, AGroupWithoutUsersIsNone) {
  hark::v1::Report report = SampleReport();
  hark::v1::Report::RuleRow* cancel = report.mutable_rules(1);
  cancel->set_matched_users(3);
  cancel->set_non_responders(3);
  cancel->set_outcome_rate_non_responders(1.0 / 3);
  EXPECT_THAT(FormatReport(report),
              HasSubstr("\ncancellation     -                                -"
                        "                    none vs 33% of 3\n"));
}

TEST(ReportCsvRowsTest, OneRowPerRuleWithFlattenedMaps) {
  const std::vector<std::vector<std::string>> rows =
      ReportCsvRows(SampleReport());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_THAT(
      rows[0],
      ElementsAre("rule_id", "friction_hypothesis", "matches", "delivered",
                  "shown", "answered", "response_rate", "hypothesis_compared",
                  "hypothesis_mismatch", "matched_users", "responders",
                  "non_responders", "outcome_event", "outcome_days",
                  "outcome_rate_responders", "outcome_rate_non_responders",
                  "decisions_sent", "decisions_cooldown",
                  "decisions_sampled_out", "decisions_shadow",
                  "friction_product", "friction_process", "friction_pricing"));
  EXPECT_THAT(rows[1],
              ElementsAre("repeated_errors", "product", "80", "30", "24", "12",
                          "0.4", "12", "0.666667", "250", "50", "200",
                          "subscription_cancelled", "30", "0.12", "0.31", "40",
                          "25", "15", "0", "4", "1", "7"));
  EXPECT_THAT(rows[2],
              ElementsAre("cancellation", "perception", "3", "0", "0", "0", "0",
                          "0", "0", "0", "0", "0", "subscription_cancelled",
                          "30", "0", "0", "0", "0", "0", "3", "0", "0", "0"));
}

TEST(ReportCsvRowsTest, NoRulesIsJustTheHeader) {
  const auto rows = ReportCsvRows(hark::v1::Report());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].front(), "rule_id");
  EXPECT_EQ(rows[0].back(), "outcome_rate_non_responders");
}

}  // namespace
}  // namespace hark::cli
