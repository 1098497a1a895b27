#include "clients/hark/match_lister.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "gtest/gtest.h"
#include "local_server.h"

namespace hark::cli {
namespace {

using ::testing::ElementsAre;

// Serves `total` matches m-0 (newest) .. m-(total-1), filtered by user, in
// pages of at most `max_page` (or what was asked for); the token is the
// index of the next match.
class FakeRules final : public hark::v1::Rules::Service {
 public:
  grpc::Status ListMatches(grpc::ServerContext* context,
                           const hark::v1::ListMatchesRequest* request,
                           hark::v1::ListMatchesResponse* response) override {
    absl::MutexLock lock(&mu_);
    auto auth = context->client_metadata().find("authorization");
    if (auth != context->client_metadata().end()) {
      authorization_ = std::string(auth->second.data(), auth->second.size());
    }
    requests_.push_back(*request);
    if (fail_at_call_ == static_cast<int>(requests_.size())) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted");
    }
    if (stuck_token_) {
      response->add_matches()->set_match_id("same");
      response->set_next_page_token("stuck");
      return grpc::Status::OK;
    }
    int next = 0;
    if (!request->page_token().empty() &&
        !absl::SimpleAtoi(request->page_token(), &next)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad token");
    }
    const int page = std::min<int>(request->page_size(), max_page_);
    for (int i = next; i < total_ && response->matches_size() < page; ++i) {
      hark::v1::Match* m = response->add_matches();
      m->set_match_id(absl::StrCat("m-", i));
      m->set_user_id(request->user_id().empty() ? "u" : request->user_id());
      m->set_rule_id(request->rule_id());
      next = i + 1;
    }
    if (next < total_) response->set_next_page_token(absl::StrCat(next));
    return grpc::Status::OK;
  }

  void Configure(int total, int max_page) {
    absl::MutexLock lock(&mu_);
    total_ = total;
    max_page_ = max_page;
  }
  void FailAtCall(int n) {
    absl::MutexLock lock(&mu_);
    fail_at_call_ = n;
  }
  void StickToken() {
    absl::MutexLock lock(&mu_);
    stuck_token_ = true;
  }
  std::vector<hark::v1::ListMatchesRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }

 private:
  absl::Mutex mu_;
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  int max_page_ ABSL_GUARDED_BY(mu_) = 1000;
  int fail_at_call_ ABSL_GUARDED_BY(mu_) = 0;
  bool stuck_token_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<hark::v1::ListMatchesRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::string authorization_ ABSL_GUARDED_BY(mu_);
};

class MatchListerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::shared_ptr<grpc::Channel> channel;
    ASSERT_NO_FATAL_FAILURE(
        testing::StartLocalServer(&service_, &server_, &channel));
    stub_ = hark::v1::Rules::NewStub(channel);
    options_.authorization = "Bearer hark_research_test";
  }
  void TearDown() override { server_->Shutdown(); }

  static std::vector<std::string> Ids(const ListMatchesResult& r) {
    std::vector<std::string> ids;
    for (const hark::v1::Match& m : r.matches) ids.push_back(m.match_id());
    return ids;
  }

  FakeRules service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<hark::v1::Rules::Stub> stub_;
  ListMatchesOptions options_;
};

TEST_F(MatchListerTest, PagesUntilTheLimitAndSaysThereIsMore) {
  service_.Configure(/*total=*/10, /*max_page=*/3);
  options_.limit = 7;
  options_.rule_id = "repeated_errors";
  options_.user_id = "u-1";
  ListMatchesResult r = ListMatches(*stub_, options_);
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_THAT(Ids(r),
              ElementsAre("m-0", "m-1", "m-2", "m-3", "m-4", "m-5", "m-6"));
  EXPECT_TRUE(r.more);
  std::vector<hark::v1::ListMatchesRequest> requests = service_.requests();
  ASSERT_EQ(requests.size(), 3u);
  // Each page asks only for what is still missing.
  EXPECT_EQ(requests[0].page_size(), 7u);
  EXPECT_EQ(requests[0].page_token(), "");
  EXPECT_EQ(requests[1].page_size(), 4u);
  EXPECT_EQ(requests[1].page_token(), "3");
  EXPECT_EQ(requests[2].page_size(), 1u);
  for (const auto& request : requests) {
    EXPECT_EQ(request.rule_id(), "repeated_errors");
    EXPECT_EQ(request.user_id(), "u-1");
  }
  EXPECT_EQ(service_.authorization(), "Bearer hark_research_test");
}

TEST_F(MatchListerTest, StopsAtTheLastPage) {
  service_.Configure(/*total=*/5, /*max_page=*/2);
  options_.limit = 50;
  ListMatchesResult r = ListMatches(*stub_, options_);
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_EQ(r.matches.size(), 5u);
  EXPECT_FALSE(r.more);
  EXPECT_EQ(service_.requests().size(), 3u);
}

TEST_F(MatchListerTest, ExactlyAtTheLimitWithNothingLeftIsNotMore) {
  service_.Configure(/*total=*/4, /*max_page=*/1000);
  options_.limit = 4;
  ListMatchesResult r = ListMatches(*stub_, options_);
  EXPECT_EQ(r.matches.size(), 4u);
  EXPECT_FALSE(r.more);
}

TEST_F(MatchListerTest, AsksForAtMost1000PerPage) {
  service_.Configure(/*total=*/1500, /*max_page=*/1000);
  options_.limit = 2500;
  ListMatchesResult r = ListMatches(*stub_, options_);
  EXPECT_EQ(r.matches.size(), 1500u);
  ASSERT_EQ(service_.requests().size(), 2u);
  EXPECT_EQ(service_.requests()[0].page_size(), 1000u);
}

TEST_F(MatchListerTest, FailureKeepsTheEarlierPages) {
  service_.Configure(/*total=*/10, /*max_page=*/3);
  service_.FailAtCall(2);
  options_.limit = 10;
  ListMatchesResult r = ListMatches(*stub_, options_);
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(Ids(r), ElementsAre("m-0", "m-1", "m-2"));
}

TEST_F(MatchListerTest, RepeatedTokenIsAFailureNotALoop) {
  service_.StickToken();
  options_.limit = 100;
  ListMatchesResult r = ListMatches(*stub_, options_);
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(r.matches.size(), 2u);
}

}  // namespace
}  // namespace hark::cli
