#include "clients/hark/csv.h"

#include <string>
#include <vector>

#include "clients/hark/responses_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "review_samples.h"

namespace hark::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// A strict RFC 4180 reader, written independently of the writer: records
// end with CRLF; a quoted field may hold anything, with quotes doubled; an
// unquoted field may hold no comma, quote, CR or LF. Fails the test on
// anything else.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '"') {
      ++i;
      while (true) {
        if (i >= text.size()) {
          ADD_FAILURE() << "unterminated quoted field";
          return records;
        }
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field.push_back(text[i++]);
      }
    } else {
      while (i < text.size() && text[i] != ',' && text[i] != '\r') {
        if (text[i] == '"' || text[i] == '\n') {
          ADD_FAILURE() << "bare quote or LF in an unquoted field at " << i;
          return records;
        }
        field.push_back(text[i++]);
      }
    }
    record.push_back(std::move(field));
    field.clear();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (text.compare(i, 2, "\r\n") != 0) {
      ADD_FAILURE() << "record does not end in CRLF at " << i;
      return records;
    }
    i += 2;
    records.push_back(std::move(record));
    record.clear();
  }
  EXPECT_TRUE(record.empty()) << "last record without CRLF";
  return records;
}

TEST(CsvTest, QuotesOnlyWhatMustBeQuoted) {
  EXPECT_EQ(CsvField("plain text"), "plain text");
  EXPECT_EQ(CsvField(""), "");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
  EXPECT_EQ(CsvField("=1+2"), "=1+2");
  EXPECT_EQ(CsvField("Grüße 🙂"), "Grüße 🙂");
}

TEST(CsvTest, RecordEndsInCrlf) {
  EXPECT_EQ(CsvRecord({"a", "", "b,c"}), "a,,\"b,c\"\r\n");
  EXPECT_EQ(CsvRecord({}), "\r\n");
}

TEST(CsvTest, TrickyTextSurvivesARoundTrip) {
  const std::vector<std::string> fields = {
      "He said \"no\", then left",
      "line one\nline two",
      "windows\r\nline ends",
      "\"\"",
      "",
      "=HYPERLINK(\"http://x\")",
      "Preis zu hoch – 😡 très cher, 高すぎる",
      " leading and trailing blanks ",
      ",",
      "\r",
  };
  const std::string text =
      CsvRecord(fields) + CsvRecord({"", ""}) + CsvRecord({"last"});
  EXPECT_THAT(ParseCsv(text),
              ElementsAre(ElementsAreArray(fields), ElementsAre("", ""),
                          ElementsAre("last")));
}

TEST(CsvTest, ResponseRowsRoundTripWithEveryColumn) {
  hark::v1::Response r = testing::SurveyResponse();
  r.mutable_answers(2)->set_text(
      "quote \" comma , CRLF \r\n emoji 🙂 =SUM(A1)");
  const std::string text =
      CsvRecord(ResponseCsvHeader()) + CsvRecord(ResponseCsvFields(r));
  const auto records = ParseCsv(text);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], ResponseCsvHeader());
  EXPECT_EQ(records[1], ResponseCsvFields(r));
  EXPECT_EQ(records[1][13], "quote \" comma , CRLF \r\n emoji 🙂 =SUM(A1)");
}

TEST(CsvTest, BomIsTheUtf8ByteOrderMark) {
  EXPECT_EQ(kUtf8Bom, "\xEF\xBB\xBF");
  EXPECT_EQ(kUtf8Bom.size(), 3u);
}

}  // namespace
}  // namespace hark::cli
