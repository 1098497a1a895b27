#ifndef HARK_CLIENTS_HARK_EVENT_SENDER_H_
#define HARK_CLIENTS_HARK_EVENT_SENDER_H_

// `hark events send`: reads a JSON Lines event file, sends it in batches with
// Ingest.TrackEvents, retries what is safe to retry, and maps every result
// back to the line it came from.

#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "clients/hark/time_shift.h"
#include "hark/v1/ingest.grpc.pb.h"

namespace hark::cli {

struct SendOptions {
  // Events per TrackEvents call; harkd takes 1 to 1,000.
  int batch_size = 500;
  // A batch is also cut before it would exceed this many bytes, to stay
  // under harkd's 4 MiB per call. An event bigger than this on its own is
  // rejected locally.
  size_t max_batch_bytes = 4'000'000;
  // Sent as the `authorization` metadata, e.g. "Bearer hark_ingest_...".
  std::string authorization;
  // Deadline of each call.
  absl::Duration call_timeout = absl::Seconds(60);
  // Resending a batch is safe (event ids make it idempotent), so transient
  // failures are retried with exponential backoff, jittered, capped at
  // `max_backoff`: RESOURCE_EXHAUSTED (harkd's write queue is full, it asks
  // for backoff) up to `max_exhausted_retries` times per batch; UNAVAILABLE
  // and DEADLINE_EXCEEDED up to `max_unavailable_retries` times.
  int max_exhausted_retries = 10;
  int max_unavailable_retries = 3;
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(5);
  // How to wait between attempts; absl::SleepFor when empty. Tests replace it.
  std::function<void(absl::Duration)> sleep;
  // `--shift-to-now`: the whole input is read (and held in memory) first;
  // then every event's timestamp is moved by the same amount so that the
  // latest one is now (see time_shift.h), and the events are sent. Only
  // events that pass the local checks take part; lines rejected locally
  // are reported as without it.
  bool shift_to_now = false;
  // The clock for `shift_to_now`, read once after the input is read;
  // absl::Now when empty. Tests replace it.
  std::function<absl::Time()> now;
};

// One event that was not stored.
struct RejectedLine {
  int64_t line = 0;      // 1-based line in the file
  std::string event_id;  // empty when unknown
  std::string reason;    // "<field>: <reason>"
  bool local = false;    // rejected by the CLI before sending
};

struct SendReport {
  // Outcomes; `rejected` counts local and server rejections.
  uint64_t accepted = 0;
  uint64_t duplicates = 0;
  uint64_t rejected = 0;
  // Progress of reading the input.
  uint64_t bytes_read = 0;
  int64_t lines_read = 0;
  // Calls that got an answer, and retried attempts.
  uint64_t batches = 0;
  uint64_t retries = 0;
  // Sorted by line.
  std::vector<RejectedLine> rejections;
  // With `shift_to_now`: the shift applied; unset when no event had a
  // timestamp (nothing was shifted) or the input could not be read.
  std::optional<TimeShift> time_shift;
  // Not OK when sending stopped early: a batch failed after its retries, the
  // input could not be read, or the server's answer did not fit the batch.
  // Batches before the failed one were answered (and their accepted events
  // stored); nothing after it was sent.
  absl::Status failure;
  // Lines of the batch that failed (0 when the failure is not a batch's).
  int64_t failed_first_line = 0;
  int64_t failed_last_line = 0;
};

// Called after every answered batch (and once at the end).
using ProgressFn = std::function<void(const SendReport&)>;

// Sends every event of `in` (see event_json.h for the line format). Never
// throws; problems are in the report. Without `shift_to_now` the input is
// streamed: nothing after a failed batch is read.
SendReport SendEvents(std::istream& in, hark::v1::Ingest::StubInterface& stub,
                      const SendOptions& options, const ProgressFn& progress);

// "line 12: event e-17: timestamp: <reason>"; the event part is left out
// when the id is unknown.
std::string FormatRejection(const RejectedLine& rejection);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_EVENT_SENDER_H_
