#include "server/service/call_auth.h"

namespace hark::service {

absl::StatusOr<auth::Principal> AuthorizeCall(
    const auth::KeyRing& keys, const grpc::CallbackServerContext* context,
    absl::string_view method) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  absl::string_view value;
  if (it != metadata.end()) {
    value = absl::string_view(it->second.data(), it->second.size());
  }
  return keys.Authorize(value, method);
}

}  // namespace hark::service
