#include "server/runtime/match_context.h"

#include <cstdint>
#include <utility>

#include "google/protobuf/wire_format_lite.h"
#include "hark/proto_time.h"
#include "hark/v1/rules.pb.h"
#include "server/engine/codec.h"
#include "server/engine/event_ref.h"

namespace hark::runtime {
namespace {

using google::protobuf::internal::WireFormatLite;

void PutTag(std::string* out, int field, WireFormatLite::WireType type) {
  engine::internal::Writer(out).Varint(WireFormatLite::MakeTag(field, type));
}

// A length-delimited field (string, bytes or message), even if empty.
void PutBytes(std::string* out, int field, absl::string_view bytes) {
  PutTag(out, field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  engine::internal::Writer(out).Bytes(bytes);
}

// A proto3 string field: left out when empty, as a serializer does.
void PutString(std::string* out, int field, absl::string_view text) {
  if (!text.empty()) PutBytes(out, field, text);
}

// A google.protobuf.Timestamp field, present even at the epoch (as
// mutable_*() makes it), as SetTimestamp() sets it.
void PutTimestamp(std::string* out, int field, absl::Time t) {
  const TimestampFields f = ToTimestampFields(t);
  // At most 12 bytes after 1970: no allocation (short string).
  std::string ts;
  if (f.seconds != 0) {
    PutTag(&ts, google::protobuf::Timestamp::kSecondsFieldNumber,
           WireFormatLite::WIRETYPE_VARINT);
    engine::internal::Writer(&ts).Varint(static_cast<uint64_t>(f.seconds));
  }
  if (f.nanos != 0) {
    PutTag(&ts, google::protobuf::Timestamp::kNanosFieldNumber,
           WireFormatLite::WIRETYPE_VARINT);
    engine::internal::Writer(&ts).Varint(static_cast<uint64_t>(f.nanos));
  }
  PutBytes(out, field, ts);
}

}  // namespace

void MatchContextWriter::Start(const engine::MatchOut& match) {
  out_.clear();
  PutString(&out_, hark::v1::Match::kMatchIdFieldNumber, match.match_id);
  PutString(&out_, hark::v1::Match::kRuleIdFieldNumber, match.rule_id);
  PutString(&out_, hark::v1::Match::kRuleVersionFieldNumber,
            match.rule_version);
  PutString(&out_, hark::v1::Match::kUserIdFieldNumber, match.user_id);
  PutString(&out_, hark::v1::Match::kGroupKeyFieldNumber, match.group_key);
  PutTimestamp(&out_, hark::v1::Match::kMatchedAtFieldNumber, match.matched_at);
}

void MatchContextWriter::AddEvent(absl::string_view alias, absl::Time time,
                                  const store::EventRecord* event) {
  event_.clear();
  if (event != nullptr) {
    PutString(&event_, hark::v1::MatchedEvent::kEventIdFieldNumber,
              event->event_id);
    PutString(&event_, hark::v1::MatchedEvent::kNameFieldNumber, event->name);
  }
  PutTimestamp(&event_, hark::v1::MatchedEvent::kTimestampFieldNumber, time);
  if (event != nullptr && engine::PropertyEntries(event->payload, &entries_)) {
    for (absl::string_view entry : entries_) {
      PutBytes(&event_, hark::v1::MatchedEvent::kPropertiesFieldNumber, entry);
    }
  }
  PutString(&event_, hark::v1::MatchedEvent::kAliasFieldNumber, alias);
  PutBytes(&out_, hark::v1::Match::kEventsFieldNumber, event_);
}

void MatchContextWriter::AddTrait(absl::string_view key,
                                  const hark::v1::Value& value) {
  // A map entry: key = 1, value = 2.
  scratch_.clear();
  PutString(&scratch_, 1, key);
  std::string bytes;
  value.SerializeToString(&bytes);
  PutBytes(&scratch_, 2, bytes);
  PutBytes(&out_, hark::v1::Match::kTraitsFieldNumber, scratch_);
}

std::string MatchContextWriter::Take() { return std::move(out_); }

void MatchContextWriter::Continue(std::string context) {
  out_ = std::move(context);
}

}  // namespace hark::runtime
