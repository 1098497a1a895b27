#include "server/engine/event_ref.h"

#include <cstdint>
#include <string>

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
    uint32_t size;
    if (!in.ReadVarint32(&size)) return false;
    const int at = in.CurrentPosition();
    // A size past INT_MAX turns negative, which Skip() refuses.
    if (!in.Skip(static_cast<int>(size))) return false;
    if (!on_field(tag, bytes.substr(static_cast<size_t>(at), size))) {
      return false;
    }
  }
  // False when ReadTag() stopped on bad bytes rather than at the end.
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
      if (value.ParseFromArray(entry.value.data(),
                               static_cast<int>(entry.value.size()))) {
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
