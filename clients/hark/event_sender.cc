#include "clients/hark/event_sender.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/hark/event_json.h"
#include "grpcpp/client_context.h"

namespace hark::cli {
namespace {

struct PendingBatch {
  hark::v1::TrackEventsRequest request;
  std::vector<int64_t> lines;  // line of each event in `request`
  size_t bytes = 0;
};

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

// Bytes an event adds to a TrackEventsRequest: the message, its tag and its
// length prefix.
size_t WireSize(const hark::v1::Event& event) {
  return event.ByteSizeLong() + 6;
}

class Sender {
 public:
  Sender(hark::v1::Ingest::StubInterface& stub, const SendOptions& options,
         const ProgressFn& progress)
      : stub_(stub),
        options_(options),
        progress_(progress),
        rng_(std::random_device{}()) {}

  SendReport Run(std::istream& in) {
    return options_.shift_to_now ? RunShifted(in) : RunStreaming(in);
  }

 private:
  // Reads, checks and sends line by line.
  SendReport RunStreaming(std::istream& in) {
    std::string line;
    while (std::getline(in, line)) {
      report_.bytes_read += line.size() + 1;
      const int64_t line_number = ++report_.lines_read;
      hark::v1::Event event;
      if (!Parse(line, line_number, &event)) continue;
      if (!Add(line_number, std::move(event))) return Finish();
    }
    if (ReadFailed(in)) return Finish();
    Flush();
    return Finish();
  }

  // Reads and checks every line, shifts the times, then sends.
  SendReport RunShifted(std::istream& in) {
    std::vector<hark::v1::Event> events;
    std::vector<int64_t> lines;         // line of each event
    std::vector<uint64_t> bytes_after;  // input bytes up to each event
    uint64_t bytes_read = 0;
    std::string line;
    while (std::getline(in, line)) {
      bytes_read += line.size() + 1;
      const int64_t line_number = ++report_.lines_read;
      hark::v1::Event event;
      if (!Parse(line, line_number, &event)) continue;
      events.push_back(std::move(event));
      lines.push_back(line_number);
      bytes_after.push_back(bytes_read);
    }
    if (ReadFailed(in)) {
      report_.bytes_read = bytes_read;
      return Finish();
    }
    report_.time_shift =
        PlanShiftToNow(events, options_.now ? options_.now() : absl::Now());
    for (size_t i = 0; i < events.size(); ++i) {
      // The progress bar follows what was sent, not what was read.
      report_.bytes_read = bytes_after[i];
      if (report_.time_shift.has_value()) {
        absl::Status status =
            ShiftTimestamp(report_.time_shift->by, &events[i]);
        if (!status.ok()) {
          Reject(lines[i], events[i].event_id(), status.message(), true);
          continue;
        }
      }
      if (!Add(lines[i], std::move(events[i]))) return Finish();
    }
    report_.bytes_read = bytes_read;
    Flush();
    return Finish();
  }

  // Parses one line into `*event`. False when there is nothing to send: a
  // skipped line, or one rejected locally (then recorded as such).
  bool Parse(const std::string& line, int64_t line_number,
             hark::v1::Event* event) {
    if (IsSkippedLine(line)) return false;
    absl::Status status = EventFromJsonLine(line, event);
    if (status.ok() && WireSize(*event) > options_.max_batch_bytes) {
      status = absl::InvalidArgumentError(absl::StrCat(
          "the event is ", WireSize(*event),
          " bytes; one call carries at most ", options_.max_batch_bytes));
    }
    if (!status.ok()) {
      Reject(line_number, event->event_id(), status.message(), true);
      return false;
    }
    return true;
  }

  // Puts the event in the pending batch, sending batches as they fill up.
  // False (and report_.failure set) when a batch could not be sent.
  bool Add(int64_t line_number, hark::v1::Event event) {
    const size_t size = WireSize(event);
    if (!batch_.lines.empty() &&
        batch_.bytes + size > options_.max_batch_bytes) {
      if (!Flush()) return false;
    }
    *batch_.request.add_events() = std::move(event);
    batch_.lines.push_back(line_number);
    batch_.bytes += size;
    if (static_cast<int>(batch_.lines.size()) >=
        std::max(options_.batch_size, 1)) {
      if (!Flush()) return false;
    }
    return true;
  }

  // True (and report_.failure set) when reading stopped on an error rather
  // than at the end of the input.
  bool ReadFailed(const std::istream& in) {
    if (!in.bad()) return false;
    report_.failure = absl::DataLossError(absl::StrCat(
        "reading the input failed after line ", report_.lines_read));
    return true;
  }

  void Reject(int64_t line, absl::string_view event_id,
              absl::string_view reason, bool local) {
    ++report_.rejected;
    report_.rejections.push_back(
        RejectedLine{line, std::string(event_id), std::string(reason), local});
  }

  SendReport Finish() {
    std::stable_sort(report_.rejections.begin(), report_.rejections.end(),
                     [](const RejectedLine& a, const RejectedLine& b) {
                       return a.line < b.line;
                     });
    if (progress_) progress_(report_);
    return std::move(report_);
  }

  void Sleep(absl::Duration d) {
    if (options_.sleep) {
      options_.sleep(d);
    } else {
      absl::SleepFor(d);
    }
  }

  // Sends the pending batch, retrying transient failures. False (and
  // report_.failure set) if it could not be sent.
  bool Flush() {
    if (batch_.lines.empty()) return true;
    hark::v1::TrackEventsResponse response;
    absl::Duration backoff = options_.initial_backoff;
    int exhausted_retries = 0;
    int unavailable_retries = 0;
    while (true) {
      grpc::ClientContext context;
      context.set_deadline(
          absl::ToChronoTime(absl::Now() + options_.call_timeout));
      if (!options_.authorization.empty()) {
        context.AddMetadata("authorization", options_.authorization);
      }
      response.Clear();
      grpc::Status status =
          stub_.TrackEvents(&context, batch_.request, &response);
      if (status.ok()) break;
      bool retry = false;
      switch (status.error_code()) {
        case grpc::StatusCode::RESOURCE_EXHAUSTED:
          retry = exhausted_retries++ < options_.max_exhausted_retries;
          break;
        case grpc::StatusCode::UNAVAILABLE:
        case grpc::StatusCode::DEADLINE_EXCEEDED:
          retry = unavailable_retries++ < options_.max_unavailable_retries;
          break;
        default:
          break;
      }
      if (!retry) {
        report_.failure = FromGrpc(status);
        report_.failed_first_line = batch_.lines.front();
        report_.failed_last_line = batch_.lines.back();
        return false;
      }
      ++report_.retries;
      // Half fixed, half random: retries from several senders spread out.
      std::uniform_real_distribution<double> jitter(0.5, 1.0);
      Sleep(backoff * jitter(rng_));
      backoff = std::min(backoff * 2, options_.max_backoff);
    }

    if (response.results_size() != batch_.request.events_size()) {
      report_.failure = absl::InternalError(absl::StrCat(
          "harkd answered ", response.results_size(), " results for ",
          batch_.request.events_size(), " events"));
      report_.failed_first_line = batch_.lines.front();
      report_.failed_last_line = batch_.lines.back();
      return false;
    }
    ++report_.batches;
    for (int i = 0; i < response.results_size(); ++i) {
      const hark::v1::EventResult& result = response.results(i);
      switch (result.status()) {
        case hark::v1::EventResult::ACCEPTED:
          ++report_.accepted;
          break;
        case hark::v1::EventResult::DUPLICATE:
          ++report_.duplicates;
          break;
        default: {
          const hark::v1::FieldError& error = result.error();
          std::string reason =
              error.field().empty()
                  ? error.reason()
                  : absl::StrCat(error.field(), ": ", error.reason());
          if (reason.empty()) {
            reason = absl::StrCat(
                "rejected without a reason (status ",
                hark::v1::EventResult::Status_Name(result.status()), ")");
          }
          Reject(batch_.lines[i], batch_.request.events(i).event_id(), reason,
                 false);
        }
      }
    }
    batch_ = PendingBatch();
    if (progress_) progress_(report_);
    return true;
  }

  hark::v1::Ingest::StubInterface& stub_;
  const SendOptions& options_;
  const ProgressFn& progress_;
  std::mt19937 rng_;
  PendingBatch batch_;
  SendReport report_;
};

}  // namespace

SendReport SendEvents(std::istream& in, hark::v1::Ingest::StubInterface& stub,
                      const SendOptions& options, const ProgressFn& progress) {
  return Sender(stub, options, progress).Run(in);
}

std::string FormatRejection(const RejectedLine& r) {
  if (r.event_id.empty()) return absl::StrCat("line ", r.line, ": ", r.reason);
  return absl::StrCat("line ", r.line, ": event ", r.event_id, ": ", r.reason);
}

}  // namespace hark::cli
