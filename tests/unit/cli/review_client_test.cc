#include "clients/hark/review_client.h"

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "clients/hark/csv.h"
#include "clients/hark/responses_format.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/server.h"
#include "gtest/gtest.h"
#include "local_server.h"
#include "review_samples.h"

namespace hark::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Serves `total` responses r-0 (newest) .. r-(total-1): ListResponses in
// pages of page_size (the token is the index of the next one), and
// ExportResponses all at once, failing after `fail_after` when set.
class FakeReview final : public hark::v1::Review::Service {
 public:
  grpc::Status ListResponses(
      grpc::ServerContext* context,
      const hark::v1::ListResponsesRequest* request,
      hark::v1::ListResponsesResponse* response) override {
    absl::MutexLock lock(&mu_);
    Record(*context);
    list_requests_.push_back(*request);
    if (stuck_token_) {
      response->add_responses()->set_response_id("same");
      response->set_next_page_token("stuck");
      return grpc::Status::OK;
    }
    int next = 0;
    if (!request->page_token().empty() &&
        !absl::SimpleAtoi(request->page_token(), &next)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad token");
    }
    const int page = static_cast<int>(request->page_size());
    for (int i = next; i < total_ && response->responses_size() < page; ++i) {
      response->add_responses()->set_response_id(absl::StrCat("r-", i));
      next = i + 1;
    }
    if (next < total_) response->set_next_page_token(absl::StrCat(next));
    return grpc::Status::OK;
  }

  grpc::Status ExportResponses(
      grpc::ServerContext* context,
      const hark::v1::ExportResponsesRequest* request,
      grpc::ServerWriter<hark::v1::Response>* writer) override {
    int total = 0;
    int fail_after = -1;
    {
      absl::MutexLock lock(&mu_);
      Record(*context);
      export_request_ = *request;
      total = total_;
      fail_after = fail_after_;
    }
    for (int i = 0; i < total; ++i) {
      if (i == fail_after) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted");
      }
      hark::v1::Response r =
          i % 2 == 0 ? testing::SurveyResponse() : testing::InterviewResponse();
      r.set_response_id(absl::StrCat("r-", i));
      if (!writer->Write(r)) break;  // cancelled
    }
    return grpc::Status::OK;
  }

  void Configure(int total, int fail_after = -1) {
    absl::MutexLock lock(&mu_);
    total_ = total;
    fail_after_ = fail_after;
  }
  void StickToken() {
    absl::MutexLock lock(&mu_);
    stuck_token_ = true;
  }
  std::vector<hark::v1::ListResponsesRequest> list_requests() {
    absl::MutexLock lock(&mu_);
    return list_requests_;
  }
  hark::v1::ExportResponsesRequest export_request() {
    absl::MutexLock lock(&mu_);
    return export_request_;
  }
  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }

 private:
  void Record(const grpc::ServerContext& context)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto auth = context.client_metadata().find("authorization");
    if (auth != context.client_metadata().end()) {
      authorization_ = std::string(auth->second.data(), auth->second.size());
    }
  }

  absl::Mutex mu_;
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  int fail_after_ ABSL_GUARDED_BY(mu_) = -1;
  bool stuck_token_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<hark::v1::ListResponsesRequest> list_requests_
      ABSL_GUARDED_BY(mu_);
  hark::v1::ExportResponsesRequest export_request_ ABSL_GUARDED_BY(mu_);
  std::string authorization_ ABSL_GUARDED_BY(mu_);
};

class ReviewClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::shared_ptr<grpc::Channel> channel;
    ASSERT_NO_FATAL_FAILURE(
        testing::StartLocalServer(&service_, &server_, &channel));
    stub_ = hark::v1::Review::NewStub(channel);
  }
  void TearDown() override { server_->Shutdown(); }

  // The ids of every page `ListResponsePages` hands over, page by page.
  std::vector<std::vector<std::string>> Pages(
      const hark::v1::ListResponsesRequest& request, bool all,
      ListResult* result) {
    std::vector<std::vector<std::string>> pages;
    *result = ListResponsePages(
        *stub_, request, all, "Bearer hark_review_test",
        [&](const hark::v1::ListResponsesResponse& page) {
          pages.emplace_back();
          for (const hark::v1::Response& r : page.responses()) {
            pages.back().push_back(r.response_id());
          }
        });
    return pages;
  }

  FakeReview service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<hark::v1::Review::Stub> stub_;
};

TEST_F(ReviewClientTest, OnePageAndTheTokenOfTheNext) {
  service_.Configure(5);
  hark::v1::ListResponsesRequest request;
  request.set_page_size(2);
  request.mutable_filter()->set_friction("pricing");
  ListResult result;
  EXPECT_THAT(Pages(request, false, &result),
              ElementsAre(ElementsAre("r-0", "r-1")));
  ASSERT_TRUE(result.failure.ok()) << result.failure;
  EXPECT_EQ(result.next_page_token, "2");
  EXPECT_EQ(service_.list_requests().at(0).filter().friction(), "pricing");
  EXPECT_EQ(service_.authorization(), "Bearer hark_review_test");

  request.set_page_token("4");
  EXPECT_THAT(Pages(request, false, &result), ElementsAre(ElementsAre("r-4")));
  EXPECT_EQ(result.next_page_token, "");
}

TEST_F(ReviewClientTest, AllFollowsTheTokensToTheEnd) {
  service_.Configure(5);
  hark::v1::ListResponsesRequest request;
  request.set_page_size(2);
  ListResult result;
  EXPECT_THAT(Pages(request, true, &result),
              ElementsAre(ElementsAre("r-0", "r-1"), ElementsAre("r-2", "r-3"),
                          ElementsAre("r-4")));
  ASSERT_TRUE(result.failure.ok());
  EXPECT_EQ(result.pages, 3);
  EXPECT_EQ(result.next_page_token, "");
  std::vector<hark::v1::ListResponsesRequest> requests =
      service_.list_requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[1].page_token(), "2");
  EXPECT_EQ(requests[2].page_token(), "4");
  EXPECT_EQ(requests[2].page_size(), 2u);
}

TEST_F(ReviewClientTest, ATokenHandedBackStopsTheLoop) {
  service_.StickToken();
  hark::v1::ListResponsesRequest request;
  request.set_page_token("stuck");
  ListResult result;
  EXPECT_EQ(Pages(request, true, &result).size(), 1u);
  EXPECT_EQ(result.failure.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(result.failure.message(), HasSubstr("page token it was given"));
}

TEST_F(ReviewClientTest, AFailedCallIsTheFailure) {
  hark::v1::ListResponsesRequest request;
  request.set_page_token("not-a-number");
  ListResult result;
  EXPECT_TRUE(Pages(request, true, &result).empty());
  EXPECT_EQ(result.failure.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ReviewClientTest, ExportWritesCsvAsItReads) {
  service_.Configure(3);
  hark::v1::ExportResponsesRequest request;
  request.mutable_filter()->set_rule_id("repeated_errors");
  std::ostringstream out;
  ResponseWriter writer(&out, ExportFormat::kCsv, /*bom=*/true);
  ASSERT_TRUE(writer.Begin().ok());
  ExportResult result = ExportResponses(
      *stub_, request, "Bearer hark_research_test",
      [&](const hark::v1::Response& r) { return writer.Write(r); });
  ASSERT_TRUE(result.failure.ok()) << result.failure;
  EXPECT_EQ(result.handled, 3);
  EXPECT_EQ(service_.export_request().filter().rule_id(), "repeated_errors");
  EXPECT_EQ(service_.authorization(), "Bearer hark_research_test");
  const std::string csv = out.str();
  ASSERT_THAT(csv, StartsWith("\xEF\xBB\xBFresponse_id,submitted_at,"));
  // The header, three responses (the survey's text is quoted over two
  // lines), each record ending in CRLF.
  EXPECT_THAT(csv, HasSubstr(",traits\r\nr-0,2026-11-22T10:35:12Z,u-42,"));
  EXPECT_THAT(csv, HasSubstr("\r\nr-1,2026-11-22T09:31:05Z,u-7,"));
  EXPECT_THAT(csv, HasSubstr("\r\nr-2,"));
  EXPECT_THAT(csv, HasSubstr("\"The invoice export failed twice.\nThen the "
                             "card was charged.\""));
  EXPECT_EQ(csv.substr(csv.size() - 2), "\r\n");
}

TEST_F(ReviewClientTest, ExportWithoutBom) {
  std::ostringstream out;
  ResponseWriter writer(&out, ExportFormat::kCsv, /*bom=*/false);
  ASSERT_TRUE(writer.Begin().ok());
  EXPECT_EQ(out.str(), CsvRecord(ResponseCsvHeader()));
}

TEST_F(ReviewClientTest, ExportWritesJsonLines) {
  service_.Configure(2);
  std::ostringstream out;
  ResponseWriter writer(&out, ExportFormat::kJsonl, /*bom=*/true);
  ASSERT_TRUE(writer.Begin().ok());
  ExportResult result = ExportResponses(
      *stub_, hark::v1::ExportResponsesRequest(), "",
      [&](const hark::v1::Response& r) { return writer.Write(r); });
  ASSERT_TRUE(result.failure.ok());
  std::vector<std::string> lines = absl::StrSplit(out.str(), '\n');
  ASSERT_EQ(lines.size(), 3u);  // two lines, each ending in a newline
  EXPECT_EQ(lines[2], "");
  // No BOM in JSON Lines; each line is one Response with proto names.
  EXPECT_THAT(lines[0], StartsWith("{\"response_id\":\"r-0\""));
  EXPECT_THAT(lines[0], HasSubstr("\"tag_history\":"));
  for (int i = 0; i < 2; ++i) {
    hark::v1::Response parsed;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(lines[i], &parsed).ok());
    EXPECT_EQ(parsed.response_id(), absl::StrCat("r-", i));
  }
  hark::v1::Response first;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(lines[0], &first).ok());
  hark::v1::Response expected = testing::SurveyResponse();
  expected.set_response_id("r-0");
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(first, expected));
}

TEST_F(ReviewClientTest, AStreamFailureKeepsWhatCameBefore) {
  service_.Configure(5, /*fail_after=*/2);
  int seen = 0;
  ExportResult result =
      ExportResponses(*stub_, hark::v1::ExportResponsesRequest(), "",
                      [&](const hark::v1::Response&) {
                        ++seen;
                        return absl::OkStatus();
                      });
  EXPECT_EQ(result.handled, 2);
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(result.failure.code(), absl::StatusCode::kUnavailable);
}

TEST_F(ReviewClientTest, AWriteFailureCancelsTheStream) {
  service_.Configure(100);
  int calls = 0;
  ExportResult result = ExportResponses(
      *stub_, hark::v1::ExportResponsesRequest(), "",
      [&](const hark::v1::Response&) {
        return ++calls == 3 ? absl::DataLossError("writing failed")
                            : absl::OkStatus();
      });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(result.handled, 2);
  EXPECT_EQ(result.failure, absl::DataLossError("writing failed"));
}

TEST(ResponseWriterTest, AFailedStreamIsDataLoss) {
  std::ostringstream out;
  out.setstate(std::ios::badbit);
  ResponseWriter writer(&out, ExportFormat::kJsonl, false);
  EXPECT_EQ(writer.Write(testing::SurveyResponse()).code(),
            absl::StatusCode::kDataLoss);
}

TEST(ExportFormatForPathTest, ByExtension) {
  EXPECT_EQ(ExportFormatForPath("answers.csv"), ExportFormat::kCsv);
  EXPECT_EQ(ExportFormatForPath("answers.jsonl"), ExportFormat::kJsonl);
  EXPECT_EQ(ExportFormatForPath("ANSWERS.NDJSON"), ExportFormat::kJsonl);
  EXPECT_EQ(ExportFormatForPath("answers.txt"), ExportFormat::kCsv);
  EXPECT_EQ(ExportFormatForPath("-"), ExportFormat::kCsv);
}

}  // namespace
}  // namespace hark::cli
