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
    std::string line;
    while (std::getline(in, line)) {
      report_.bytes_read += line.size() + 1;
      const int64_t line_number = ++report_.lines_read;
      if (IsSkippedLine(line)) continue;
      hark::v1::Event event;
      absl::Status status = EventFromJsonLine(line, &event);
      if (status.ok() && WireSize(event) > options_.max_batch_bytes) {
        status = absl::InvalidArgumentError(absl::StrCat(
            "the event is ", WireSize(event),
            " bytes; one call carries at most ", options_.max_batch_bytes));
      }
      if (!status.ok()) {
        Reject(line_number, event.event_id(), status.message(), true);
        continue;
      }
      const size_t size = WireSize(event);
      if (!batch_.lines.empty() &&
          batch_.bytes + size > options_.max_batch_bytes) {
        if (!Flush()) return Finish();
      }
      *batch_.request.add_events() = std::move(event);
      batch_.lines.push_back(line_number);
      batch_.bytes += size;
      if (static_cast<int>(batch_.lines.size()) >=
          std::max(options_.batch_size, 1)) {
        if (!Flush()) return Finish();
      }
    }
    if (in.bad()) {
      report_.failure = absl::DataLossError(absl::StrCat(
          "reading the input failed after line ", report_.lines_read));
      return Finish();
    }
    Flush();
    return Finish();
  }

 private:
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
