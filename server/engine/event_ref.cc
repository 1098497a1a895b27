#include "server/engine/event_ref.h"

#include <cstdint>
#include <string>

#include "absl/base/casts.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace hark::engine {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr uint32_t Tag(int field) {
  return (static_cast<uint32_t>(field) << 3) |
         WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
}
// hark.v1.Event.properties, and the key and value of a map entry.
constexpr uint32_t kPropertiesTag = Tag(5);
constexpr uint32_t kKeyTag = Tag(1);
constexpr uint32_t kValueTag = Tag(2);
constexpr uint32_t kEventTags[] = {kPropertiesTag};
constexpr uint32_t kEntryTags[] = {kKeyTag, kValueTag};

// Reads the bytes of a length-delimited field of `message` (which `in`
// reads) whose tag `in` just read; false if they run past the end.
bool ReadBytes(google::protobuf::io::CodedInputStream& in,
               absl::string_view message, absl::string_view* bytes) {
  uint32_t size;
  if (!in.ReadVarint32(&size)) return false;
  const int at = in.CurrentPosition();
  // A size past INT_MAX turns negative, which Skip() refuses.
  if (!in.Skip(static_cast<int>(size))) return false;
  *bytes = message.substr(static_cast<size_t>(at), size);
  return true;
}

// Reads the fields of the message in `bytes`: `on_field(tag, value)` for
// each length-delimited one among `tags` (value: its bytes), the others
// skipped. False if the bytes are not a well-formed message or `on_field`
// says so.
template <size_t N, typename OnField>
bool ReadFields(absl::string_view bytes, const uint32_t (&tags)[N],
                OnField on_field) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  while (const uint32_t tag = in.ReadTag()) {
    bool wanted = false;
    for (uint32_t t : tags) wanted |= t == tag;
    if (!wanted) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    absl::string_view field;
    if (!ReadBytes(in, bytes, &field) || !on_field(tag, field)) return false;
  }
  // False when ReadTag() stopped on bad bytes rather than at the end.
  return in.ConsumedEntireMessage();
}

// Parses a serialized hark.v1.Value into `out` as the message's parser
// would (the last member of the oneof wins, a timestamp seen twice is
// merged, string_value must be UTF-8), but into the same Value event after
// event: a string value takes the place of the one before, without a new
// allocation. False, `out` unspecified, if the bytes do not parse.
bool DecodeValue(absl::string_view bytes, hark::v1::Value* out) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  bool seen = false;
  bool timestamp = false;
  while (const uint32_t tag = in.ReadTag()) {
    switch (tag) {
      case Tag(hark::v1::Value::kStringValueFieldNumber): {
        absl::string_view text;
        if (!ReadBytes(in, bytes, &text) ||
            !WireFormatLite::VerifyUtf8String(
                text.data(), static_cast<int>(text.size()),
                WireFormatLite::PARSE, "hark.v1.Value.string_value")) {
          return false;
        }
        if (out->kind_case() == hark::v1::Value::kStringValue) {
          out->mutable_string_value()->assign(text.data(), text.size());
        } else {
          out->set_string_value(text.data(), text.size());
        }
        timestamp = false;
        break;
      }
      case (hark::v1::Value::kNumberValueFieldNumber << 3) |
          WireFormatLite::WIRETYPE_FIXED64: {
        uint64_t bits;
        if (!in.ReadLittleEndian64(&bits)) return false;
        out->set_number_value(absl::bit_cast<double>(bits));
        timestamp = false;
        break;
      }
      case (hark::v1::Value::kBoolValueFieldNumber << 3) |
          WireFormatLite::WIRETYPE_VARINT: {
        uint64_t v;
        if (!in.ReadVarint64(&v)) return false;
        out->set_bool_value(v != 0);
        timestamp = false;
        break;
      }
      case Tag(hark::v1::Value::kTimestampValueFieldNumber): {
        absl::string_view message;
        if (!ReadBytes(in, bytes, &message)) return false;
        if (!timestamp) out->clear_kind();
        google::protobuf::io::CodedInputStream ts(
            reinterpret_cast<const uint8_t*>(message.data()),
            static_cast<int>(message.size()));
        if (!out->mutable_timestamp_value()->MergeFromCodedStream(&ts) ||
            !ts.ConsumedEntireMessage()) {
          return false;
        }
        timestamp = true;
        break;
      }
      default:
        if (!WireFormatLite::SkipField(&in, tag)) return false;
        continue;  // an unknown field is no value
    }
    seen = true;
  }
  if (!seen) out->clear_kind();
  return in.ConsumedEntireMessage();
}

}  // namespace

const hark::v1::Value* MessageProperties::Prop(absl::string_view key) const {
  const auto& props = event_.properties();
  auto it = props.find(std::string_view(key.data(), key.size()));
  return it == props.end() ? nullptr : &it->second;
}

void PayloadProperties::Reset(absl::string_view payload) {
  payload_ = payload;
  scanned_ = false;
  entries_.clear();
  used_ = 0;
}

bool PayloadProperties::Scan() const {
  return ReadFields(
      payload_, kEventTags, [this](uint32_t, absl::string_view entry_bytes) {
        Entry entry;
        if (!ReadFields(entry_bytes, kEntryTags,
                        [&entry](uint32_t tag, absl::string_view bytes) {
                          (tag == kKeyTag ? entry.key : entry.value) = bytes;
                          return true;
                        })) {
          return false;
        }
        entries_.push_back(entry);
        return true;
      });
}

bool PropertyEntries(absl::string_view payload,
                     std::vector<absl::string_view>* entries) {
  entries->clear();
  hark::v1::Value value;
  return ReadFields(
      payload, kEventTags, [&](uint32_t, absl::string_view entry_bytes) {
        bool well_formed = true;
        if (!ReadFields(entry_bytes, kEntryTags,
                        [&](uint32_t tag, absl::string_view b) {
                          well_formed &=
                              tag == kKeyTag
                                  ? WireFormatLite::VerifyUtf8String(
                                        b.data(), static_cast<int>(b.size()),
                                        WireFormatLite::PARSE,
                                        "hark.v1.Event.properties")
                                  : DecodeValue(b, &value);
                          return well_formed;
                        })) {
          return false;
        }
        entries->push_back(entry_bytes);
        return true;
      });
}

const hark::v1::Value* PayloadProperties::Prop(absl::string_view key) const {
  if (!scanned_) {
    scanned_ = true;
    if (!Scan()) entries_.clear();
  }
  // The last entry of a key wins, as when the map is parsed.
  for (size_t i = entries_.size(); i-- > 0;) {
    Entry& entry = entries_[i];
    if (entry.key != key) continue;
    if (entry.parsed == -1) {
      if (used_ == values_.size()) values_.emplace_back();
      hark::v1::Value& value = values_[used_];
      if (DecodeValue(entry.value, &value)) {
        entry.parsed = static_cast<int32_t>(used_++);
      } else {
        entry.parsed = -2;
      }
    }
    return entry.parsed >= 0 ? &values_[static_cast<size_t>(entry.parsed)]
                             : nullptr;
  }
  return nullptr;
}

}  // namespace hark::engine
