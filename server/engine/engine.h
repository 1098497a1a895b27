#ifndef HARK_SERVER_ENGINE_ENGINE_H_
#define HARK_SERVER_ENGINE_ENGINE_H_

// The matching engine (DESIGN.md, "Engine semantics"): per-user state for
// every rule of a RuleSet, an event-time watermark and deadlines. One Engine
// is one shard and is single-threaded (thread-compatible): its owner feeds
// it events and clock ticks from one thread.
//
// Semantics (times are event times, with microsecond resolution):
// - Watermark = max(latest event time, latest AdvanceTo wall time) -
//   allowed_lateness; it never moves back. An event with time < watermark
//   on arrival is late: counted; `match` rules still evaluate it; `count`
//   and `sequence` (steps and absent events) ignore it.
// - Events apply on arrival; a match is emitted by the call that completes
//   it. Before an event is applied, the watermark moves and every deadline
//   it passed fires, so those matches come first in `*out`.
// - `within` is inclusive. count: at least N matching events whose first
//   and last times are at most `within` apart, the last N by event time
//   being kept sorted (out-of-order events take their place); on a match
//   the group starts over. matched_at = the newest of the N (the completing
//   event's time when events arrive in order). An event lacking a group_by
//   property does not count (counted in type_mismatches).
// - sequence: each later step at most `within` after the first step and not
//   older than the previous step; the current step is tried first, then
//   step 0 (a repeated first step restarts the sequence, unless it is older
//   than the open sequence's start). With `absent`: the last step arms a
//   deadline at its time + within; an absent event with time in (last step,
//   deadline] cancels it; once the watermark passes the deadline the match
//   fires with matched_at = deadline, at_deadline = true. A restart whose
//   time is past the armed deadline fires the old attempt first.
// - State lives as long as it can still match: count until its newest kept
//   event is older than watermark - within, sequences until first step +
//   within (or the deadline) is older than the watermark.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hark/v1/common.pb.h"
#include "hark/v1/ingest.pb.h"
#include "server/engine/event_ref.h"
#include "server/rules/rule_set.h"

namespace hark::engine {

struct EngineOptions {
  // Watermark = max(latest event time seen, wall clock) - allowed_lateness.
  // Events older than the watermark are late (see Engine::Process).
  absl::Duration allowed_lateness = absl::Minutes(1);
  // Matches whose events all lie at or before this log seq get match ids
  // of the first format: 16 hex digits of a hash of the match. The others
  // get 32: the highest seq of their events, then the hash, so that ids
  // grow with the log and a store's index of them takes each new one at
  // its end instead of at a random place. A store that held matches
  // before the change says up to where (store::Store::
  // LegacyMatchIdsThrough()): a match found again by a replay then gets
  // the id it was stored with.
  int64_t legacy_match_ids_through = 0;
};

// The user's traits, as the engine reads them for `user.x` predicates.
class TraitSource {
 public:
  virtual ~TraitSource() = default;
  // nullptr if the user has no such trait.
  virtual const hark::v1::Value* Trait(absl::string_view user_id,
                                       absl::string_view key) const = 0;
};

// An event of a match, by its position in the event log.
struct MatchedEventRef {
  int64_t seq = 0;
  absl::Time time;
  // Index of the sequence step (or -1 for match/count patterns).
  int step = -1;
};

struct MatchOut {
  // Deterministic: the same match found again (replay after a crash) has the
  // same id, so storing it is idempotent. Its form: see
  // EngineOptions::legacy_match_ids_through.
  std::string match_id;
  std::string rule_id;
  std::string rule_version;
  std::string user_id;
  // Values of group_by keys joined with "|"; empty without group_by.
  std::string group_key;
  // The moment of the match: the last event's time, or the deadline of an
  // absence pattern.
  absl::Time matched_at;
  bool at_deadline = false;
  std::vector<MatchedEventRef> events;
};

// What a rule reload did to the state of each rule id.
struct ReloadReport {
  std::vector<std::string> kept;     // same id and version: state kept
  std::vector<std::string> reset;    // same id, new version: state dropped
  std::vector<std::string> dropped;  // no longer in the set: state dropped
  std::vector<std::string> added;
};

// What Engine::DropUser() removed.
struct DropReport {
  // Open (rule, group) slots freed, armed absence deadlines included.
  uint64_t slots = 0;
  // Of those, armed absence deadlines that will now never fire.
  uint64_t deadlines = 0;
};

struct EngineStats {
  uint64_t events = 0;       // events processed
  uint64_t late_events = 0;  // older than the watermark on arrival
  uint64_t matches = 0;      // matches emitted
  uint64_t live_states = 0;  // open (user, rule, group) slots
  uint64_t users = 0;        // users with at least one open slot
  // Memory held by the state (estimate of allocated bytes): the per-user
  // blocks holding the slots, the user index and the deadline wheel.
  uint64_t state_bytes = 0;
  // Absence deadlines waiting for the watermark.
  uint64_t pending_deadlines = 0;
  // Predicate comparisons on missing/wrong-typed values, plus count events
  // that lack a group_by property (those do not count).
  uint64_t type_mismatches = 0;
  absl::Time watermark = absl::InfinitePast();
};

class Engine {
 public:
  Engine(std::shared_ptr<const rules::RuleSet> rules,
         const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Feeds one committed event (`seq` is its position in the event log and
  // must increase from call to call). Appends the matches it completes, and
  // the deadlines its time lets the watermark pass, to `*out`. Late events
  // (time < watermark) are counted and handled as described above.
  void Process(int64_t seq, const EventRef& event, const TraitSource& traits,
               std::vector<MatchOut>* out);
  // The same for an event message (its properties read from the map).
  void Process(int64_t seq, const hark::v1::Event& event,
               const TraitSource& traits, std::vector<MatchOut>* out);

  // Moves the watermark with the wall clock and fires every deadline it
  // passed (absence patterns), freeing state whose window closed.
  void AdvanceTo(absl::Time wall_now, std::vector<MatchOut>* out);

  // Swaps the rule set between events: rules with the same id and version
  // keep their state (even at a new position in the set), the others start
  // fresh. O(total state).
  ReloadReport Reload(std::shared_ptr<const rules::RuleSet> rules);

  const rules::RuleSet& rules() const;
  std::shared_ptr<const rules::RuleSet> rules_ptr() const;

  // The log position of the last processed event (0 if none).
  int64_t last_seq() const;

  // Forgets everything the engine holds about `user_id` (deleting a user):
  // frees every open slot of every rule and cancels the user's armed
  // absence deadlines, so no match can fire for the user from events fed
  // before this call. Later events of the user start from nothing. The
  // watermark and last_seq() do not move; stats() reflect the drop at once
  // and Checkpoint() no longer contains the user. O(the user's state); a
  // user the engine does not hold costs one lookup and drops nothing.
  DropReport DropUser(absl::string_view user_id);

  // Serializes all state (slots, deadlines, watermark, last_seq, rule
  // versions) into a compact binary string, about the size of the state: a
  // full checkpoint. Restore() on an engine built with any rule set keeps
  // the state of rules whose id and version are unchanged and drops the
  // rest; it replaces the engine's state (counters in stats() other than
  // the state's are not restored). Deadlines that are already due fire at
  // the next AdvanceTo() or event, once. DATA_LOSS on a malformed
  // checkpoint, leaving the state as it was.
  std::string Checkpoint();

  // Incremental checkpoints. A delta holds what changed since the previous
  // Checkpoint() or CheckpointDelta(): every user whose state changed (all
  // of its state), the users whose state is gone, and the watermark,
  // last_seq and rule versions. Its cost follows the users changed, not
  // the state: with a million users of which a few thousand are active,
  // it is a thousandth of a full one. Restore(full, deltas) applies the
  // deltas in order on top of the full checkpoint they followed.
  // FAILED_PRECONDITION unless CanCheckpointDelta(): true after
  // Checkpoint() and after a Restore() whose checkpoints all had this
  // engine's rule set, false after Reload() (which rewrites every record)
  // until the next Checkpoint().
  absl::StatusOr<std::string> CheckpointDelta();
  bool CanCheckpointDelta() const;
  // The same checkpoints written in pieces, for a caller that stores them
  // as they come instead of holding a second copy of the state: `put`
  // receives, in order, pieces of about `piece_bytes` (each ends at a
  // user, so one may be a user's state over) whose concatenation is what
  // Checkpoint() or CheckpointDelta() would return. `put` must not use the
  // engine. An error from `put` stops the writing and is returned; the
  // changes then stay tracked, as if no checkpoint had been taken.
  using CheckpointPut = absl::FunctionRef<absl::Status(absl::string_view)>;
  absl::Status WriteCheckpoint(size_t piece_bytes, CheckpointPut put);
  absl::Status WriteCheckpointDelta(size_t piece_bytes, CheckpointPut put);
  // The users a delta would hold now (changed or gone), to choose between
  // a delta and a full checkpoint.
  uint64_t changed_users() const;

  absl::Status Restore(absl::string_view checkpoint,
                       absl::Span<const std::string> deltas = {});

  EngineStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The outcome of one `tests:` case.
struct TestOutcome {
  std::string path;
  std::string name;
  bool passed = false;
  // "rule user at=30m", sorted; filled when the test fails.
  std::vector<std::string> expected;
  std::vector<std::string> actual;
};

// Runs every `tests:` case of `rules` on a fresh Engine with a pseudo clock
// (no wall time involved): events in `at` order, the clock advanced to each
// event, then to the end of the test.
std::vector<TestOutcome> RunRuleTests(const rules::RuleSet& rules,
                                      const EngineOptions& options);

}  // namespace hark::engine

#endif  // HARK_SERVER_ENGINE_ENGINE_H_
