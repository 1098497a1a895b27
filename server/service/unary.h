#ifndef HARK_SERVER_SERVICE_UNARY_H_
#define HARK_SERVER_SERVICE_UNARY_H_

// Small helpers shared by the callback service adapters.

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "server/auth/auth.h"
#include "server/service/call_auth.h"
#include "server/service/grpc_status.h"

namespace hark::service {

// Finishes a unary call with `status` and returns its reactor.
inline grpc::ServerUnaryReactor* FinishUnary(
    grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// The usual unary call: authorizes it, runs `fn(principal)` (which returns
// an absl::StatusOr of the response message) and finishes with its value or
// its error.
template <typename Response, typename Fn>
grpc::ServerUnaryReactor* ServeUnary(const auth::KeyRing& keys,
                                     grpc::CallbackServerContext* context,
                                     absl::string_view method,
                                     Response* response, Fn fn) {
  auto principal = AuthorizeCall(keys, context, method);
  if (!principal.ok()) return FinishUnary(context, principal.status());
  absl::StatusOr<Response> result = fn(*principal);
  if (!result.ok()) return FinishUnary(context, result.status());
  *response = std::move(*result);
  return FinishUnary(context, absl::OkStatus());
}

// The status of an RPC that is declared but not built yet.
inline absl::Status NotBuiltYet(absl::string_view method) {
  return absl::UnimplementedError(
      absl::StrCat(method.substr(1), " is not implemented yet"));
}

// A unary RPC that is declared but not built yet: still authenticated, so
// that a caller learns about a bad key before it learns about the gap.
inline grpc::ServerUnaryReactor* UnimplementedUnary(
    const auth::KeyRing& keys, grpc::CallbackServerContext* context,
    absl::string_view method) {
  auto principal = AuthorizeCall(keys, context, method);
  return FinishUnary(context,
                     principal.ok() ? NotBuiltYet(method) : principal.status());
}

// A server-streaming reactor that finishes at once with a status.
template <typename Response>
class FinishedWriter final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit FinishedWriter(const absl::Status& status) {
    this->Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

template <typename Response>
grpc::ServerWriteReactor<Response>* UnimplementedWriter(
    const auth::KeyRing& keys, grpc::CallbackServerContext* context,
    absl::string_view method) {
  auto principal = AuthorizeCall(keys, context, method);
  return new FinishedWriter<Response>(principal.ok() ? NotBuiltYet(method)
                                                     : principal.status());
}

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_UNARY_H_
