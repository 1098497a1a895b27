#ifndef HARK_BENCH_WORKLOAD_H_
#define HARK_BENCH_WORKLOAD_H_

// The synthetic event workload of `hark-bench ingest`: a deterministic mix
// of behaviour events over a fixed population of users, cut into batches.
// Everything is generated before a measurement starts so that building
// protos is never part of a timed section.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "hark/v1/ingest.pb.h"
#include "server/store/store.h"

namespace hark::bench {

struct WorkloadOptions {
  // Total events and distinct users they are spread over.
  size_t events = 1000000;
  size_t users = 100000;
  // Events per TrackEvents call or stream batch (the server takes 1-1,000).
  size_t batch = 500;
  // Seeds the choice of user, event name and property values. The same seed
  // gives the same events (apart from ids and timestamps, see below).
  uint64_t seed = 1;
  // Prefix of every event id. Ids are "<id_prefix>-<index>", so a prefix
  // unique per run and mode keeps ids unique across runs against one server
  // (a repeated id would be answered DUPLICATE, which the benchmark counts as
  // an error).
  std::string id_prefix;
  // User ids are "<user_prefix><n>", n below `users`. hark-bench ingest
  // gives each mode its own users: the modes' events cover the same hour,
  // and the same users again would double their event rate over that hour
  // for the rules (counts and sequences would complete far more often in
  // the second mode than in the first).
  std::string user_prefix = "user-";
  // Event times are spread evenly over the hour before `now`: never in the
  // server's future, whatever its --max-future.
  absl::Time now;
};

// The event mix, in percent of events (sums to 100). Exposed for --help.
struct EventKind {
  const char* name;
  int percent;
};
const std::vector<EventKind>& EventMix();

// Event number `index` (0-based) of the workload. Deterministic in
// (options, index).
hark::v1::Event MakeEvent(const WorkloadOptions& options, size_t index);

// All events of the workload, `options.batch` per request (the last one may
// be shorter). Request i holds events [i*batch, (i+1)*batch).
std::vector<hark::v1::TrackEventsRequest> MakeTrackRequests(
    const WorkloadOptions& options);

// The same cut, as stream batches with sequence numbers 1, 2, 3... in
// `streams` groups (one per stream), spread round-robin: stream s gets
// batches s, s+streams, s+2*streams... renumbered from 1 within the stream.
std::vector<std::vector<hark::v1::EventBatch>> MakeStreamBatches(
    const WorkloadOptions& options, size_t streams);

// The workload as the store's EventRecords (payload = serialized Event,
// received at `options.now`), for the SQLite append ceiling.
std::vector<store::EventRecord> MakeEventRecords(
    const WorkloadOptions& options);

}  // namespace hark::bench

#endif  // HARK_BENCH_WORKLOAD_H_
