#ifndef HARK_BENCH_LOAD_H_
#define HARK_BENCH_LOAD_H_

// The load generators of `hark-bench ingest`: N callers, each a thread with a
// synchronous stub on its own connection, sending pre-built batches either
// as TrackEvents calls or over one StreamEvents stream per caller.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hark/v1/ingest.pb.h"

namespace hark::bench {

struct LoadOptions {
  // "host:port" of the server and the API key sent as
  // "authorization: Bearer <key>".
  std::string address;
  std::string key;
  // Concurrent callers; each has its own channel (its own TCP connection),
  // as separate product backends would.
  size_t callers = 4;
  // Stream mode: batches a stream may have written but not seen acked.
  size_t window = 8;
  // Deadline of one TrackEvents call, and of a whole stream.
  absl::Duration call_deadline = absl::Seconds(60);
  absl::Duration stream_deadline = absl::Minutes(30);
  // Redraws a one-line progress report on stderr while the load runs.
  bool progress = false;
  // Called on the coordinating thread right before the timed section starts
  // (all channels connected, all caller threads ready) and right after it
  // ends; used to sample CPU counters over exactly the timed section.
  std::function<void()> on_start;
  std::function<void()> on_stop;
  // Called on the coordinating thread once every caller is done, inside the
  // timed section (before on_stop): waits until the server has also done
  // the work it defers past the acknowledgement (harkd: its engine has
  // matched every acknowledged event and stored the matches), so that work
  // is timed too and none of it spills into the next mode. An error is
  // counted as a protocol error. Null: the section ends at the last answer.
  std::function<absl::Status()> wait_processed;
  // Unary only: at most this many events per second over the timed section
  // (request i is not sent before start + events before it / rate); 0 means
  // as fast as the callers go.
  double max_events_per_second = 0;
  // Unary only: once this is true the callers send no further request (the
  // ones not sent are not counted as errors). Null: send them all.
  const std::atomic<bool>* stop = nullptr;
};

struct LoadResult {
  // "unary" or "stream".
  std::string mode;
  // Events the workload holds.
  uint64_t events = 0;
  // Per-event outcomes from successful calls / acks.
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  // Events of calls or batches that got no per-event answer: a failed call,
  // a batch_error, a broken stream.
  uint64_t unanswered = 0;
  // Protocol violations: acks out of order or with a wrong sequence, result
  // lists of the wrong length or order, counts that disagree with results.
  uint64_t protocol_errors = 0;
  // TrackEvents calls answered RESOURCE_EXHAUSTED and sent again.
  uint64_t retries = 0;
  // The first few problems, readable.
  std::vector<std::string> error_samples;
  // Wall time of the timed section.
  absl::Duration elapsed;
  // The part of it after the last answer, spent in wait_processed (none
  // without one).
  std::optional<absl::Duration> processed_wait;
  // Sorted ascending, in milliseconds: per TrackEvents call (first send to
  // answer, retries included) or per stream batch (Write() to its ack).
  std::vector<double> latencies_ms;

  // ACCEPTED events per second of wall time.
  double events_per_second() const;
  // Nearest-rank percentile of latencies_ms (p in [0, 100]); 0 if empty.
  double LatencyPercentile(double p) const;
  // Everything that was not ACCEPTED, plus protocol errors.
  uint64_t errors() const {
    return duplicates + rejected + unanswered + protocol_errors;
  }
};

// Sends every request with TrackEvents, callers taking the next unsent
// request as they become free. A RESOURCE_EXHAUSTED answer (the server's
// write queue is full) is retried with backoff, as the API asks; any other
// failed call is counted and not retried. Fails only if a channel cannot
// connect within 10 s.
absl::StatusOr<LoadResult> RunUnary(
    const LoadOptions& options,
    const std::vector<hark::v1::TrackEventsRequest>& requests);

// Sends batches[s] over stream s (batches.size() streams, normally
// options.callers), keeping at most options.window batches unacked per
// stream, and checks that acks come back in order with the batch's
// sequence number and one result per event.
absl::StatusOr<LoadResult> RunStream(
    const LoadOptions& options,
    const std::vector<std::vector<hark::v1::EventBatch>>& batches);

}  // namespace hark::bench

#endif  // HARK_BENCH_LOAD_H_
