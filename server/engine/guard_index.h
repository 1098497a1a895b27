#ifndef HARK_SERVER_ENGINE_GUARD_INDEX_H_
#define HARK_SERVER_ENGINE_GUARD_INDEX_H_

// Rule steps indexed by the property value their predicates need
// (rules::EqualityGuard: a leading `props.k == literal` or
// `props.k in [...]`). Real rule sets put many rules on one event name,
// told apart by a property: 25 rules on `page_view`, one per path, or on
// `error`, one per code. Without the index an event evaluates every one of
// their predicates, each looking up the property again; with it, one
// lookup of the property and one hash probe per indexed property tell
// which steps can pass, and only those are evaluated.
//
// Per event: Begin() with the event's name and properties, then Check()
// for each guarded step of that name. Thread-compatible.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/rules/expr.h"

namespace hark::engine::internal {

class GuardIndex {
 public:
  // Adds a step on events named `event` whose predicate has `guard`, and
  // returns its slot for Check().
  uint32_t Add(absl::string_view event, const rules::EqualityGuard& guard);

  // The indexed properties of events named `name` (empty if none), for
  // Begin().
  std::vector<uint32_t> KeysOf(absl::string_view name) const;

  // Starts an event: looks up each of `keys` (KeysOf() its name) once in
  // `input` and marks the slots whose guard holds.
  void Begin(absl::Span<const uint32_t> keys, const rules::EvalInput& input);

  enum class Result {
    kPass,      // the guard holds: evaluate the predicate
    kFail,      // the property has another value: the predicate is false
    kMismatch,  // missing, or of another kind: false, one type mismatch
    kUnknown,   // not a step of the event Begin() saw: evaluate it
  };
  Result Check(uint32_t slot) const;

  size_t slots() const { return slots_.size(); }
  size_t keys() const { return keys_.size(); }

 private:
  // -0 and 0 are equal, and must land in one bucket.
  static double Normal(double d) { return d == 0 ? 0.0 : d; }

  enum class Kind : uint8_t { kMissing, kString, kNumber, kBool, kOther };
  static Kind KindOf(rules::EqualityGuard::Kind kind);

  // One property of one event name.
  struct Key {
    std::string prop;
    absl::flat_hash_map<std::string, std::vector<uint32_t>> strings;
    absl::flat_hash_map<double, std::vector<uint32_t>> numbers;
    std::vector<uint32_t> bools[2];
    // What Begin() found at `epoch`.
    uint64_t epoch = 0;
    Kind seen = Kind::kMissing;
  };
  struct Slot {
    uint32_t key;
    Kind kind;
    uint64_t pass_epoch = 0;  // the epoch in which the guard held
  };

  absl::flat_hash_map<std::string, std::vector<uint32_t>> keys_by_event_;
  std::vector<Key> keys_;
  std::vector<Slot> slots_;
  uint64_t epoch_ = 0;
};

}  // namespace hark::engine::internal

#endif  // HARK_SERVER_ENGINE_GUARD_INDEX_H_
