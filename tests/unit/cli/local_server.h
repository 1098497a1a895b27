#ifndef HARK_TESTS_UNIT_CLI_LOCAL_SERVER_H_
#define HARK_TESTS_UNIT_CLI_LOCAL_SERVER_H_

// The in-process gRPC server the CLI's client tests talk to.

#include <memory>

#include "absl/strings/str_cat.h"
#include "grpcpp/channel.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace hark::cli::testing {

// Serves `service` on 127.0.0.1 at a free port and opens a channel to it; a
// fatal test failure when the server does not start (call it inside
// ASSERT_NO_FATAL_FAILURE).
inline void StartLocalServer(grpc::Service* service,
                             std::unique_ptr<grpc::Server>* server,
                             std::shared_ptr<grpc::Channel>* channel) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(service);
  *server = builder.BuildAndStart();
  ASSERT_NE(*server, nullptr);
  ASSERT_GT(port, 0);
  *channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                 grpc::InsecureChannelCredentials());
}

}  // namespace hark::cli::testing

#endif  // HARK_TESTS_UNIT_CLI_LOCAL_SERVER_H_
