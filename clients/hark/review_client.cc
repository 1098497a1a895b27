#include "clients/hark/review_client.h"

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/hark/csv.h"
#include "clients/hark/prompts_format.h"
#include "clients/hark/responses_format.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"

namespace hark::cli {

ExportFormat ExportFormatForPath(absl::string_view path) {
  return absl::EndsWithIgnoreCase(path, ".jsonl") ||
                 absl::EndsWithIgnoreCase(path, ".ndjson")
             ? ExportFormat::kJsonl
             : ExportFormat::kCsv;
}

ResponseWriter::ResponseWriter(std::ostream* out, ExportFormat format, bool bom)
    : out_(out), format_(format), bom_(bom) {}

absl::Status ResponseWriter::Check() {
  if (out_->good()) return absl::OkStatus();
  // errno is that of the write that failed (a stream sets no reason).
  return absl::DataLossError(
      absl::StrCat("writing failed: ", std::strerror(errno)));
}

absl::Status ResponseWriter::Begin() {
  if (format_ == ExportFormat::kCsv) {
    if (bom_) *out_ << kUtf8Bom;
    *out_ << CsvRecord(ResponseCsvHeader());
  }
  return Check();
}

absl::Status ResponseWriter::Write(const hark::v1::Response& response) {
  if (format_ == ExportFormat::kCsv) {
    *out_ << CsvRecord(ResponseCsvFields(response));
  } else {
    absl::StatusOr<std::string> line = JsonLine(response);
    if (!line.ok()) {
      return absl::InternalError(absl::StrCat(
          "response ", response.response_id(), ": ", line.status().message()));
    }
    *out_ << *line << "\n";
  }
  return Check();
}

ExportResult ExportResponses(
    hark::v1::Review::StubInterface& stub,
    const hark::v1::ExportResponsesRequest& request,
    absl::string_view authorization,
    const std::function<absl::Status(const hark::v1::Response&)>& on_response) {
  ExportResult result;
  grpc::ClientContext context;
  if (!authorization.empty()) {
    context.AddMetadata("authorization", std::string(authorization));
  }
  std::unique_ptr<grpc::ClientReaderInterface<hark::v1::Response>> reader =
      stub.ExportResponses(&context, request);
  hark::v1::Response response;
  while (reader->Read(&response)) {
    if (absl::Status s = on_response(response); !s.ok()) {
      result.failure = s;
      context.TryCancel();
      break;
    }
    ++result.handled;
  }
  grpc::Status status = reader->Finish();
  if (result.failure.ok() && !status.ok()) {
    result.failure =
        absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                     status.error_message());
  }
  return result;
}

ListResult ListResponsePages(
    hark::v1::Review::StubInterface& stub,
    hark::v1::ListResponsesRequest request, bool all,
    absl::string_view authorization,
    const std::function<void(const hark::v1::ListResponsesResponse&)>&
        on_page) {
  ListResult result;
  while (true) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    if (!authorization.empty()) {
      context.AddMetadata("authorization", std::string(authorization));
    }
    hark::v1::ListResponsesResponse page;
    grpc::Status status = stub.ListResponses(&context, request, &page);
    if (!status.ok()) {
      result.failure =
          absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                       status.error_message());
      return result;
    }
    ++result.pages;
    on_page(page);
    result.next_page_token = page.next_page_token();
    if (!all || page.next_page_token().empty()) return result;
    if (page.next_page_token() == request.page_token()) {
      result.failure = absl::InternalError(
          absl::StrCat("harkd returned the page token it was given (",
                       request.page_token(), "); stopping"));
      return result;
    }
    request.set_page_token(page.next_page_token());
  }
}

}  // namespace hark::cli
