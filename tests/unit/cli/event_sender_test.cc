#include "clients/hark/event_sender.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "clients/hark/values.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "local_server.h"

namespace hark::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A stand-in for harkd's Ingest: answers scripted failures first, then
// judges events like harkd would in miniature (lowercase names, a timestamp,
// ids stored once).
class FakeIngest final : public hark::v1::Ingest::Service {
 public:
  grpc::Status TrackEvents(grpc::ServerContext* context,
                           const hark::v1::TrackEventsRequest* request,
                           hark::v1::TrackEventsResponse* response) override {
    absl::MutexLock lock(&mu_);
    ++calls_;
    auto auth = context->client_metadata().find("authorization");
    if (auth != context->client_metadata().end()) {
      authorization_ = std::string(auth->second.data(), auth->second.size());
    }
    if (!failures_.empty()) {
      grpc::Status status = failures_.front();
      failures_.pop_front();
      return status;
    }
    batch_sizes_.push_back(request->events_size());
    for (const hark::v1::Event& event : request->events()) {
      received_.push_back(event);
      hark::v1::EventResult* result = response->add_results();
      result->set_event_id(event.event_id());
      bool lower = !event.name().empty();
      for (char c : event.name()) lower = lower && !absl::ascii_isupper(c);
      if (!lower) {
        result->set_status(hark::v1::EventResult::REJECTED);
        result->mutable_error()->set_field("name");
        result->mutable_error()->set_reason("must match [a-z0-9_.:-]{1,64}");
      } else if (!event.has_timestamp()) {
        result->set_status(hark::v1::EventResult::REJECTED);
        result->mutable_error()->set_field("timestamp");
        result->mutable_error()->set_reason("required");
      } else if (!seen_.insert(event.event_id()).second) {
        result->set_status(hark::v1::EventResult::DUPLICATE);
      } else {
        result->set_status(hark::v1::EventResult::ACCEPTED);
      }
    }
    return grpc::Status::OK;
  }

  void FailNext(grpc::StatusCode code, int times) {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < times; ++i) failures_.emplace_back(code, "scripted");
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<int> batch_sizes() {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }
  std::vector<hark::v1::Event> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  absl::Mutex mu_;
  std::deque<grpc::Status> failures_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  std::vector<hark::v1::Event> received_ ABSL_GUARDED_BY(mu_);
  std::string authorization_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class EventSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::shared_ptr<grpc::Channel> channel;
    ASSERT_NO_FATAL_FAILURE(
        testing::StartLocalServer(&service_, &server_, &channel));
    stub_ = hark::v1::Ingest::NewStub(channel);
    options_.authorization = "Bearer hark_ingest_test";
    options_.sleep = [this](absl::Duration d) { sleeps_.push_back(d); };
  }
  void TearDown() override { server_->Shutdown(); }

  SendReport Send(const std::string& input) {
    std::istringstream in(input);
    return SendEvents(in, *stub_, options_, nullptr);
  }

  static std::string Line(absl::string_view id, absl::string_view name = "ok",
                          bool with_time = true) {
    return absl::StrCat(
        R"({"event_id": ")", id, R"(", "user_id": "u", "name": ")", name, "\"",
        with_time ? R"(, "timestamp": "2026-11-01T00:00:00Z")" : "", "}\n");
  }

  FakeIngest service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<hark::v1::Ingest::Stub> stub_;
  SendOptions options_;
  std::vector<absl::Duration> sleeps_;
};

TEST_F(EventSenderTest, MapsResultsBackToLines) {
  std::string input =
      absl::StrCat("# header\n",      // 1
                   Line("a"),         // 2
                   "\n",              // 3
                   Line("b", "Bad"),  // 4
                   R"({"event_id": "c", "properties": {"x": null}})"
                   "\n",                    // 5
                   Line("a"),               // 6 duplicate
                   "not json\n",            // 7
                   Line("d", "ok", false),  // 8 no timestamp
                   Line("e"));              // 9
  options_.batch_size = 2;
  SendReport r = Send(input);
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_EQ(r.accepted, 2u);
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.rejected, 4u);
  EXPECT_EQ(r.lines_read, 9);
  EXPECT_EQ(r.bytes_read, input.size());
  EXPECT_EQ(r.batches, 3u);
  EXPECT_THAT(service_.batch_sizes(), ElementsAre(2, 2, 1));
  std::vector<std::string> lines;
  for (const RejectedLine& rejection : r.rejections) {
    lines.push_back(FormatRejection(rejection));
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "line 4: event b: name: must match [a-z0-9_.:-]{1,64}");
  EXPECT_THAT(lines[1], HasSubstr("line 5: event c: properties[\"x\"]: null"));
  EXPECT_THAT(lines[2], HasSubstr("line 7: invalid JSON"));
  EXPECT_EQ(lines[3], "line 8: event d: timestamp: required");
  EXPECT_TRUE(r.rejections[1].local);
  EXPECT_FALSE(r.rejections[0].local);
  EXPECT_EQ(service_.authorization(), "Bearer hark_ingest_test");
}

TEST_F(EventSenderTest, RetriesResourceExhaustedWithGrowingBackoff) {
  service_.FailNext(grpc::StatusCode::RESOURCE_EXHAUSTED, 4);
  options_.initial_backoff = absl::Milliseconds(100);
  options_.max_backoff = absl::Milliseconds(300);
  SendReport r = Send(Line("a") + Line("b"));
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_EQ(r.accepted, 2u);
  EXPECT_EQ(r.retries, 4u);
  EXPECT_EQ(service_.calls(), 5);
  ASSERT_EQ(sleeps_.size(), 4u);
  // Jittered into [backoff/2, backoff], backoff doubling up to the cap.
  const absl::Duration caps[] = {
      absl::Milliseconds(100), absl::Milliseconds(200), absl::Milliseconds(300),
      absl::Milliseconds(300)};
  for (int i = 0; i < 4; ++i) {
    EXPECT_GE(sleeps_[i], caps[i] / 2) << i;
    EXPECT_LE(sleeps_[i], caps[i]) << i;
  }
}

TEST_F(EventSenderTest, GivesUpAfterBoundedRetries) {
  options_.max_exhausted_retries = 2;
  service_.FailNext(grpc::StatusCode::RESOURCE_EXHAUSTED, 3);
  options_.batch_size = 1;
  SendReport r = Send(Line("a") + Line("b") + Line("c"));
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r.failed_first_line, 1);
  EXPECT_EQ(r.failed_last_line, 1);
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_EQ(service_.calls(), 3);
  // Nothing after the failed batch was read or sent.
  EXPECT_EQ(r.lines_read, 1);
}

TEST_F(EventSenderTest, UnavailableRetriedAFewTimes) {
  options_.max_unavailable_retries = 3;
  service_.FailNext(grpc::StatusCode::UNAVAILABLE, 2);
  SendReport ok = Send(Line("a"));
  ASSERT_TRUE(ok.failure.ok()) << ok.failure;
  EXPECT_EQ(ok.retries, 2u);

  service_.FailNext(grpc::StatusCode::UNAVAILABLE, 10);
  options_.batch_size = 2;
  SendReport failed = Send(Line("b") + Line("c") + Line("d"));
  EXPECT_EQ(failed.failure.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed.retries, 3u);
  EXPECT_EQ(failed.failed_first_line, 1);
  EXPECT_EQ(failed.failed_last_line, 2);
}

TEST_F(EventSenderTest, OtherErrorsAreNotRetried) {
  service_.FailNext(grpc::StatusCode::PERMISSION_DENIED, 1);
  SendReport r = Send(Line("a"));
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.retries, 0u);
  EXPECT_EQ(service_.calls(), 1);
}

TEST_F(EventSenderTest, EarlierBatchesCountWhenALaterOneFails) {
  options_.batch_size = 1;
  options_.max_unavailable_retries = 0;
  SendReport first = Send(Line("a"));
  ASSERT_TRUE(first.failure.ok());
  // Next call succeeds, the one after fails.
  std::istringstream in(Line("b") + Line("c"));
  int answered = 0;
  ProgressFn progress = [&](const SendReport& r) {
    answered = static_cast<int>(r.batches);
    if (r.batches == 1 && r.failure.ok()) {
      service_.FailNext(grpc::StatusCode::UNAVAILABLE, 1);
    }
  };
  SendReport r = SendEvents(in, *stub_, options_, progress);
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(r.failed_first_line, 2);
  EXPECT_EQ(answered, 1);
}

TEST_F(EventSenderTest, CutsBatchesBySizeAndRejectsHugeEvents) {
  options_.max_batch_bytes = 400;
  std::string big(300, 'x');
  std::string huge(1000, 'y');
  std::string input = absl::StrCat(
      R"({"event_id": "a", "name": "ok", "timestamp": "2026-11-01T00:00:00Z", "properties": {"p": ")",
      big, "\"}}\n",
      R"({"event_id": "b", "name": "ok", "timestamp": "2026-11-01T00:00:00Z", "properties": {"p": ")",
      big, "\"}}\n",
      R"({"event_id": "c", "name": "ok", "timestamp": "2026-11-01T00:00:00Z", "properties": {"p": ")",
      huge, "\"}}\n");
  SendReport r = Send(input);
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_THAT(service_.batch_sizes(), ElementsAre(1, 1));
  EXPECT_EQ(r.accepted, 2u);
  ASSERT_EQ(r.rejections.size(), 1u);
  EXPECT_EQ(r.rejections[0].line, 3);
  EXPECT_THAT(r.rejections[0].reason, HasSubstr("one call carries at most"));
}

TEST_F(EventSenderTest, UnreachableServerIsUnavailable) {
  // A port nothing listens on: bind one, then close it.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  close(fd);
  auto stub = hark::v1::Ingest::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  options_.max_unavailable_retries = 1;
  std::istringstream in(Line("a"));
  SendReport r = SendEvents(in, *stub, options_, nullptr);
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.retries, 1u);
}

TEST_F(EventSenderTest, ShiftToNowMovesEveryTimeByTheSameAmount) {
  std::string input = absl::StrCat(
      R"({"event_id": "a", "user_id": "u", "name": "ok", "timestamp": "2026-11-01T10:00:00Z"})"
      "\n",  // 1
      R"({"event_id": "b", "user_id": "u", "name": "ok", "timestamp": "2026-11-01T10:00:40Z"})"
      "\n",  // 2
      // 3: rejected locally; its (later) time does not count.
      R"({"event_id": "c", "user_id": "u", "name": "ok", "timestamp": "2026-11-09T00:00:00Z", "x": 1})"
      "\n",
      Line("d", "ok", false),  // 4: no timestamp, harkd rejects it
      R"({"event_id": "b", "user_id": "u", "name": "ok", "timestamp": "2026-11-01T10:00:40Z"})"
      "\n");  // 5: duplicate of 2
  options_.shift_to_now = true;
  options_.batch_size = 2;
  int now_calls = 0;
  absl::Time now;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2026-11-22T09:00:00.75Z",
                              &now, nullptr));
  options_.now = [&] {
    ++now_calls;
    return now;
  };
  SendReport r = Send(input);
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_EQ(now_calls, 1);
  ASSERT_TRUE(r.time_shift.has_value());
  EXPECT_EQ(FormatShiftAmount(r.time_shift->by), "+20d 22h 59m 20s");
  EXPECT_EQ(r.accepted, 2u);
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.rejected, 2u);
  EXPECT_EQ(r.lines_read, 5);
  EXPECT_EQ(r.bytes_read, input.size());
  EXPECT_THAT(service_.batch_sizes(), ElementsAre(2, 2));
  std::vector<std::string> sent;
  for (const hark::v1::Event& e : service_.received()) {
    sent.push_back(
        absl::StrCat(e.event_id(), " ",
                     e.has_timestamp() ? FormatRfc3339(e.timestamp()) : "-"));
  }
  EXPECT_THAT(sent,
              ElementsAre("a 2026-11-22T08:59:20Z", "b 2026-11-22T09:00:00Z",
                          "d -", "b 2026-11-22T09:00:00Z"));
  ASSERT_EQ(r.rejections.size(), 2u);
  EXPECT_EQ(r.rejections[0].line, 3);
  EXPECT_TRUE(r.rejections[0].local);
  EXPECT_EQ(r.rejections[1].line, 4);
}

TEST_F(EventSenderTest, ShiftToNowWithoutTimestampsShiftsNothing) {
  options_.shift_to_now = true;
  SendReport r = Send(Line("a", "ok", false));
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_FALSE(r.time_shift.has_value());
  EXPECT_EQ(r.rejected, 1u);
}

TEST_F(EventSenderTest, WithoutTheOptionTimesAreSentAsWritten) {
  SendReport r = Send(Line("a"));
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_FALSE(r.time_shift.has_value());
  ASSERT_EQ(service_.received().size(), 1u);
  EXPECT_EQ(FormatRfc3339(service_.received()[0].timestamp()),
            "2026-11-01T00:00:00Z");
}

// The shipped example shows every outcome: see its header comment.
TEST_F(EventSenderTest, ExampleFileShowsAllThreeOutcomes) {
  std::ifstream in(HARK_SOURCE_DIR "/examples/events.jsonl");
  ASSERT_TRUE(in) << "examples/events.jsonl";
  SendReport r = SendEvents(in, *stub_, options_, nullptr);
  ASSERT_TRUE(r.failure.ok()) << r.failure;
  EXPECT_EQ(r.accepted, 28u);
  EXPECT_EQ(r.duplicates, 1u);
  EXPECT_EQ(r.rejected, 2u);
  for (const RejectedLine& rejection : r.rejections) {
    EXPECT_FALSE(rejection.local) << FormatRejection(rejection);
  }
}

}  // namespace
}  // namespace hark::cli
