#ifndef HARK_SERVER_ENGINE_EVENT_REF_H_
#define HARK_SERVER_ENGINE_EVENT_REF_H_

// An event as the engine reads it: its user, name, time and properties by
// key. The properties come either from a hark.v1.Event message
// (MessageProperties) or straight from its serialized form, the payload
// the event log holds (PayloadProperties): the engine thread of harkd
// reads the few properties its rules test without parsing the whole event
// into a message (a map of strings and values per event).

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hark/v1/common.pb.h"
#include "hark/v1/ingest.pb.h"

namespace hark::engine {

// The properties of one event.
class PropertySource {
 public:
  virtual ~PropertySource() = default;
  // The property `key`, or nullptr if the event has none. Valid until the
  // source changes events.
  virtual const hark::v1::Value* Prop(absl::string_view key) const = 0;
};

struct EventRef {
  absl::string_view user_id;
  absl::string_view name;
  absl::Time time;
  // Not null; must outlive the Engine::Process call.
  const PropertySource* props;
};

// The properties of a hark.v1.Event message, which must outlive it.
class MessageProperties final : public PropertySource {
 public:
  explicit MessageProperties(const hark::v1::Event& event) : event_(event) {}
  const hark::v1::Value* Prop(absl::string_view key) const override;

 private:
  const hark::v1::Event& event_;
};

// The properties of a serialized hark.v1.Event (field 5, `properties`),
// found in the bytes themselves: the payload is scanned at the first
// lookup, and a property's value is parsed when it is first asked for.
// Meant to be reused from event to event (its buffers stay). Reads as a
// parse of the message would: the last entry of a key wins, an entry
// without a value has an empty Value. A payload that does not parse as an
// Event (damaged bytes) has no properties, nor does a property whose value
// does not parse as a Value.
class PayloadProperties final : public PropertySource {
 public:
  // Forgets the previous event; `payload` must outlive the lookups.
  void Reset(absl::string_view payload);
  const hark::v1::Value* Prop(absl::string_view key) const override;

 private:
  struct Entry {
    absl::string_view key;
    absl::string_view value;
    // The index in values_ once parsed, -1 before, -2 if it failed.
    int32_t parsed = -1;
  };
  // Fills entries_ from payload_; false (and no entries) if the payload is
  // not a well-formed Event.
  bool Scan() const;

  absl::string_view payload_;
  mutable bool scanned_ = false;
  mutable std::vector<Entry> entries_;
  // Parsed values, reused from event to event; used_ of them are this
  // event's. A deque: a lookup must not move the values returned before.
  mutable std::deque<hark::v1::Value> values_;
  mutable size_t used_ = 0;
};

// The entries of the `properties` map of a serialized hark.v1.Event, each
// the bytes of one map entry (its key and value fields), in the payload's
// order: another message's map<string, Value> takes them as they are
// (runtime::MatchContextWriter), without the event being parsed. Checked as
// a parse would check them (keys and string values UTF-8, values well
// formed), so that the message they go into parses. False, with `entries`
// unspecified, if the payload does not parse as an Event.
bool PropertyEntries(absl::string_view payload,
                     std::vector<absl::string_view>* entries);

}  // namespace hark::engine

#endif  // HARK_SERVER_ENGINE_EVENT_REF_H_
