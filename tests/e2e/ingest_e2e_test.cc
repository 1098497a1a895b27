// End-to-end: the real harkd over gRPC on loopback.

#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "hark/v1/admin.grpc.pb.h"
#include "hark/v1/ingest.grpc.pb.h"
#include "hark/v1/prompts.grpc.pb.h"
#include "hark/v1/rules.grpc.pb.h"
#include "tests/e2e/harkd_process.h"

namespace hark::testing {
namespace {

using hark::v1::Event;
using hark::v1::EventResult;

Event MakeEvent(const std::string& id, const std::string& user = "u1",
                const std::string& name = "page_view") {
  Event e;
  e.set_event_id(id);
  e.set_user_id(user);
  e.set_name(name);
  // Event time comes from the sender; "now" keeps it inside --max-future.
  e.mutable_timestamp()->set_seconds(absl::ToUnixSeconds(absl::Now()) - 60);
  (*e.mutable_properties())["plan"].set_string_value("pro");
  return e;
}

class IngestE2ETest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(harkd_.Start()) << harkd_.error(); }

  hark::v1::TrackEventsResponse Track(const std::vector<Event>& events,
                                      grpc::Status* status) {
    auto stub = hark::v1::Ingest::NewStub(harkd_.Channel());
    hark::v1::TrackEventsRequest request;
    for (const auto& e : events) *request.add_events() = e;
    hark::v1::TrackEventsResponse response;
    *status = stub->TrackEvents(HarkdProcess::Context(harkd_, "ingest").get(),
                                request, &response);
    return response;
  }

  uint64_t EventsStored() {
    auto stub = hark::v1::Admin::NewStub(harkd_.Channel());
    hark::v1::GetStatsResponse stats;
    grpc::Status status = stub->GetStats(
        HarkdProcess::Context(harkd_, "admin").get(), {}, &stats);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return stats.events_stored();
  }

  HarkdProcess harkd_;
};

TEST_F(IngestE2ETest, MixedBatchGetsPerEventResultsAndResendIsDuplicate) {
  std::vector<Event> events = {MakeEvent("e1"), MakeEvent("e2"),
                               MakeEvent("e3", "u2", "Bad Name"),
                               MakeEvent("e1"), MakeEvent("e4")};
  events[4].clear_timestamp();
  grpc::Status status;
  auto response = Track(events, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 5);
  EXPECT_EQ(response.results(0).status(), EventResult::ACCEPTED);
  EXPECT_EQ(response.results(1).status(), EventResult::ACCEPTED);
  EXPECT_EQ(response.results(2).status(), EventResult::REJECTED);
  EXPECT_EQ(response.results(2).error().field(), "name");
  EXPECT_EQ(response.results(3).status(), EventResult::DUPLICATE);
  EXPECT_EQ(response.results(4).status(), EventResult::REJECTED);
  EXPECT_EQ(response.results(4).error().field(), "timestamp");
  EXPECT_EQ(response.accepted(), 2u);
  EXPECT_EQ(response.duplicates(), 1u);
  EXPECT_EQ(response.rejected(), 2u);

  // The same batch again: every valid event is now a duplicate.
  response = Track(events, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.results(0).status(), EventResult::DUPLICATE);
  EXPECT_EQ(response.results(1).status(), EventResult::DUPLICATE);
  EXPECT_EQ(response.results(3).status(), EventResult::DUPLICATE);
  EXPECT_EQ(response.results(2).status(), EventResult::REJECTED);
  EXPECT_EQ(EventsStored(), 2u);
}

TEST_F(IngestE2ETest, StreamAcksEachBatchInOrder) {
  auto stub = hark::v1::Ingest::NewStub(harkd_.Channel());
  auto context = HarkdProcess::Context(harkd_, "ingest");
  auto stream = stub->StreamEvents(context.get());
  constexpr int kBatches = 20;
  for (int b = 1; b <= kBatches; ++b) {
    hark::v1::EventBatch batch;
    batch.set_sequence(b);
    for (int i = 0; i < 50; ++i) {
      *batch.add_events() =
          MakeEvent(absl::StrCat("s", b, "-", i), absl::StrCat("user", i % 7));
    }
    if (b == 5) batch.mutable_events(0)->set_user_id("");  // one bad event
    ASSERT_TRUE(stream->Write(batch));
  }
  // An empty batch is refused as a whole, in its place in the order.
  hark::v1::EventBatch empty;
  empty.set_sequence(kBatches + 1);
  ASSERT_TRUE(stream->Write(empty));
  stream->WritesDone();
  hark::v1::BatchAck ack;
  uint64_t expected = 1;
  uint64_t accepted = 0;
  while (stream->Read(&ack)) {
    EXPECT_EQ(ack.sequence(), expected);
    if (ack.sequence() <= kBatches) {
      EXPECT_EQ(ack.results_size(), 50);
      EXPECT_EQ(ack.rejected(), ack.sequence() == 5 ? 1u : 0u);
      accepted += ack.accepted();
    } else {
      EXPECT_FALSE(ack.batch_error().empty());
    }
    ++expected;
  }
  EXPECT_EQ(expected, kBatches + 2u);
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(accepted, kBatches * 50u - 1);
  EXPECT_EQ(EventsStored(), accepted);
}

TEST_F(IngestE2ETest, OversizedCallIsRefusedWhole) {
  std::vector<Event> events;
  for (int i = 0; i < 1001; ++i) events.push_back(MakeEvent(absl::StrCat(i)));
  grpc::Status status;
  Track(events, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("1000"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(EventsStored(), 0u);
}

// With a write queue smaller than what the client sends, the stream is
// throttled (harkd stops reading) and still acknowledges every batch once,
// in order.
TEST(IngestFlowControlE2ETest, TinyQueueThrottlesStreamWithoutLoss) {
  HarkdProcess harkd;
  ASSERT_TRUE(harkd.Start({"--queue-events=1000"})) << harkd.error();
  auto stub = hark::v1::Ingest::NewStub(harkd.Channel());
  auto context = HarkdProcess::Context(harkd, "ingest");
  auto stream = stub->StreamEvents(context.get());
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 500;
  for (int b = 1; b <= kBatches; ++b) {
    hark::v1::EventBatch batch;
    batch.set_sequence(b);
    for (int i = 0; i < kPerBatch; ++i) {
      *batch.add_events() =
          MakeEvent(absl::StrCat("f", b, "-", i), absl::StrCat("user", i % 97));
    }
    ASSERT_TRUE(stream->Write(batch));
  }
  stream->WritesDone();
  hark::v1::BatchAck ack;
  uint64_t expected = 1, accepted = 0;
  while (stream->Read(&ack)) {
    EXPECT_EQ(ack.sequence(), expected++);
    accepted += ack.accepted();
  }
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(accepted, uint64_t{kBatches * kPerBatch});

  auto admin = hark::v1::Admin::NewStub(harkd.Channel());
  hark::v1::GetStatsResponse stats;
  status =
      admin->GetStats(HarkdProcess::Context(harkd, "admin").get(), {}, &stats);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stats.events_stored(), uint64_t{kBatches * kPerBatch});
  EXPECT_EQ(stats.queue_capacity(), 1000u);
  EXPECT_EQ(stats.users(), 97u);
  // The engine's checkpoint taken at start, as written and as stored.
  ASSERT_TRUE(stats.has_engine());
  EXPECT_GE(stats.engine().checkpoints(), 1u);
  EXPECT_GT(stats.engine().checkpoint_bytes(), 0u);
  EXPECT_GT(stats.engine().checkpoint_stored_bytes(), 0u);
}

TEST_F(IngestE2ETest, KeysAndRoles) {
  auto ingest = hark::v1::Ingest::NewStub(harkd_.Channel());
  hark::v1::TrackEventsRequest request;
  *request.add_events() = MakeEvent("k1");
  hark::v1::TrackEventsResponse response;

  grpc::Status status = ingest->TrackEvents(
      HarkdProcess::Context(harkd_, "").get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  auto wrong = HarkdProcess::Context(harkd_, "");
  wrong->AddMetadata("authorization", "Bearer hark_ingest_not-a-real-key");
  status = ingest->TrackEvents(wrong.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  status = ingest->TrackEvents(HarkdProcess::Context(harkd_, "research").get(),
                               request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  status = ingest->TrackEvents(HarkdProcess::Context(harkd_, "admin").get(),
                               request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();

  auto admin = hark::v1::Admin::NewStub(harkd_.Channel());
  hark::v1::GetStatsResponse stats;
  status = admin->GetStats(HarkdProcess::Context(harkd_, "ingest").get(), {},
                           &stats);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Declared but not built yet: authenticated, then UNIMPLEMENTED by name.
  auto rules = hark::v1::Rules::NewStub(harkd_.Channel());
  hark::v1::BacktestRequest backtest;
  hark::v1::BacktestResponse backtested;
  status = rules->Backtest(HarkdProcess::Context(harkd_, "").get(), backtest,
                           &backtested);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  status = rules->Backtest(HarkdProcess::Context(harkd_, "research").get(),
                           backtest, &backtested);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_NE(status.error_message().find("Backtest"), std::string::npos);
}

TEST_F(IngestE2ETest, IdentifyUserSetsTraitsAndNamesBadFields) {
  auto stub = hark::v1::Ingest::NewStub(harkd_.Channel());
  hark::v1::IdentifyUserRequest request;
  request.set_user_id("u1");
  (*request.mutable_traits())["plan"].set_string_value("pro");
  (*request.mutable_traits())["seats"].set_number_value(12);
  hark::v1::IdentifyUserResponse response;
  grpc::Status status = stub->IdentifyUser(
      HarkdProcess::Context(harkd_, "ingest").get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.traits_set(), 2u);

  (*request.mutable_traits())["empty"];  // a value with no kind
  status = stub->IdentifyUser(HarkdProcess::Context(harkd_, "ingest").get(),
                              request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("empty"), std::string::npos)
      << status.error_message();
}

TEST_F(IngestE2ETest, AcknowledgedEventsSurviveKill9ExactlyOnce) {
  std::vector<Event> events;
  for (int i = 0; i < 300; ++i) {
    events.push_back(MakeEvent(absl::StrCat("k9-", i), absl::StrCat("u", i)));
  }
  grpc::Status status;
  auto response = Track(events, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.accepted(), 300u);

  harkd_.Kill9();
  ASSERT_TRUE(harkd_.Start()) << harkd_.error();
  EXPECT_EQ(EventsStored(), 300u);
  // The duplicate window is rebuilt from the log: a retry stores nothing.
  response = Track(events, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.duplicates(), 300u);
  EXPECT_EQ(EventsStored(), 300u);
}

TEST_F(IngestE2ETest, SigtermExitsZeroAndKeepsData) {
  grpc::Status status;
  auto response = Track({MakeEvent("t1"), MakeEvent("t2")}, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  int exit_status = harkd_.SignalAndWait(SIGTERM);
  ASSERT_TRUE(WIFEXITED(exit_status));
  EXPECT_EQ(WEXITSTATUS(exit_status), 0);
  ASSERT_TRUE(harkd_.Start()) << harkd_.error();
  EXPECT_EQ(EventsStored(), 2u);
}

TEST_F(IngestE2ETest, HealthNeedsNoKey) {
  // grpc.health.v1 messages hand-encoded to avoid depending on its protos:
  // HealthCheckRequest{service: ""} and HealthCheckResponse{status: SERVING}.
  const std::string kRequest("\x0a\x00", 2);
  const std::string kServing("\x08\x01", 2);
  grpc::Slice slice(kRequest);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::ClientContext context;
  grpc::GenericStub generic(harkd_.Channel());
  grpc::CompletionQueue cq;
  auto call = generic.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check",
                                       request, &cq);
  call->StartCall();
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string body;
  for (const auto& s : slices) body.append(s.begin(), s.end());
  EXPECT_EQ(body, kServing);
}

}  // namespace
}  // namespace hark::testing
