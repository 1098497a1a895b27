#include "clients/hark/prompt_watcher.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/server.h"
#include "gtest/gtest.h"
#include "local_server.h"

namespace hark::cli {
namespace {

using ::testing::ElementsAre;

// Streams prompts p-<n>/c-<n> for n after the request's cursor (a number),
// then ends with `end_status`; with `endless`, keeps streaming until the
// client cancels.
class FakePrompts final : public hark::v1::Prompts::Service {
 public:
  grpc::Status WatchPrompts(
      grpc::ServerContext* context,
      const hark::v1::WatchPromptsRequest* request,
      grpc::ServerWriter<hark::v1::Prompt>* writer) override {
    int count = 0;
    bool endless = false;
    grpc::Status end_status;
    {
      absl::MutexLock lock(&mu_);
      auto auth = context->client_metadata().find("authorization");
      if (auth != context->client_metadata().end()) {
        authorization_ = std::string(auth->second.data(), auth->second.size());
      }
      requests_.push_back(*request);
      count = count_;
      endless = endless_;
      end_status = end_status_;
    }
    int start = 0;
    if (!request->after_cursor().empty()) {
      start = std::stoi(request->after_cursor().substr(2));
    }
    for (int n = start + 1; endless || n <= start + count; ++n) {
      if (context->IsCancelled()) return grpc::Status::CANCELLED;
      hark::v1::Prompt p;
      p.set_prompt_id(absl::StrCat("p-", n));
      p.set_cursor(absl::StrCat("c-", n));
      if (!writer->Write(p)) return grpc::Status::CANCELLED;
    }
    return end_status;
  }

  void Configure(int count, bool endless, grpc::Status end_status) {
    absl::MutexLock lock(&mu_);
    count_ = count;
    endless_ = endless;
    end_status_ = std::move(end_status);
  }
  std::vector<hark::v1::WatchPromptsRequest> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_) = 0;
  bool endless_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  std::vector<hark::v1::WatchPromptsRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::string authorization_ ABSL_GUARDED_BY(mu_);
};

class PromptWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::shared_ptr<grpc::Channel> channel;
    ASSERT_NO_FATAL_FAILURE(
        testing::StartLocalServer(&service_, &server_, &channel));
    stub_ = hark::v1::Prompts::NewStub(channel);
    options_.authorization = "Bearer hark_ingest_test";
  }
  void TearDown() override { server_->Shutdown(); }

  WatchPromptsResult Watch() {
    return WatchPrompts(*stub_, options_, [this](const hark::v1::Prompt& p) {
      ids_.push_back(p.prompt_id());
    });
  }

  FakePrompts service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<hark::v1::Prompts::Stub> stub_;
  WatchPromptsOptions options_;
  std::vector<std::string> ids_;
};

TEST_F(PromptWatcherTest, StopsAfterMaxWithoutFailure) {
  service_.Configure(0, /*endless=*/true, grpc::Status::OK);
  options_.max_prompts = 3;
  options_.after_cursor = "c-10";
  options_.kinds = {hark::v1::Prompt::INTERVIEW};
  WatchPromptsResult r = Watch();
  EXPECT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_FALSE(r.ended_by_server);
  EXPECT_EQ(r.received, 3);
  EXPECT_EQ(r.last_cursor, "c-13");
  EXPECT_THAT(ids_, ElementsAre("p-11", "p-12", "p-13"));
  std::vector<hark::v1::WatchPromptsRequest> requests = service_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].after_cursor(), "c-10");
  EXPECT_THAT(requests[0].kinds(), ElementsAre(hark::v1::Prompt::INTERVIEW));
  EXPECT_EQ(service_.authorization(), "Bearer hark_ingest_test");
}

TEST_F(PromptWatcherTest, ServerEndingTheStreamIsReported) {
  service_.Configure(2, /*endless=*/false, grpc::Status::OK);
  WatchPromptsResult r = Watch();
  EXPECT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_TRUE(r.ended_by_server);
  EXPECT_EQ(r.received, 2);
  EXPECT_EQ(r.last_cursor, "c-2");
}

TEST_F(PromptWatcherTest, FailureKeepsTheCursorToResumeFrom) {
  service_.Configure(
      2, /*endless=*/false,
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "harkd is shutting down"));
  options_.max_prompts = 10;
  WatchPromptsResult r = Watch();
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.failure.message(), "harkd is shutting down");
  EXPECT_FALSE(r.ended_by_server);
  EXPECT_EQ(r.received, 2);
  EXPECT_EQ(r.last_cursor, "c-2");
}

TEST_F(PromptWatcherTest, FailureBeforeAnyPromptKeepsTheStartCursor) {
  service_.Configure(
      0, /*endless=*/false,
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "needs ingest"));
  options_.after_cursor = "c-5";
  WatchPromptsResult r = Watch();
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.received, 0);
  EXPECT_EQ(r.last_cursor, "c-5");
  EXPECT_TRUE(ids_.empty());
}

}  // namespace
}  // namespace hark::cli
