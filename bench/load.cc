#include "bench/load.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "hark/v1/ingest.grpc.pb.h"

namespace hark::bench {
namespace {

using Clock = std::chrono::steady_clock;
using hark::v1::EventResult;

// After this many failed calls or broken streams the run stops early: the
// server is gone or refusing, and waiting out every call's deadline would
// only hide that.
constexpr uint64_t kMaxFailures = 20;
constexpr size_t kMaxErrorSamples = 10;

// What one caller thread counts; merged after the threads are joined so the
// hot path takes no lock.
struct Counters {
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  uint64_t unanswered = 0;
  uint64_t protocol_errors = 0;
  uint64_t retries = 0;
  std::vector<double> latencies_ms;
};

// State shared by the callers of one run. Thread-safe.
class Shared {
 public:
  // Keeps the first few messages; all are counted by the caller.
  void Sample(std::string message) {
    absl::MutexLock lock(&mu_);
    if (samples_.size() < kMaxErrorSamples) {
      samples_.push_back(std::move(message));
    }
  }
  std::vector<std::string> TakeSamples() {
    absl::MutexLock lock(&mu_);
    return std::move(samples_);
  }
  // Counts a failed call or stream; true once the run should stop.
  bool Fail() { return failures_.fetch_add(1) + 1 >= kMaxFailures; }
  bool stopping() const { return failures_.load() >= kMaxFailures; }

  std::atomic<uint64_t> acked_events{0};

 private:
  absl::Mutex mu_;
  std::vector<std::string> samples_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> failures_{0};
};

absl::StatusOr<std::vector<std::shared_ptr<grpc::Channel>>> ConnectChannels(
    const LoadOptions& options, size_t n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (size_t i = 0; i < n; ++i) {
    channels.push_back(NewChannel(options.address));
    if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() +
                                           std::chrono::seconds(10))) {
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", options.address, " within 10 s"));
    }
  }
  return channels;
}

void AddAuth(const LoadOptions& options, grpc::ClientContext& context) {
  context.AddMetadata("authorization", "Bearer " + options.key);
}

std::string GrpcStatusText(const grpc::Status& status) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  const char* name = code >= 0 && code < 17 ? kNames[code] : "?";
  return absl::StrCat(name, ": ", status.error_message());
}

// Counts the per-event results of one answered batch and checks them
// against the batch: one result per event, in order, with counts that
// agree. Returns the number of ACCEPTED events.
uint64_t CountResults(
    absl::string_view what,
    const google::protobuf::RepeatedPtrField<hark::v1::Event>& events,
    const google::protobuf::RepeatedPtrField<EventResult>& results,
    uint32_t accepted, uint32_t duplicates, uint32_t rejected, Counters& c,
    Shared& shared) {
  if (results.size() != events.size()) {
    ++c.protocol_errors;
    c.unanswered += static_cast<uint64_t>(events.size());
    shared.Sample(absl::StrCat(what, ": ", results.size(), " results for ",
                               events.size(), " events"));
    return 0;
  }
  uint32_t counts[4] = {0, 0, 0, 0};
  for (int i = 0; i < results.size(); ++i) {
    const EventResult& r = results[i];
    if (r.event_id() != events[i].event_id()) {
      ++c.protocol_errors;
      shared.Sample(absl::StrCat(what, ": result ", i, " is for event '",
                                 r.event_id(), "', expected '",
                                 events[i].event_id(), "'"));
    }
    switch (r.status()) {
      case EventResult::ACCEPTED:
        ++counts[1];
        break;
      case EventResult::DUPLICATE:
        ++counts[2];
        shared.Sample(
            absl::StrCat(what, ": event ", r.event_id(), " DUPLICATE"));
        break;
      case EventResult::REJECTED:
        ++counts[3];
        shared.Sample(absl::StrCat(what, ": event ", r.event_id(),
                                   " REJECTED: ", r.error().field(), ": ",
                                   r.error().reason()));
        break;
      default:
        ++counts[0];
        shared.Sample(absl::StrCat(what, ": event ", r.event_id(),
                                   " has status ",
                                   static_cast<int>(r.status())));
        break;
    }
  }
  c.accepted += counts[1];
  c.duplicates += counts[2];
  c.rejected += counts[3];
  // A result without a status got no real answer.
  c.unanswered += counts[0];
  if (accepted != counts[1] || duplicates != counts[2] ||
      rejected != counts[3]) {
    ++c.protocol_errors;
    shared.Sample(absl::StrCat(what, ": counts accepted/duplicates/rejected ",
                               accepted, "/", duplicates, "/", rejected,
                               " disagree with the results (", counts[1], "/",
                               counts[2], "/", counts[3], ")"));
  }
  return counts[1];
}

// Redraws "<mode> <acked>/<total> events acked, <rate>/s" on stderr until
// destroyed, then clears the line.
class ProgressLine {
 public:
  ProgressLine(bool enabled, std::string mode, uint64_t total,
               const std::atomic<uint64_t>& acked)
      : enabled_(enabled),
        mode_(std::move(mode)),
        total_(total),
        acked_(acked) {
    if (enabled_) thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressLine() {
    if (!enabled_) return;
    done_.Notify();
    thread_.join();
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  void Loop() {
    const absl::Time start = absl::Now();
    while (!done_.WaitForNotificationWithTimeout(absl::Milliseconds(250))) {
      const uint64_t acked = acked_.load();
      const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
      std::fprintf(stderr, "\r\033[K%s: %llu/%llu events acked, %.0f/s",
                   mode_.c_str(), static_cast<unsigned long long>(acked),
                   static_cast<unsigned long long>(total_),
                   seconds > 0 ? static_cast<double>(acked) / seconds : 0.0);
      std::fflush(stderr);
    }
  }

  const bool enabled_;
  const std::string mode_;
  const uint64_t total_;
  const std::atomic<uint64_t>& acked_;
  absl::Notification done_;
  std::thread thread_;
};

// Wall time of a timed section, and its part spent in wait_processed.
struct Timed {
  absl::Duration elapsed;
  std::optional<absl::Duration> processed_wait;
  absl::Status processed;
};

// Runs `body(i)` on `n` threads; times the section between all threads being
// ready (each calls ready.DecrementCount() then waits for `go`) and all of
// them returning, plus options.wait_processed.
template <typename Body>
Timed RunTimed(const LoadOptions& options, const std::string& mode,
               uint64_t total, Shared& shared, size_t n, Body body) {
  absl::BlockingCounter ready(static_cast<int>(n));
  absl::Notification go;
  std::vector<std::thread> threads;
  for (size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] { body(i, ready, go); });
  }
  ready.Wait();
  if (options.on_start) options.on_start();
  const absl::Time start = absl::Now();
  go.Notify();
  {
    ProgressLine progress(options.progress, mode, total, shared.acked_events);
    for (std::thread& t : threads) t.join();
  }
  Timed timed;
  if (options.wait_processed) {
    const absl::Time answered = absl::Now();
    timed.processed = options.wait_processed();
    timed.processed_wait = absl::Now() - answered;
  }
  timed.elapsed = absl::Now() - start;
  if (options.on_stop) options.on_stop();
  return timed;
}

LoadResult Merge(std::string mode, uint64_t events, const Timed& timed,
                 std::vector<Counters>& counters, Shared& shared) {
  LoadResult result;
  result.mode = std::move(mode);
  result.events = events;
  result.elapsed = timed.elapsed;
  result.processed_wait = timed.processed_wait;
  for (Counters& c : counters) {
    result.accepted += c.accepted;
    result.duplicates += c.duplicates;
    result.rejected += c.rejected;
    result.unanswered += c.unanswered;
    result.protocol_errors += c.protocol_errors;
    result.retries += c.retries;
    result.latencies_ms.insert(result.latencies_ms.end(),
                               c.latencies_ms.begin(), c.latencies_ms.end());
  }
  std::sort(result.latencies_ms.begin(), result.latencies_ms.end());
  result.error_samples = shared.TakeSamples();
  if (!timed.processed.ok()) {
    ++result.protocol_errors;
    result.error_samples.push_back(
        absl::StrCat("waiting for the server to process what it "
                     "acknowledged: ",
                     timed.processed.ToString()));
  }
  return result;
}

uint64_t CountEvents(const std::vector<hark::v1::EventBatch>& batches,
                     size_t from) {
  uint64_t n = 0;
  for (size_t i = from; i < batches.size(); ++i) n += batches[i].events_size();
  return n;
}

}  // namespace

double LoadResult::events_per_second() const {
  const double seconds = absl::ToDoubleSeconds(elapsed);
  return seconds > 0 ? static_cast<double>(accepted) / seconds : 0;
}

double LoadResult::LatencyPercentile(double p) const {
  return Percentile(latencies_ms, p);
}

absl::StatusOr<LoadResult> RunUnary(
    const LoadOptions& options,
    const std::vector<hark::v1::TrackEventsRequest>& requests) {
  auto channels = ConnectChannels(options, options.callers);
  if (!channels.ok()) return channels.status();
  uint64_t total = 0;
  for (const auto& r : requests) total += r.events_size();

  Shared shared;
  std::vector<Counters> counters(options.callers);
  std::atomic<size_t> next{0};
  // Events before request i, for pacing.
  std::vector<uint64_t> offsets;
  if (options.max_events_per_second > 0) {
    offsets.reserve(requests.size());
    uint64_t before = 0;
    for (const auto& r : requests) {
      offsets.push_back(before);
      before += r.events_size();
    }
  }
  // Set right before the callers are let go (RunTimed calls on_start
  // before it notifies them, which orders this write before their reads).
  Clock::time_point paced_start;
  LoadOptions timed = options;
  timed.on_start = [&] {
    if (options.on_start) options.on_start();
    paced_start = Clock::now();
  };
  const Timed timed_section = RunTimed(
      timed, "unary", total, shared, options.callers,
      [&](size_t caller, absl::BlockingCounter& ready, absl::Notification& go) {
        Counters& c = counters[caller];
        c.latencies_ms.reserve(requests.size() / options.callers + 1);
        auto stub = hark::v1::Ingest::NewStub((*channels)[caller]);
        hark::v1::TrackEventsResponse response;
        ready.DecrementCount();
        go.WaitForNotification();
        for (;;) {
          if (options.stop != nullptr && options.stop->load()) break;
          const size_t i = next.fetch_add(1);
          if (i >= requests.size()) break;
          const hark::v1::TrackEventsRequest& request = requests[i];
          if (shared.stopping()) {
            c.unanswered += request.events_size();
            continue;
          }
          if (!offsets.empty()) {
            const Clock::time_point due =
                paced_start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(
                                      static_cast<double>(offsets[i]) /
                                      options.max_events_per_second));
            std::this_thread::sleep_until(due);
            if (options.stop != nullptr && options.stop->load()) break;
          }
          const Clock::time_point sent = Clock::now();
          absl::Duration backoff = absl::Milliseconds(1);
          grpc::Status status;
          for (;;) {
            grpc::ClientContext context;
            AddAuth(options, context);
            context.set_deadline(
                std::chrono::system_clock::now() +
                absl::ToChronoMilliseconds(options.call_deadline));
            response.Clear();
            status = stub->TrackEvents(&context, request, &response);
            if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
              break;
            }
            // The server's write queue is full: back off and resend, which
            // event ids make safe.
            ++c.retries;
            absl::SleepFor(backoff);
            backoff = std::min(backoff * 2, absl::Milliseconds(100));
          }
          const Clock::time_point answered = Clock::now();
          if (!status.ok()) {
            c.unanswered += request.events_size();
            shared.Sample(absl::StrCat("TrackEvents call ", i,
                                       " failed: ", GrpcStatusText(status)));
            shared.Fail();
            continue;
          }
          c.latencies_ms.push_back(Millis(answered - sent));
          shared.acked_events.fetch_add(CountResults(
              absl::StrCat("TrackEvents call ", i), request.events(),
              response.results(), response.accepted(), response.duplicates(),
              response.rejected(), c, shared));
        }
      });
  return Merge("unary", total, timed_section, counters, shared);
}

absl::StatusOr<LoadResult> RunStream(
    const LoadOptions& options,
    const std::vector<std::vector<hark::v1::EventBatch>>& batches) {
  auto channels = ConnectChannels(options, batches.size());
  if (!channels.ok()) return channels.status();
  uint64_t total = 0;
  for (const auto& stream : batches) total += CountEvents(stream, 0);
  const size_t window = std::max<size_t>(options.window, 1);

  Shared shared;
  std::vector<Counters> counters(batches.size());
  const Timed timed_section = RunTimed(
      options, "stream", total, shared, batches.size(),
      [&](size_t s, absl::BlockingCounter& ready, absl::Notification& go) {
        Counters& c = counters[s];
        const std::vector<hark::v1::EventBatch>& mine = batches[s];
        c.latencies_ms.reserve(mine.size());
        auto stub = hark::v1::Ingest::NewStub((*channels)[s]);
        grpc::ClientContext context;
        AddAuth(options, context);
        context.set_deadline(
            std::chrono::system_clock::now() +
            absl::ToChronoMilliseconds(options.stream_deadline));
        auto stream = stub->StreamEvents(&context);

        // The writer keeps at most `window` batches unacked; the reader
        // (this thread) frees a slot per ack. `sent` holds each batch's
        // Write() time for its write-to-ack latency.
        // `in_flight`, `stop` and `sent` are guarded by `mu`.
        absl::Mutex mu;
        size_t in_flight = 0;
        bool stop = false;
        std::vector<Clock::time_point> sent(mine.size());

        ready.DecrementCount();
        go.WaitForNotification();
        std::thread writer([&] {
          for (size_t i = 0; i < mine.size(); ++i) {
            {
              absl::MutexLock lock(&mu);
              auto can_send = [&] { return in_flight < window || stop; };
              mu.Await(absl::Condition(&can_send));
              if (stop) break;
              ++in_flight;
              sent[i] = Clock::now();
            }
            // False: the stream is broken; the reader sees why.
            if (!stream->Write(mine[i])) break;
          }
          stream->WritesDone();
        });

        size_t acked = 0;
        hark::v1::BatchAck ack;
        while (acked < mine.size() && stream->Read(&ack)) {
          const Clock::time_point now = Clock::now();
          const std::string what =
              absl::StrCat("stream ", s, " batch ", acked + 1);
          if (ack.sequence() != acked + 1) {
            // Acks must come in order with the batch's own sequence number;
            // after a mismatch nothing that follows can be attributed.
            ++c.protocol_errors;
            shared.Sample(absl::StrCat(what, ": ack carries sequence ",
                                       ack.sequence(), ", expected ",
                                       acked + 1));
            break;
          }
          const hark::v1::EventBatch& batch = mine[acked];
          {
            absl::MutexLock lock(&mu);
            c.latencies_ms.push_back(Millis(now - sent[acked]));
            --in_flight;
          }
          if (!ack.batch_error().empty()) {
            c.unanswered += batch.events_size();
            shared.Sample(
                absl::StrCat(what, ": batch_error: ", ack.batch_error()));
          } else {
            shared.acked_events.fetch_add(CountResults(
                what, batch.events(), ack.results(), ack.accepted(),
                ack.duplicates(), ack.rejected(), c, shared));
          }
          ++acked;
        }
        {
          absl::MutexLock lock(&mu);
          stop = true;
        }
        if (acked < mine.size()) {
          // Unblocks a writer stuck in Write() on a stream that will not
          // be read any more.
          context.TryCancel();
        }
        writer.join();
        // Drains the server's end of the stream so Finish() sees its
        // status rather than waiting for more messages.
        while (stream->Read(&ack)) {
        }
        const grpc::Status status = stream->Finish();
        if (acked < mine.size()) {
          c.unanswered += CountEvents(mine, acked);
          shared.Sample(absl::StrCat(
              "stream ", s, ": ", mine.size() - acked, " of ", mine.size(),
              " batches not acked; stream status ", GrpcStatusText(status)));
          shared.Fail();
        } else if (!status.ok()) {
          ++c.protocol_errors;
          shared.Sample(absl::StrCat("stream ", s,
                                     ": all batches acked but the stream "
                                     "ended with ",
                                     GrpcStatusText(status)));
        }
      });
  return Merge("stream", total, timed_section, counters, shared);
}

}  // namespace hark::bench
