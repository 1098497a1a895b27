#ifndef HARK_SERVER_INGEST_VALIDATE_H_
#define HARK_SERVER_INGEST_VALIDATE_H_

// Pure validation of ingested items. Each function returns the first problem
// it finds as a hark.v1.FieldError, or nullopt if the item is valid. The
// error names the field by its path inside the item (`event_id`,
// `properties["plan"].string_value`, `context.platform`, `traits["tz"]`)
// and says what is wrong and how to fix it. Error texts are always valid
// UTF-8 (offending bytes are escaped), so they can be sent back in a proto.
//
// Length limits are counted in bytes of the UTF-8 encoding, and the messages
// say so. Among several bad properties or traits the one with the smallest
// key is reported, so the answer does not depend on map iteration order.

#include <cstddef>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hark/v1/common.pb.h"
#include "hark/v1/ingest.pb.h"

namespace hark::ingest {

// Limits of the public API (see proto/hark/v1/common.proto).
inline constexpr size_t kMaxEventIdBytes = 128;
inline constexpr size_t kMaxUserIdBytes = 256;
inline constexpr size_t kMaxEventNameBytes = 64;
inline constexpr size_t kMaxProperties = 64;
inline constexpr size_t kMaxTraits = 64;
inline constexpr size_t kMaxKeyBytes = 64;
inline constexpr size_t kMaxStringValueBytes = 4096;
inline constexpr size_t kMaxContextFieldBytes = 256;

// Validates one event received at server time `now`. Its timestamp may be at
// most `max_future` ahead of `now` (harkd --max-future).
std::optional<hark::v1::FieldError> ValidateEvent(const hark::v1::Event& event,
                                                  absl::Time now,
                                                  absl::Duration max_future);

// Validates a trait upsert: the user id and 1 to 64 traits.
std::optional<hark::v1::FieldError> ValidateTraits(
    const hark::v1::IdentifyUserRequest& request);

// The length of the longest prefix of `text` that is well-formed UTF-8
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
// Equals text.size() exactly when all of `text` is valid.
size_t ValidUtf8Prefix(absl::string_view text);

inline bool IsValidUtf8(absl::string_view text) {
  return ValidUtf8Prefix(text) == text.size();
}

}  // namespace hark::ingest

#endif  // HARK_SERVER_INGEST_VALIDATE_H_
