#ifndef HARK_CLIENTS_HARK_PROMPT_WATCHER_H_
#define HARK_CLIENTS_HARK_PROMPT_WATCHER_H_

// `hark prompts watch`: reads Prompts.WatchPrompts until the stream ends,
// fails, or a number of prompts has arrived.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "hark/v1/prompts.grpc.pb.h"

namespace hark::cli {

struct WatchPromptsOptions {
  // Resume after this cursor; empty means from now.
  std::string after_cursor;
  // Only these kinds; empty means all.
  std::vector<hark::v1::Prompt::Kind> kinds;
  // Stop after this many prompts; 0 means never (until the stream ends).
  int64_t max_prompts = 0;
  // Sent as the `authorization` metadata, e.g. "Bearer hark_ingest_...".
  std::string authorization;
};

struct WatchPromptsResult {
  // Prompts handed to the callback.
  int64_t received = 0;
  // The cursor of the last prompt received (else the one started after):
  // where to resume.
  std::string last_cursor;
  // True when harkd ended the stream (OK) before max_prompts arrived.
  bool ended_by_server = false;
  // Not OK when the stream failed.
  absl::Status failure;
};

// Calls `on_prompt` for every prompt as it arrives (in the calling thread).
// Reaching max_prompts cancels the call; that is not a failure.
WatchPromptsResult WatchPrompts(
    hark::v1::Prompts::StubInterface& stub, const WatchPromptsOptions& options,
    const std::function<void(const hark::v1::Prompt&)>& on_prompt);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_PROMPT_WATCHER_H_
