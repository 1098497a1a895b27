#ifndef HARK_SERVER_SERVICE_INGEST_SERVICE_H_
#define HARK_SERVER_SERVICE_INGEST_SERVICE_H_

#include "hark/v1/ingest.grpc.pb.h"
#include "server/auth/auth.h"
#include "server/ingest/ingestor.h"

namespace hark::service {

// Thin adapter from hark.v1.Ingest to ingest::Ingestor. Reactions never
// block: calls are finished from the ingestor's commit callbacks.
class IngestService final : public hark::v1::Ingest::CallbackService {
 public:
  IngestService(const auth::KeyRing* keys, ingest::Ingestor* ingestor)
      : keys_(keys), ingestor_(ingestor) {}

  grpc::ServerUnaryReactor* TrackEvents(
      grpc::CallbackServerContext* context,
      const hark::v1::TrackEventsRequest* request,
      hark::v1::TrackEventsResponse* response) override;

  grpc::ServerBidiReactor<hark::v1::EventBatch, hark::v1::BatchAck>*
  StreamEvents(grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* IdentifyUser(
      grpc::CallbackServerContext* context,
      const hark::v1::IdentifyUserRequest* request,
      hark::v1::IdentifyUserResponse* response) override;

 private:
  const auth::KeyRing* keys_;
  ingest::Ingestor* ingestor_;
};

}  // namespace hark::service

#endif  // HARK_SERVER_SERVICE_INGEST_SERVICE_H_
