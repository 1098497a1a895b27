#include "clients/hark/match_lister.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"

namespace hark::cli {

ListMatchesResult ListMatches(hark::v1::Rules::StubInterface& stub,
                              const ListMatchesOptions& options) {
  ListMatchesResult result;
  const size_t limit = static_cast<size_t>(std::max(options.limit, 1));
  std::string token;
  while (result.matches.size() < limit) {
    hark::v1::ListMatchesRequest request;
    request.set_rule_id(options.rule_id);
    request.set_user_id(options.user_id);
    request.set_page_size(static_cast<uint32_t>(
        std::min<size_t>(limit - result.matches.size(), 1000)));
    request.set_page_token(token);
    grpc::ClientContext context;
    context.set_deadline(
        absl::ToChronoTime(absl::Now() + options.call_timeout));
    if (!options.authorization.empty()) {
      context.AddMetadata("authorization", options.authorization);
    }
    hark::v1::ListMatchesResponse response;
    grpc::Status status = stub.ListMatches(&context, request, &response);
    if (!status.ok()) {
      result.failure =
          absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                       status.error_message());
      return result;
    }
    for (hark::v1::Match& m : *response.mutable_matches()) {
      if (result.matches.size() == limit) {
        // harkd sent more than asked for; the rest is there to be had.
        result.more = true;
        return result;
      }
      result.matches.push_back(std::move(m));
    }
    if (response.next_page_token().empty()) return result;
    if (response.next_page_token() == token) {
      result.failure = absl::InternalError(
          absl::StrCat("harkd returned the page token it was given (", token,
                       "); stopping"));
      return result;
    }
    token = response.next_page_token();
  }
  result.more = true;
  return result;
}

}  // namespace hark::cli
