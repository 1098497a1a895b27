#ifndef HARK_SERVER_RUNTIME_MATCH_CONTEXT_H_
#define HARK_SERVER_RUNTIME_MATCH_CONTEXT_H_

// Writes a match's context, the serialized hark.v1.Match stored with it,
// straight from the bytes at hand: the matched events' properties are
// copied from their stored payloads entry by entry, without the events
// being parsed into messages and the Match built and serialized (which cost
// the engine thread ~5 us per match, BENCHMARKS.md). Parsed, the bytes are
// the message the fields describe, with:
//   - match_id, rule_id, rule_version, user_id, group_key, matched_at (set
//     even at the epoch) from the match;
//   - per matched event, in the order added (before or after the traits: a
//     parse takes fields in any order): alias, timestamp (always
//     set), and, if the event was found in the log, event_id and name from
//     its record and its properties from its payload (none if the payload
//     does not parse as an Event);
//   - per trait added: traits[key] = value.
// Not thread-safe; reused from match to match (its buffers stay).

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "hark/v1/common.pb.h"
#include "server/engine/engine.h"
#include "server/store/store.h"

namespace hark::runtime {

class MatchContextWriter {
 public:
  // Forgets the previous context and writes the match's own fields.
  void Start(const engine::MatchOut& match);
  // One matched event; `event` is its record in the log, or nullptr if it
  // is not there any more.
  void AddEvent(absl::string_view alias, absl::Time time,
                const store::EventRecord* event);
  // One trait of the user at the match.
  void AddTrait(absl::string_view key, const hark::v1::Value& value);
  // The context written since Start(), moved out.
  std::string Take();
  // Goes on writing a context that Take() returned (to add events to it
  // later, when their records are at hand).
  void Continue(std::string context);

 private:
  std::string out_;
  // A matched event's bytes, which go into out_ after their length.
  std::string event_;
  std::string scratch_;
  std::vector<absl::string_view> entries_;
};

}  // namespace hark::runtime

#endif  // HARK_SERVER_RUNTIME_MATCH_CONTEXT_H_
