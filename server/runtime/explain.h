#ifndef HARK_SERVER_RUNTIME_EXPLAIN_H_
#define HARK_SERVER_RUNTIME_EXPLAIN_H_

// Admin.Explain: why did (or didn't) this person get asked? The user's
// timeline from the derived tables (DESIGN.md, "Storage": matches,
// decisions, prompts, responses; never a scan of the event log): the events
// that matched, each match, each decision with its reason, each prompt and
// its state changes, each response with its friction type.

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hark/v1/admin.pb.h"
#include "server/store/store.h"

namespace hark::runtime {

// At most this many of the user's newest matches (and responses) are
// explained.
inline constexpr size_t kExplainMaxMatches = 1000;

// Entries oldest first (ties: events, matches, decisions, prompts,
// responses).
// INVALID_ARGUMENT for an empty user id; an unknown user has an empty
// timeline.
absl::StatusOr<hark::v1::ExplainResponse> Explain(store::Store& store,
                                                  absl::string_view user_id);

}  // namespace hark::runtime

#endif  // HARK_SERVER_RUNTIME_EXPLAIN_H_
