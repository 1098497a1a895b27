#ifndef HARK_PROTO_TIME_H_
#define HARK_PROTO_TIME_H_

// absl::Time to and from google.protobuf.Timestamp, the conversions the
// server's modules share. Header-only; users link protobuf through hark_proto.

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace hark {

// A Timestamp's two fields.
struct TimestampFields {
  int64_t seconds;
  int32_t nanos;
};

// `t` as Timestamp fields, floored to whole microseconds; times before 1970
// get a negative `seconds` and non-negative `nanos`, as Timestamp requires.
inline TimestampFields ToTimestampFields(absl::Time t) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  return {seconds, static_cast<int32_t>(rest * 1000)};
}

// Writes `t` into `out` (see ToTimestampFields).
inline void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const TimestampFields f = ToTimestampFields(t);
  out->set_seconds(f.seconds);
  out->set_nanos(f.nanos);
}

// The instant `ts` names (validation of its range is the caller's).
inline absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace hark

#endif  // HARK_PROTO_TIME_H_
