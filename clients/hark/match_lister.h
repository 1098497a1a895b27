#ifndef HARK_CLIENTS_HARK_MATCH_LISTER_H_
#define HARK_CLIENTS_HARK_MATCH_LISTER_H_

// `hark matches`: pages through Rules.ListMatches until a limit.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "hark/v1/rules.grpc.pb.h"

namespace hark::cli {

struct ListMatchesOptions {
  // Filters; empty means any.
  std::string rule_id;
  std::string user_id;
  // At most this many matches in all (>= 1).
  int limit = 50;
  // Sent as the `authorization` metadata, e.g. "Bearer hark_research_...".
  std::string authorization;
  // Deadline of each call.
  absl::Duration call_timeout = absl::Seconds(30);
};

struct ListMatchesResult {
  // In harkd's order (newest first), at most `limit`.
  std::vector<hark::v1::Match> matches;
  // True when harkd has more beyond the limit.
  bool more = false;
  // Not OK when a call failed; `matches` then holds the pages before it.
  absl::Status failure;
};

// Asks for pages of min(remaining, 1000) matches, following next_page_token
// until it is empty or `limit` matches have arrived. A server that hands back
// the token it was given is a failure (INTERNAL), not an endless loop.
ListMatchesResult ListMatches(hark::v1::Rules::StubInterface& stub,
                              const ListMatchesOptions& options);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_MATCH_LISTER_H_
