#include "server/ingest/ingestor.h"

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hark/clock.h"
#include "tests/unit/ingest/fake_store.h"

namespace hark::ingest {
namespace {

using ::hark::ingest::testing::FakeStore;
using ::hark::ingest::testing::kTestTimeout;
using ::hark::v1::Event;
using ::hark::v1::EventResult;
using ::hark::v1::IdentifyUserRequest;
using ::hark::v1::IdentifyUserResponse;
using ::hark::v1::TrackEventsResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The outcome of one asynchronous call, filled in by its done callback.
template <typename Response>
struct Call {
  absl::Notification done;
  absl::StatusOr<Response> result = absl::UnknownError("not completed");
};
using TrackCall = Call<TrackEventsResponse>;
using IdentifyCall = Call<IdentifyUserResponse>;

template <typename Response>
absl::StatusOr<Response> Wait(Call<Response>& call) {
  if (!call.done.WaitForNotificationWithTimeout(kTestTimeout)) {
    return absl::DeadlineExceededError("the done callback never ran");
  }
  return call.result;
}

class IngestorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ingestor> StartIngestor() {
    absl::StatusOr<std::unique_ptr<Ingestor>> ingestor =
        Ingestor::Start(&store_, &clock_, options_);
    EXPECT_TRUE(ingestor.ok()) << ingestor.status();
    return ingestor.ok() ? *std::move(ingestor) : nullptr;
  }

  Event MakeEvent(absl::string_view id, absl::string_view user = "u1",
                  absl::string_view name = "page_view") {
    Event event;
    event.set_event_id(std::string(id));
    event.set_user_id(std::string(user));
    event.set_name(std::string(name));
    event.mutable_timestamp()->set_seconds(absl::ToUnixSeconds(clock_.Now()) -
                                           10);
    (*event.mutable_properties())["plan"].set_string_value("pro");
    return event;
  }

  Ingestor::Events Batch(std::vector<Event> events) {
    Ingestor::Events out;
    for (Event& event : events) *out.Add() = std::move(event);
    return out;
  }

  // Queues a Track call; the returned Call completes when `done` runs.
  std::shared_ptr<TrackCall> Submit(Ingestor& ingestor,
                                    const Ingestor::Events& events) {
    auto call = std::make_shared<TrackCall>();
    absl::Status status = ingestor.Track(
        events, [call](absl::StatusOr<TrackEventsResponse> result) {
          call->result = std::move(result);
          call->done.Notify();
        });
    EXPECT_TRUE(status.ok()) << status;
    if (!status.ok()) {
      call->result = status;
      call->done.Notify();
    }
    return call;
  }

  absl::StatusOr<TrackEventsResponse> TrackSync(
      Ingestor& ingestor, const Ingestor::Events& events) {
    return Wait(*Submit(ingestor, events));
  }

  std::shared_ptr<IdentifyCall> SubmitIdentify(
      Ingestor& ingestor, const IdentifyUserRequest& request) {
    auto call = std::make_shared<IdentifyCall>();
    absl::Status status = ingestor.Identify(
        request, [call](absl::StatusOr<IdentifyUserResponse> result) {
          call->result = std::move(result);
          call->done.Notify();
        });
    EXPECT_TRUE(status.ok()) << status;
    if (!status.ok()) {
      call->result = status;
      call->done.Notify();
    }
    return call;
  }

  // The statuses of `response`'s results, in order.
  static std::vector<EventResult::Status> Statuses(
      const TrackEventsResponse& response) {
    std::vector<EventResult::Status> out;
    for (const EventResult& result : response.results()) {
      out.push_back(result.status());
    }
    return out;
  }

  std::vector<std::string> StoredIds() {
    std::vector<std::string> ids;
    for (const store::EventRecord& event : store_.events()) {
      ids.push_back(event.event_id);
    }
    return ids;
  }

  FakeStore store_;
  FakeClock clock_;
  IngestOptions options_;
};

constexpr auto ACCEPTED = EventResult::ACCEPTED;
constexpr auto DUPLICATE = EventResult::DUPLICATE;
constexpr auto REJECTED = EventResult::REJECTED;

TEST_F(IngestorTest, TrackAnswersEachEventInOrderWithCounts) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  Event bad_name = MakeEvent("e2");
  bad_name.set_name("Page View");
  Event bad_id = MakeEvent("e5\xff");
  const Ingestor::Events events =
      Batch({MakeEvent("e1"), bad_name, MakeEvent("e3", "u2"), MakeEvent("e1"),
             bad_id});

  absl::StatusOr<TrackEventsResponse> response = TrackSync(*ingestor, events);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Statuses(*response),
              ElementsAre(ACCEPTED, REJECTED, ACCEPTED, DUPLICATE, REJECTED));
  EXPECT_EQ(response->accepted(), 2u);
  EXPECT_EQ(response->duplicates(), 1u);
  EXPECT_EQ(response->rejected(), 2u);
  EXPECT_EQ(response->results(0).event_id(), "e1");
  EXPECT_EQ(response->results(1).event_id(), "e2");
  EXPECT_EQ(response->results(1).error().field(), "name");
  EXPECT_THAT(response->results(1).error().reason(),
              HasSubstr("'P' at byte 0 is not allowed"));
  EXPECT_FALSE(response->results(0).has_error());
  // An id that is not UTF-8 is not echoed (the response must serialize).
  EXPECT_EQ(response->results(4).event_id(), "");
  EXPECT_EQ(response->results(4).error().field(), "event_id");

  // The duplicate within the batch is stored once.
  EXPECT_THAT(StoredIds(), ElementsAre("e1", "e3"));
  const std::vector<store::WriteBatch> batches = store_.batches();
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_THAT(batches[0].new_users, ElementsAre("u1", "u2"));
  EXPECT_EQ(batches[0].now, clock_.Now());
  const store::EventRecord& stored = batches[0].events[0];
  EXPECT_EQ(stored.user_id, "u1");
  EXPECT_EQ(stored.name, "page_view");
  EXPECT_EQ(stored.received_at, clock_.Now());
  EXPECT_EQ(stored.event_time, clock_.Now() - absl::Seconds(10));
  Event payload;
  ASSERT_TRUE(payload.ParseFromString(stored.payload));
  EXPECT_EQ(payload.SerializeAsString(), events[0].SerializeAsString());
}

TEST_F(IngestorTest, DuplicatesAcrossCallsAreStoredOnce) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("e1")})).ok());

  absl::StatusOr<TrackEventsResponse> response =
      TrackSync(*ingestor, Batch({MakeEvent("e1"), MakeEvent("e2")}));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Statuses(*response), ElementsAre(DUPLICATE, ACCEPTED));
  EXPECT_EQ(response->duplicates(), 1u);
  EXPECT_THAT(StoredIds(), ElementsAre("e1", "e2"));
  // u1 was new in the first commit only.
  const std::vector<store::WriteBatch> batches = store_.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_THAT(batches[1].new_users, IsEmpty());
}

// The commit hook sees every committed event once, with its log seq, before
// the call that carried it is answered.
TEST_F(IngestorTest, OnCommitGetsCommittedEventsWithSeqsBeforeTheAnswer) {
  struct Seen {
    std::string id;
    int64_t seq;
  };
  absl::Mutex mu;
  std::vector<Seen> seen;
  options_.on_commit = [&](store::WriteBatch&& batch,
                           const store::WriteResult& result) {
    absl::MutexLock lock(&mu);
    int64_t seq = result.first_event_seq;
    for (const store::EventRecord& e : batch.events) {
      seen.push_back({e.event_id, seq++});
    }
    EXPECT_EQ(seq - 1, result.last_event_seq);
  };
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  ASSERT_TRUE(
      TrackSync(*ingestor, Batch({MakeEvent("e1"), MakeEvent("e2")})).ok());
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(seen.size(), 2u);
  }
  // A duplicate and a rejected event are not handed on.
  Event bad = MakeEvent("e4");
  bad.set_name("Bad");
  ASSERT_TRUE(
      TrackSync(*ingestor, Batch({MakeEvent("e1"), MakeEvent("e3"), bad}))
          .ok());
  absl::MutexLock lock(&mu);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].id, "e1");
  EXPECT_EQ(seen[0].seq, 1);
  EXPECT_EQ(seen[1].seq, 2);
  EXPECT_EQ(seen[2].id, "e3");
  EXPECT_EQ(seen[2].seq, 3);
}

TEST_F(IngestorTest, RestartStillReportsDuplicates) {
  {
    auto ingestor = StartIngestor();
    ASSERT_NE(ingestor, nullptr);
    ASSERT_TRUE(
        TrackSync(*ingestor, Batch({MakeEvent("e1"), MakeEvent("e2")})).ok());
  }
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  EXPECT_EQ(ingestor->stats().dedup_size, 2u);
  absl::StatusOr<TrackEventsResponse> response =
      TrackSync(*ingestor, Batch({MakeEvent("e2"), MakeEvent("e3")}));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Statuses(*response), ElementsAre(DUPLICATE, ACCEPTED));
  EXPECT_THAT(StoredIds(), ElementsAre("e1", "e2", "e3"));
  // The known users were rebuilt too.
  EXPECT_THAT(store_.batches().back().new_users, IsEmpty());
}

TEST_F(IngestorTest, DuplicateWindowIsBounded) {
  options_.dedup_window = 2;
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent(id)})).ok());
  }
  absl::StatusOr<TrackEventsResponse> response =
      TrackSync(*ingestor, Batch({MakeEvent("c"), MakeEvent("a")}));
  ASSERT_TRUE(response.ok()) << response.status();
  // "a" fell out of the window of the 2 most recent ids and is stored again.
  EXPECT_THAT(Statuses(*response), ElementsAre(DUPLICATE, ACCEPTED));
  EXPECT_EQ(ingestor->stats().dedup_size, 2u);
  EXPECT_EQ(ingestor->stats().dedup_capacity, 2u);
}

TEST_F(IngestorTest, RestartRebuildsOnlyTheWindow) {
  options_.dedup_window = 2;
  {
    auto ingestor = StartIngestor();
    ASSERT_NE(ingestor, nullptr);
    ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("a"), MakeEvent("b"),
                                            MakeEvent("c")}))
                    .ok());
  }
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  absl::StatusOr<TrackEventsResponse> response = TrackSync(
      *ingestor, Batch({MakeEvent("a"), MakeEvent("b"), MakeEvent("c")}));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Statuses(*response), ElementsAre(ACCEPTED, DUPLICATE, DUPLICATE));
}

TEST_F(IngestorTest, RejectsBadBatchesWithoutCallingDone) {
  options_.max_batch_events = 3;
  options_.max_batch_bytes = 1000;
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  bool called = false;
  auto done = [&called](absl::StatusOr<TrackEventsResponse>) { called = true; };

  absl::Status status = ingestor->Track(Ingestor::Events(), done);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("empty; send 1 to 3 events"));

  status = ingestor->Track(
      Batch({MakeEvent("a"), MakeEvent("b"), MakeEvent("c"), MakeEvent("d")}),
      done);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("has 4 events; the limit is 3"));

  Event big = MakeEvent("big");
  (*big.mutable_properties())["note"].set_string_value(std::string(2000, 'x'));
  status = ingestor->Track(Batch({big}), done);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("the limit is 1000 bytes"));

  ingestor->Shutdown();
  EXPECT_FALSE(called);
  EXPECT_THAT(store_.batches(), IsEmpty());
}

TEST_F(IngestorTest, FullQueueAnswersResourceExhaustedUntilDrained) {
  options_.queue_capacity_events = 4;
  options_.max_batch_events = 2;
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);

  store_.HoldWrites();
  auto first = Submit(*ingestor, Batch({MakeEvent("a1"), MakeEvent("a2")}));
  // The writer has taken the first call and waits inside Write(); the queue
  // is empty again.
  ASSERT_TRUE(store_.WaitForWritesEntered(1));
  EXPECT_EQ(ingestor->stats().queue_depth_events, 0u);
  auto second = Submit(*ingestor, Batch({MakeEvent("b1"), MakeEvent("b2")}));
  auto third = Submit(*ingestor, Batch({MakeEvent("c1"), MakeEvent("c2")}));
  EXPECT_EQ(ingestor->stats().queue_depth_events, 4u);

  bool called = false;
  absl::Status status = ingestor->Track(
      Batch({MakeEvent("d1")}),
      [&called](absl::StatusOr<TrackEventsResponse>) { called = true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("4 of 4 events waiting"));
  EXPECT_EQ(ingestor->stats().queue_full_rejections, 1u);

  absl::Notification space;
  ingestor->NotifyWhenSpace([&space] { space.Notify(); });
  EXPECT_FALSE(space.HasBeenNotified());

  store_.ReleaseWrites();
  EXPECT_TRUE(space.WaitForNotificationWithTimeout(kTestTimeout));
  for (auto* call : {first.get(), second.get(), third.get()}) {
    absl::StatusOr<TrackEventsResponse> response = Wait(*call);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->accepted(), 2u);
  }
  // The two queued calls were committed together.
  EXPECT_EQ(store_.batches().size(), 2u);
  EXPECT_EQ(ingestor->stats().queue_depth_events, 0u);

  // With room, NotifyWhenSpace runs the callback at once, on this thread.
  bool ready = false;
  ingestor->NotifyWhenSpace([&ready] { ready = true; });
  EXPECT_TRUE(ready);
  ingestor->Shutdown();
  EXPECT_FALSE(called);
}

TEST_F(IngestorTest, EmptyQueueAdmitsCallLargerThanCapacity) {
  options_.queue_capacity_events = 1;
  options_.max_batch_events = 3;
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  store_.HoldWrites();
  auto first = Submit(*ingestor, Batch({MakeEvent("a")}));
  ASSERT_TRUE(store_.WaitForWritesEntered(1));
  auto second = Submit(*ingestor,
                       Batch({MakeEvent("b"), MakeEvent("c"), MakeEvent("d")}));
  absl::Status status = ingestor->Track(
      Batch({MakeEvent("e")}), [](absl::StatusOr<TrackEventsResponse>) {});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  store_.ReleaseWrites();
  ASSERT_TRUE(Wait(*first).ok());
  absl::StatusOr<TrackEventsResponse> response = Wait(*second);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->accepted(), 3u);
}

TEST_F(IngestorTest, FailedCommitReportsErrorAndForgetsIds) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  store_.FailWrites(1, absl::UnavailableError("disk I/O error"));
  absl::StatusOr<TrackEventsResponse> response =
      TrackSync(*ingestor, Batch({MakeEvent("e1"), MakeEvent("e2")}));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(), HasSubstr("disk I/O error"));
  EXPECT_THAT(response.status().message(), HasSubstr("event log"));
  EXPECT_THAT(store_.events(), IsEmpty());

  // The retry is not a duplicate, and the user is still new.
  response = TrackSync(*ingestor, Batch({MakeEvent("e1"), MakeEvent("e2")}));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Statuses(*response), ElementsAre(ACCEPTED, ACCEPTED));
  EXPECT_THAT(StoredIds(), ElementsAre("e1", "e2"));
  EXPECT_THAT(store_.batches().back().new_users, ElementsAre("u1"));
  EXPECT_EQ(ingestor->stats().accepted, 2u);
}

TEST_F(IngestorTest, NonTransientCommitFailureIsInternal) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  store_.FailWrites(1, absl::DataLossError("database disk image is malformed"));
  absl::StatusOr<TrackEventsResponse> response =
      TrackSync(*ingestor, Batch({MakeEvent("e1")}));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(response.status().message(), HasSubstr("malformed"));
}

TEST_F(IngestorTest, GroupFailureIsSharedByItsCalls) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  store_.HoldWrites();
  auto first = Submit(*ingestor, Batch({MakeEvent("a")}));
  ASSERT_TRUE(store_.WaitForWritesEntered(1));
  auto second = Submit(*ingestor, Batch({MakeEvent("b")}));
  IdentifyUserRequest request;
  request.set_user_id("u9");
  (*request.mutable_traits())["plan"].set_string_value("pro");
  auto identify = SubmitIdentify(*ingestor, request);
  // The held Write() checks for failures after the latch: the first write
  // and the next one (the group of `second` and `identify`) both fail.
  store_.FailWrites(2, absl::UnavailableError("database is locked"));
  store_.ReleaseWrites();
  EXPECT_EQ(Wait(*first).status().code(), absl::StatusCode::kUnavailable);
  absl::StatusOr<TrackEventsResponse> second_result = Wait(*second);
  absl::StatusOr<IdentifyUserResponse> identify_result = Wait(*identify);
  EXPECT_EQ(second_result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(identify_result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(identify_result.status().message(),
              HasSubstr("database is locked"));
  EXPECT_THAT(store_.batches(), IsEmpty());
  EXPECT_EQ(ingestor->stats().accepted, 0u);
}

TEST_F(IngestorTest, CompletionsFollowSubmissionOrder) {
  options_.max_batch_events = 5;
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  absl::Mutex mu;
  std::vector<int> order;
  auto record = [&mu, &order](int i) {
    absl::MutexLock lock(&mu);
    order.push_back(i);
  };

  store_.HoldWrites();
  constexpr int kCalls = 30;
  std::vector<std::shared_ptr<absl::Notification>> done;
  for (int i = 0; i < kCalls; ++i) {
    auto notification = std::make_shared<absl::Notification>();
    done.push_back(notification);
    absl::Status status;
    if (i % 5 == 3) {
      IdentifyUserRequest request;
      request.set_user_id(absl::StrCat("user-", i));
      (*request.mutable_traits())["n"].set_number_value(i);
      status = ingestor->Identify(
          request, [=](absl::StatusOr<IdentifyUserResponse> result) {
            EXPECT_TRUE(result.ok());
            record(i);
            notification->Notify();
          });
    } else {
      Event event = MakeEvent(absl::StrCat("e", i));
      // Every fourth call has no valid event at all; it still completes in
      // its turn.
      if (i % 4 == 2) event.clear_timestamp();
      status = ingestor->Track(Batch({event}),
                               [=](absl::StatusOr<TrackEventsResponse> result) {
                                 EXPECT_TRUE(result.ok());
                                 record(i);
                                 notification->Notify();
                               });
    }
    ASSERT_TRUE(status.ok()) << status;
    if (i == 0) {
      ASSERT_TRUE(store_.WaitForWritesEntered(1));
    }
  }
  store_.ReleaseWrites();
  for (auto& notification : done) {
    ASSERT_TRUE(notification->WaitForNotificationWithTimeout(kTestTimeout));
  }
  std::vector<int> expected;
  for (int i = 0; i < kCalls; ++i) expected.push_back(i);
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, expected);
  // One transaction for the first call, one for the 29 queued behind it.
  EXPECT_EQ(store_.batches().size(), 2u);
}

TEST_F(IngestorTest, GroupCommitRespectsMaxCommitEvents) {
  options_.max_commit_events = 3;
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  store_.HoldWrites();
  auto a = Submit(*ingestor, Batch({MakeEvent("a")}));
  ASSERT_TRUE(store_.WaitForWritesEntered(1));
  auto b = Submit(*ingestor, Batch({MakeEvent("b1"), MakeEvent("b2")}));
  auto c = Submit(*ingestor, Batch({MakeEvent("c1"), MakeEvent("c2")}));
  auto d = Submit(*ingestor, Batch({MakeEvent("d")}));
  // A call larger than max_commit_events is committed alone.
  auto e = Submit(*ingestor, Batch({MakeEvent("e1"), MakeEvent("e2"),
                                    MakeEvent("e3"), MakeEvent("e4")}));
  store_.ReleaseWrites();
  for (auto* call : {a.get(), b.get(), c.get(), d.get(), e.get()}) {
    ASSERT_TRUE(Wait(*call).ok());
  }
  std::vector<size_t> sizes;
  for (const store::WriteBatch& batch : store_.batches()) {
    sizes.push_back(batch.events.size());
  }
  EXPECT_THAT(sizes, ElementsAre(1, 2, 3, 4));
}

TEST_F(IngestorTest, ShutdownCommitsQueuedCallsThenRefuses) {
  options_.queue_capacity_events = 2;
  options_.max_batch_events = 1;
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  store_.HoldWrites();
  auto a = Submit(*ingestor, Batch({MakeEvent("a")}));
  ASSERT_TRUE(store_.WaitForWritesEntered(1));
  auto b = Submit(*ingestor, Batch({MakeEvent("b")}));
  auto c = Submit(*ingestor, Batch({MakeEvent("c")}));
  absl::Notification space;
  ingestor->NotifyWhenSpace([&space] { space.Notify(); });
  EXPECT_FALSE(space.HasBeenNotified());

  std::thread shutdown([&ingestor] { ingestor->Shutdown(); });
  store_.ReleaseWrites();
  shutdown.join();

  // Shutdown() returned only after every queued call was committed.
  for (auto* call : {a.get(), b.get(), c.get()}) {
    ASSERT_TRUE(call->done.HasBeenNotified());
    ASSERT_TRUE(call->result.ok()) << call->result.status();
  }
  EXPECT_TRUE(space.HasBeenNotified());
  EXPECT_THAT(StoredIds(), ElementsAre("a", "b", "c"));

  bool called = false;
  absl::Status status = ingestor->Track(
      Batch({MakeEvent("d")}),
      [&called](absl::StatusOr<TrackEventsResponse>) { called = true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  IdentifyUserRequest request;
  request.set_user_id("u1");
  (*request.mutable_traits())["plan"].set_string_value("pro");
  status = ingestor->Identify(
      request,
      [&called](absl::StatusOr<IdentifyUserResponse>) { called = true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  bool ready = false;
  ingestor->NotifyWhenSpace([&ready] { ready = true; });
  EXPECT_TRUE(ready);
  ingestor->Shutdown();  // idempotent
  EXPECT_FALSE(called);
}

TEST_F(IngestorTest, DestructorDrainsQueue) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  store_.HoldWrites();
  auto a = Submit(*ingestor, Batch({MakeEvent("a")}));
  ASSERT_TRUE(store_.WaitForWritesEntered(1));
  auto b = Submit(*ingestor, Batch({MakeEvent("b")}));
  store_.ReleaseWrites();
  ingestor.reset();
  EXPECT_TRUE(a->done.HasBeenNotified());
  EXPECT_TRUE(b->done.HasBeenNotified());
  EXPECT_THAT(StoredIds(), ElementsAre("a", "b"));
}

TEST_F(IngestorTest, ShutdownFromCallbackDoesNotDeadlock) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  absl::Notification done;
  Ingestor* raw = ingestor.get();
  ASSERT_TRUE(ingestor
                  ->Track(Batch({MakeEvent("a")}),
                          [raw, &done](absl::StatusOr<TrackEventsResponse>) {
                            raw->Shutdown();
                            done.Notify();
                          })
                  .ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kTestTimeout));
  EXPECT_EQ(ingestor
                ->Track(Batch({MakeEvent("b")}),
                        [](absl::StatusOr<TrackEventsResponse>) {})
                .code(),
            absl::StatusCode::kUnavailable);
  ingestor.reset();  // joins the writer
}

TEST_F(IngestorTest, FutureLimitUsesTheInjectedClock) {
  options_.max_future = absl::Minutes(5);
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  Event event = MakeEvent("e1");
  event.mutable_timestamp()->set_seconds(absl::ToUnixSeconds(clock_.Now()) +
                                         600);
  absl::StatusOr<TrackEventsResponse> response =
      TrackSync(*ingestor, Batch({event}));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Statuses(*response), ElementsAre(REJECTED));
  EXPECT_EQ(response->results(0).error().field(), "timestamp");
  EXPECT_THAT(response->results(0).error().reason(),
              HasSubstr("10m ahead of the server clock"));

  clock_.Advance(absl::Minutes(6));
  response = TrackSync(*ingestor, Batch({event}));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Statuses(*response), ElementsAre(ACCEPTED));
}

TEST_F(IngestorTest, IdentifyValidatesAndWritesTraits) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);

  IdentifyUserRequest bad;
  bad.set_user_id("u1");
  (*bad.mutable_traits())["tz"].set_string_value("Europe/\xff");
  bool called = false;
  absl::Status status = ingestor->Identify(
      bad, [&called](absl::StatusOr<IdentifyUserResponse>) { called = true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("traits[\"tz\"].string_value: is not valid UTF-8"));

  IdentifyUserRequest request;
  request.set_user_id("u1");
  (*request.mutable_traits())["tz"].set_string_value("Europe/Berlin");
  (*request.mutable_traits())["plan"].set_string_value("pro");
  absl::StatusOr<IdentifyUserResponse> response =
      Wait(*SubmitIdentify(*ingestor, request));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->traits_set(), 2u);
  EXPECT_EQ(response->set_at().seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(response->set_at().nanos(), 0);

  const std::vector<store::TraitRecord> traits = store_.traits();
  ASSERT_EQ(traits.size(), 2u);
  EXPECT_EQ(traits[0].key, "plan");  // sorted by key
  EXPECT_EQ(traits[1].key, "tz");
  EXPECT_EQ(traits[1].user_id, "u1");
  EXPECT_EQ(traits[1].set_at, clock_.Now());
  hark::v1::Value value;
  ASSERT_TRUE(value.ParseFromString(traits[1].value));
  EXPECT_EQ(value.string_value(), "Europe/Berlin");
  EXPECT_THAT(store_.users(), ElementsAre("u1"));

  // The user is known now: neither a second Identify nor an event adds it.
  clock_.Advance(absl::Milliseconds(1500));
  response = Wait(*SubmitIdentify(*ingestor, request));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->set_at().nanos(), 500000000);
  ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("e1", "u1")})).ok());
  EXPECT_THAT(store_.users(), ElementsAre("u1"));
  ingestor->Shutdown();
  EXPECT_FALSE(called);
}

// After Admin.DeleteUser removed the user row, the user's next event or
// trait inserts it again; other users stay known.
TEST_F(IngestorTest, ForgetUserLetsTheNextEventAddTheUserAgain) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  ASSERT_TRUE(TrackSync(*ingestor,
                        Batch({MakeEvent("e1", "u1"), MakeEvent("e2", "u2")}))
                  .ok());
  EXPECT_THAT(store_.users(), ElementsAre("u1", "u2"));

  store_.RemoveUser("u1");
  ingestor->ForgetUser("u1");
  ingestor->ForgetUser("never-seen");
  ASSERT_TRUE(TrackSync(*ingestor,
                        Batch({MakeEvent("e3", "u2"), MakeEvent("e4", "u1")}))
                  .ok());
  EXPECT_THAT(store_.batches().back().new_users, ElementsAre("u1"));
  EXPECT_THAT(store_.users(), ElementsAre("u2", "u1"));

  // Known again: the next event does not add it twice.
  ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("e5", "u1")})).ok());
  EXPECT_THAT(store_.batches().back().new_users, IsEmpty());

  // An event id stored before the deletion stays a duplicate: a client's
  // retry does not bring the deleted event back.
  store_.RemoveUser("u1");
  ingestor->ForgetUser("u1");
  absl::StatusOr<TrackEventsResponse> retry =
      TrackSync(*ingestor, Batch({MakeEvent("e4", "u1")}));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_THAT(Statuses(*retry), ElementsAre(DUPLICATE));
  EXPECT_THAT(store_.users(), ElementsAre("u2"));

  // A trait re-creates the user as well.
  IdentifyUserRequest request;
  request.set_user_id("u1");
  (*request.mutable_traits())["plan"].set_string_value("pro");
  ASSERT_TRUE(Wait(*SubmitIdentify(*ingestor, request)).ok());
  EXPECT_THAT(store_.batches().back().new_users, ElementsAre("u1"));
  EXPECT_THAT(store_.users(), ElementsAre("u2", "u1"));
}

TEST_F(IngestorTest, ForgetUserForgetsUsersLoadedAtStart) {
  {
    auto ingestor = StartIngestor();
    ASSERT_NE(ingestor, nullptr);
    ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("e1", "u1")})).ok());
  }
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  store_.RemoveUser("u1");
  ingestor->ForgetUser("u1");
  ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("e2", "u1")})).ok());
  EXPECT_THAT(store_.batches().back().new_users, ElementsAre("u1"));
}

// Calls already waiting in the queue when ForgetUser() returns see the user
// as new; the group being committed meanwhile is not affected.
TEST_F(IngestorTest, ForgetUserAppliesToCallsAlreadyQueued) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("e1", "u1")})).ok());

  store_.HoldWrites();
  auto in_flight = Submit(*ingestor, Batch({MakeEvent("e2", "u1")}));
  ASSERT_TRUE(store_.WaitForWritesEntered(2));
  auto queued = Submit(*ingestor, Batch({MakeEvent("e3", "u1")}));
  store_.RemoveUser("u1");
  ingestor->ForgetUser("u1");
  store_.ReleaseWrites();
  ASSERT_TRUE(Wait(*in_flight).ok());
  ASSERT_TRUE(Wait(*queued).ok());
  const std::vector<store::WriteBatch> batches = store_.batches();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_THAT(batches[1].new_users, IsEmpty());
  EXPECT_THAT(batches[2].new_users, ElementsAre("u1"));
}

TEST_F(IngestorTest, ForgetUserIsSafeFromOtherThreadsDuringCommits) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  std::thread forgetter([&ingestor] {
    for (int i = 0; i < 2000; ++i)
      ingestor->ForgetUser(absl::StrCat("u", i % 7));
  });
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(
        TrackSync(*ingestor, Batch({MakeEvent(absl::StrCat("e", i),
                                              absl::StrCat("u", i % 7))}))
            .ok());
  }
  forgetter.join();
  ingestor->ForgetUser("u3");
  ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("last", "u3")})).ok());
  EXPECT_THAT(store_.batches().back().new_users, ElementsAre("u3"));
}

TEST_F(IngestorTest, CallsWithOnlyRejectedEventsWriteNothing) {
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  Event bad = MakeEvent("");
  absl::StatusOr<TrackEventsResponse> response =
      TrackSync(*ingestor, Batch({bad}));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_THAT(Statuses(*response), ElementsAre(REJECTED));
  EXPECT_EQ(response->rejected(), 1u);
  EXPECT_THAT(store_.batches(), IsEmpty());
}

TEST_F(IngestorTest, StatsCountDeliveredResults) {
  options_.queue_capacity_events = 77;
  options_.dedup_window = 1000;
  auto ingestor = StartIngestor();
  ASSERT_NE(ingestor, nullptr);
  Event bad = MakeEvent("x");
  bad.set_user_id("");
  ASSERT_TRUE(TrackSync(*ingestor, Batch({MakeEvent("a"), MakeEvent("a"),
                                          MakeEvent("b"), bad}))
                  .ok());
  const IngestStats stats = ingestor->stats();
  EXPECT_EQ(stats.accepted, 2u);
  EXPECT_EQ(stats.duplicates, 1u);
  EXPECT_EQ(stats.rejected, 1u);
  EXPECT_EQ(stats.queue_depth_events, 0u);
  EXPECT_EQ(stats.queue_capacity_events, 77u);
  EXPECT_EQ(stats.queue_full_rejections, 0u);
  EXPECT_EQ(stats.dedup_size, 2u);
  EXPECT_EQ(stats.dedup_capacity, 1000u);
}

TEST_F(IngestorTest, StartFailsWhenTheStoreCannotBeScanned) {
  store_.FailScans(absl::InternalError("no such table: events"));
  absl::StatusOr<std::unique_ptr<Ingestor>> ingestor =
      Ingestor::Start(&store_, &clock_, options_);
  EXPECT_EQ(ingestor.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(ingestor.status().message(),
              HasSubstr("rebuilding the duplicate window"));
  EXPECT_THAT(ingestor.status().message(), HasSubstr("no such table"));
}

TEST_F(IngestorTest, StartRejectsBadOptions) {
  options_.queue_capacity_events = 0;
  EXPECT_EQ(Ingestor::Start(&store_, &clock_, options_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options_ = IngestOptions();
  EXPECT_EQ(Ingestor::Start(nullptr, &clock_, options_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hark::ingest
