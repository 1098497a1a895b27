#ifndef HARK_SERVER_RUNTIME_ENGINE_RUNNER_H_
#define HARK_SERVER_RUNTIME_ENGINE_RUNNER_H_

// Runs the matching engine inside harkd: a thread that takes committed
// event batches from the ingest writer, feeds them to the engine, advances
// the watermark with the clock, stores matches with their context and makes
// the engine's state durable by coalesced checkpoints (DESIGN.md, "Engine
// semantics": checkpoints plus replay of the event log past them).

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hark/clock.h"
#include "server/engine/engine.h"
#include "server/rules/rule_set.h"
#include "server/runtime/match_context.h"
#include "server/store/store.h"

namespace hark::runtime {

struct RunnerOptions {
  // Its legacy_match_ids_through is the store's (Start() reads it).
  engine::EngineOptions engine;
  // How often the watermark follows the clock when no events arrive; bounds
  // how late an absence match fires after its deadline.
  absl::Duration tick = absl::Milliseconds(20);
  // A checkpoint is written when this much time passed since the last one
  // and events were processed since (coalesced: never per event). Most are
  // deltas: the users changed since the previous one (see SaveCheckpoint).
  absl::Duration checkpoint_every = absl::Seconds(10);
  // Committed events waiting for the engine; beyond it the ingest writer
  // waits, so ingestion is pushed back instead of memory growing.
  size_t queue_capacity_events = 200000;
  // Matches are stored as soon as they are found (after each round of
  // batches), for trigger latency, until more than `batch_matches_above`
  // were found in the current or the previous second. Under such a load
  // they are stored in batches instead, each at most `match_batch_delay`
  // (plus a tick) after its first match was found, or as soon as it holds
  // `match_batch_max` matches (which bounds the memory they take): every
  // match writes index entries at random pages of the matches table, which
  // the matches of one transaction share (BENCHMARKS.md: ~1.5 pages per
  // match in batches of 300, ~0.8 in batches of 900, ~0.4 in batches of
  // 3,000, and a quarter less CPU from 900 to 3,000; 1 s instead of 250 ms
  // made hark-bench's streams with 100 rules 7% faster). A caller of
  // AfterCaughtUp, a deletion, a reload and a checkpoint still get them
  // stored at once.
  size_t batch_matches_above = 1000;
  absl::Duration match_batch_delay = absl::Seconds(1);
  size_t match_batch_max = 20000;
  // Called on the engine thread with the matches just stored (also those
  // found while replaying at start, which may have been stored before: the
  // receiver must be idempotent). Must not block for long.
  std::function<void(std::vector<store::MatchRecord>)> on_matches;
  // Called on the engine thread after a reload swapped the rule set.
  std::function<void(const std::shared_ptr<const rules::RuleSet>&)> on_rules;
};

// The user traits the engine reads, kept in memory (loaded at start, then
// updated from every committed IdentifyUser). Engine thread only.
class TraitCache final : public engine::TraitSource {
 public:
  const hark::v1::Value* Trait(absl::string_view user_id,
                               absl::string_view key) const override;
  void Set(const store::TraitRecord& trait);
  // Forgets every trait of the user (a deleted user).
  void Erase(absl::string_view user_id);
  // Calls `fn(key, value)` for each trait of the user (none if unknown).
  void ForEach(
      absl::string_view user_id,
      absl::FunctionRef<void(absl::string_view, const hark::v1::Value&)> fn)
      const;

 private:
  struct Entry {
    hark::v1::Value value;
    absl::Time set_at;
  };
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, Entry>>
      users_;
};

struct RulesInfo {
  std::shared_ptr<const rules::RuleSet> rules;
  absl::Time loaded_at;
  // A folder path, or "ApplyRules".
  std::string source;
};

struct RunnerStats {
  engine::EngineStats engine;
  uint64_t queued_events = 0;
  uint64_t matches_stored = 0;
  // Found and not stored yet (see RunnerOptions::batch_matches_above).
  uint64_t matches_unstored = 0;
  // Checkpoints saved, of which deltas (Engine::CheckpointDelta).
  uint64_t checkpoints = 0;
  uint64_t checkpoint_deltas = 0;
  int64_t checkpoint_seq = 0;
  // The size of the checkpoint in force: the full one and its deltas, as
  // the engine wrote them and as the store keeps them (compressed; 0 if
  // the store cannot tell).
  uint64_t checkpoint_bytes = 0;
  uint64_t checkpoint_stored_bytes = 0;
  uint64_t replayed_events = 0;
};

class EngineRunner {
 public:
  // Loads the traits and the last checkpoint, replays the event log past it
  // and starts the engine thread. `store` and `clock` must outlive it.
  static absl::StatusOr<std::unique_ptr<EngineRunner>> Start(
      store::Store* store, const Clock* clock, RulesInfo rules,
      const RunnerOptions& options);
  ~EngineRunner();

  // Hands a committed batch to the engine thread. Called on the ingest
  // writer thread; waits only while the engine's queue is full.
  void OnCommitted(store::WriteBatch&& batch, const store::WriteResult& result);

  // Swaps the rule set between batches; `done` runs on the engine thread
  // with what happened to each rule's state.
  void Reload(RulesInfo rules,
              absl::AnyInvocable<void(engine::ReloadReport)> done);

  // Runs `done` (on the engine thread) once every batch handed over before
  // this call is processed and its matches are stored: read-your-writes for
  // ListMatches, so a caller that got an ack sees the matches it caused.
  void AfterCaughtUp(absl::AnyInvocable<void()> done);

  // Deletes `user_id` from the engine and lets the caller delete the
  // user's rows (Admin.DeleteUser). On the engine thread, between batches,
  // in this order:
  //   1. every batch handed over before this call is processed and its
  //      matches are stored (as AfterCaughtUp);
  //   2. Engine::DropUser frees the user's open slots and armed absence
  //      deadlines;
  //   3. a checkpoint is written at once (usually a delta that says the
  //      user is gone);
  //   4. `store_delete(report)` runs: the caller deletes the rows
  //      (Store::DeleteUser);
  //   5. if it succeeded, the user's traits leave the trait cache, and
  //      the user's events and traits still queued here, committed before
  //      step 4 began (so the store deleted them), are dropped unfed;
  //   6. `done` gets the drop report, or the first error: UNAVAILABLE if
  //      the matches of step 1 cannot be stored or the checkpoint fails
  //      (step 4 is then skipped), else `store_delete`'s status.
  // Why: a restart rebuilds the engine from the latest checkpoint plus the
  // log past it. A crash before the checkpoint of step 3 is durable leaves
  // the old checkpoint and every row, so the restart rebuilds the user as
  // before the call; a failed checkpoint leaves every row too (the state
  // in memory is gone either way, and the next checkpoint is a full one);
  // the caller retries. After it, the durable checkpoint (a full one and
  // its deltas, read together) holds nothing of the user, so whether or not
  // step 4 committed (one transaction), no partial match or deadline of the
  // user can come back and fire; a retry deletes any rows left (and drops
  // nothing). Rows first, then the checkpoint, would lose that: a crash in
  // between restores the older checkpoint with the user's partial matches
  // and deadlines, whose events are gone from the log.
  // Events of the user committed while step 4 runs may or may not be
  // deleted by the store; the engine keeps them. The engine thread waits
  // for `store_delete` (no matching meanwhile; ingestion is pushed back
  // once the queue is full), so deletions must stay rare; `store_delete`
  // and `done` must not wait for the engine thread. An empty user_id gets
  // INVALID_ARGUMENT and a call after Shutdown() UNAVAILABLE, with `done`
  // run on the calling thread and `store_delete` not at all.
  void DeleteUser(
      std::string user_id,
      absl::AnyInvocable<absl::Status(const engine::DropReport&)> store_delete,
      absl::AnyInvocable<void(absl::StatusOr<engine::DropReport>)> done);

  RulesInfo rules() const;
  RunnerStats stats() const;

  // Processes what is queued, writes a final checkpoint and joins the
  // thread. Call after the ingest writer has stopped. Idempotent.
  void Shutdown();

 private:
  struct Batch {
    store::WriteBatch batch;
    int64_t first_seq = 0;
    // Batches handed over so far, this one included (1, 2, ...).
    uint64_t number = 0;
  };
  struct Waiter {
    int64_t seq;  // handed_seq_ when the waiter came
    absl::AnyInvocable<void()> done;
  };
  struct PendingReload {
    RulesInfo rules;
    absl::AnyInvocable<void(engine::ReloadReport)> done;
  };
  struct PendingDeletion {
    std::string user_id;
    int64_t seq;  // handed_seq_ when the call came
    absl::AnyInvocable<absl::Status(const engine::DropReport&)> store_delete;
    absl::AnyInvocable<void(absl::StatusOr<engine::DropReport>)> done;
  };
  // A deleted user whose queued data the store deleted: batches up to
  // `through` (Batch::number) are fed without the user's events and traits.
  struct Discard {
    std::string user_id;
    uint64_t through;
  };

  EngineRunner(store::Store* store, const Clock* clock, RulesInfo rules,
               const RunnerOptions& options);
  absl::Status Recover();
  void Loop();
  // Feeds one batch; collects matches in `matches_`. Skips rows without a
  // user (tombstones of deleted users) and discarded users' data.
  void Feed(Batch& batch);
  bool Discarded(absl::string_view user_id, uint64_t batch) const;
  // Steps 2-6 of DeleteUser(), once step 1 is done.
  void RunDeletion(PendingDeletion& deletion);
  void ProcessEvent(int64_t seq, const store::EventRecord& record);
  // Moves the engine's matches to `unstored_`, with what their context
  // must take from this moment: the user's traits, and the matched events
  // that `fed` holds (into held_). Engine thread only.
  void CollectMatches(const std::deque<Batch>& fed = {});
  // Writes the contexts of `unstored_` (the matched events not held come
  // from the log, in one read) and stores them.
  void StoreMatches();
  // Both; true if no match is left unstored.
  bool FlushMatches();
  // Whether matches may wait to be stored with later ones (see
  // RunnerOptions::batch_matches_above).
  bool MayBatchMatches(absl::Time now) const;
  // The event at `seq` if one of `fed` holds it.
  static const store::EventRecord* FedEvent(const std::deque<Batch>& fed,
                                            int64_t seq);
  // Fails (nothing written) while matches wait to be stored.
  absl::Status SaveCheckpoint();

  store::Store* const store_;
  const Clock* const clock_;
  const RunnerOptions options_;

  // Engine-thread state.
  engine::Engine engine_;
  // The properties of the event being processed (ProcessEvent).
  engine::PayloadProperties props_;
  TraitCache traits_;
  // Writes each match's context (CollectMatches, then StoreMatches).
  MatchContextWriter context_;
  // Matches found and not collected yet.
  std::vector<engine::MatchOut> matches_;
  // Matches collected and not stored yet; the first was found at
  // unstored_since_. A record's context holds its match's fields and
  // traits; its events are written by StoreMatches.
  struct UnstoredEvent {
    int64_t seq;
    absl::Time time;
    std::string alias;  // of the rule set the match was found with
  };
  struct Unstored {
    store::MatchRecord record;
    std::vector<UnstoredEvent> events;
  };
  std::vector<Unstored> unstored_;
  absl::Time unstored_since_;
  // Matched events of unstored_: taken from the batches they came in, and
  // read from the log by StoreMatches (kept if the store then fails).
  absl::flat_hash_map<int64_t, store::EventRecord> held_;
  // Matches found in the current second (from match_second_) and the one
  // before.
  absl::Time match_second_ = absl::InfinitePast();
  size_t matches_this_second_ = 0;
  size_t matches_last_second_ = 0;
  // The last log seq fed to the engine or skipped (engine_.last_seq()
  // counts only the events the engine saw).
  int64_t fed_seq_ = 0;
  std::vector<Discard> discards_;
  int64_t checkpoint_seq_ = 0;
  absl::Time last_checkpoint_;
  // The checkpoint in force in the store: whether it reflects the engine's
  // state as of its last checkpoint (so a delta can follow), and its size.
  bool chain_ok_ = false;
  uint64_t full_bytes_ = 0;
  uint64_t delta_bytes_ = 0;

  mutable absl::Mutex mu_;
  std::deque<Batch> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_events_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<PendingReload> reloads_ ABSL_GUARDED_BY(mu_);
  std::vector<Waiter> waiters_ ABSL_GUARDED_BY(mu_);
  std::vector<PendingDeletion> deletions_ ABSL_GUARDED_BY(mu_);
  // The last event seq handed over by OnCommitted().
  int64_t handed_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t handed_batches_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The engine thread has finished: nothing queued now would run.
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  RulesInfo rules_info_ ABSL_GUARDED_BY(mu_);
  RunnerStats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex join_mu_;
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace hark::runtime

#endif  // HARK_SERVER_RUNTIME_ENGINE_RUNNER_H_
