#include "clients/hark/prompt_watcher.h"

#include <memory>

#include "grpcpp/client_context.h"
#include "grpcpp/support/sync_stream.h"

namespace hark::cli {

WatchPromptsResult WatchPrompts(
    hark::v1::Prompts::StubInterface& stub, const WatchPromptsOptions& options,
    const std::function<void(const hark::v1::Prompt&)>& on_prompt) {
  WatchPromptsResult result;
  result.last_cursor = options.after_cursor;
  hark::v1::WatchPromptsRequest request;
  request.set_after_cursor(options.after_cursor);
  for (hark::v1::Prompt::Kind kind : options.kinds) request.add_kinds(kind);
  // No deadline: a watch runs until it is stopped.
  grpc::ClientContext context;
  if (!options.authorization.empty()) {
    context.AddMetadata("authorization", options.authorization);
  }
  std::unique_ptr<grpc::ClientReaderInterface<hark::v1::Prompt>> reader =
      stub.WatchPrompts(&context, request);
  hark::v1::Prompt prompt;
  bool stopped = false;
  while (reader->Read(&prompt)) {
    ++result.received;
    if (!prompt.cursor().empty()) result.last_cursor = prompt.cursor();
    on_prompt(prompt);
    if (options.max_prompts > 0 && result.received >= options.max_prompts) {
      stopped = true;
      context.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (stopped) return result;
  if (status.ok()) {
    result.ended_by_server = true;
  } else {
    result.failure =
        absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                     status.error_message());
  }
  return result;
}

}  // namespace hark::cli
