#ifndef HARK_SERVER_SERVICE_GRPC_STATUS_H_
#define HARK_SERVER_SERVICE_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace hark::service {

// The one place where absl::Status becomes grpc::Status. Codes map one to
// one (both follow google.rpc.Code); the message is kept as is.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_GRPC_STATUS_H_
