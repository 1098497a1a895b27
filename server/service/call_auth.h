#ifndef HARK_SERVER_SERVICE_CALL_AUTH_H_
#define HARK_SERVER_SERVICE_CALL_AUTH_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "server/auth/auth.h"

namespace hark::service {

// Checks the call's `authorization` metadata against the roles allowed for
// `method` (a full name such as "/hark.v1.Ingest/TrackEvents").
absl::StatusOr<auth::Principal> AuthorizeCall(
    const auth::KeyRing& keys, const grpc::CallbackServerContext* context,
    absl::string_view method);

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_CALL_AUTH_H_
