#ifndef HARK_TESTS_E2E_HARKD_PROCESS_H_
#define HARK_TESTS_E2E_HARKD_PROCESS_H_

// Runs the real harkd binary on 127.0.0.1:0 with a temporary folder for its
// database and keys, for end-to-end tests over gRPC.

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"
#include "hark/v1/ingest.pb.h"

namespace hark::testing {

class HarkdProcess {
 public:
  // A fresh temporary folder; nothing runs yet.
  HarkdProcess();
  // Kills a still running harkd and removes the folder.
  ~HarkdProcess();

  // Starts harkd on the folder's database and waits until it serves (it
  // reports its port through a pipe: no polling). Extra flags are appended.
  // Returns false with a message on failure.
  bool Start(const std::vector<std::string>& extra_flags = {});
  // SIGKILL, then reaps the process.
  void Kill9();
  // Sends `sig` and returns the exit status as waitpid reports it.
  int SignalAndWait(int sig);

  // Writes a file under the temporary folder (e.g. "rules/x.yaml").
  void WriteFile(const std::string& relative_path,
                 const std::string& content) const;
  // Copies the repository's shipped rules (every *.yaml under rules/, with
  // its subfolder) into the rules folder.
  void CopyShippedRules() const;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& error() const { return error_; }
  // The key of the given role ("ingest", "research", "review", "admin")
  // from the client key file harkd wrote on its first start.
  std::string Key(const std::string& role) const;

  std::shared_ptr<grpc::Channel> Channel() const;

  // Sends `events` in one Ingest.TrackEvents call with the ingest key. OK
  // only if every event was accepted; otherwise the call's error or
  // FAILED_PRECONDITION naming the first event not accepted.
  grpc::Status Track(const std::vector<hark::v1::Event>& events) const;
  // Ingest.IdentifyUser with one string trait.
  grpc::Status Identify(const std::string& user, const std::string& key,
                        const std::string& value) const;
  // A client context carrying "authorization: Bearer <key of role>", or no
  // key at all when `role` is empty.
  static std::unique_ptr<grpc::ClientContext> Context(const HarkdProcess& harkd,
                                                      const std::string& role);

 private:
  std::string dir_;
  std::string error_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace hark::testing

#endif  // HARK_TESTS_E2E_HARKD_PROCESS_H_
