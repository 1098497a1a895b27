#ifndef HARK_CLIENTS_HARK_REVIEW_CLIENT_H_
#define HARK_CLIENTS_HARK_REVIEW_CLIENT_H_

// The calls of `hark responses list` and `hark responses export`: pages of
// Review.ListResponses, and the Review.ExportResponses stream written as it
// arrives, as CSV (csv.h, the columns of ResponseCsvHeader) or JSON Lines.

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hark/v1/review.grpc.pb.h"

namespace hark::cli {

enum class ExportFormat { kCsv, kJsonl };

// The format a file name asks for: .jsonl and .ndjson are JSON Lines,
// anything else (and '-', standard output) CSV.
ExportFormat ExportFormatForPath(absl::string_view path);

// Writes responses to `out` in one format. CSV starts with the UTF-8 byte
// order mark (unless `bom` is false) and the header row; JSON Lines is one
// object per line with the proto field names.
class ResponseWriter {
 public:
  ResponseWriter(std::ostream* out, ExportFormat format, bool bom);

  // Writes what comes before the first response (CSV: BOM and header).
  absl::Status Begin();
  // Writes one response. DATA_LOSS when `out` failed (disk full, closed
  // pipe; the message says why), INTERNAL when the response cannot be
  // printed as JSON.
  absl::Status Write(const hark::v1::Response& response);

 private:
  absl::Status Check();

  std::ostream* const out_;
  const ExportFormat format_;
  const bool bom_;
};

struct ExportResult {
  // Responses the callback took (returned OK for).
  int64_t handled = 0;
  // Not OK when the stream failed or the callback stopped it (its status).
  absl::Status failure;
};

// Calls `on_response` for each response of the stream, in the calling
// thread, until the stream ends; a callback that returns an error cancels
// the call and becomes the failure. `authorization` is sent as metadata.
// No deadline: an export takes as long as the data.
ExportResult ExportResponses(
    hark::v1::Review::StubInterface& stub,
    const hark::v1::ExportResponsesRequest& request,
    absl::string_view authorization,
    const std::function<absl::Status(const hark::v1::Response&)>& on_response);

struct ListResult {
  // Pages handed to the callback.
  int pages = 0;
  // The next page's token after the last page read; empty when there is
  // none.
  std::string next_page_token;
  // Not OK when a call failed; the pages before it were handed over.
  absl::Status failure;
};

// Reads the page of `request` and, with `all`, every following page,
// calling `on_page` with each (in the calling thread). A server that hands
// back the token it was given is a failure (INTERNAL), not an endless loop.
// Each call has a deadline of 30 seconds.
ListResult ListResponsePages(
    hark::v1::Review::StubInterface& stub,
    hark::v1::ListResponsesRequest request, bool all,
    absl::string_view authorization,
    const std::function<void(const hark::v1::ListResponsesResponse&)>& on_page);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_REVIEW_CLIENT_H_
