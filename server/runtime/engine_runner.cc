#include "server/runtime/engine_runner.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "hark/status_macros.h"
#include "hark/thread_name.h"
#include "spdlog/spdlog.h"

namespace hark::runtime {
namespace {

constexpr int kShard = 0;
// Checkpoints go to the store in pieces of about this size: small enough
// to stay in cache between the engine writing a piece and the store copying
// it, and under the SQLite store's 1 MiB parts with room for the user a
// piece ends with (a bigger piece is cut in two parts).
constexpr size_t kCheckpointPieceBytes = (size_t{1} << 20) - (size_t{64} << 10);

// The alias of step `step` of `rule_id`'s sequence, if it has one.
absl::string_view StepAlias(const rules::RuleSet& set,
                            absl::string_view rule_id, int step) {
  const rules::Rule* rule = set.Find(rule_id);
  if (rule == nullptr || step < 0) return "";
  const auto* sequence = std::get_if<rules::SequencePattern>(&rule->pattern);
  if (sequence == nullptr || step >= static_cast<int>(sequence->steps.size())) {
    return "";
  }
  return sequence->steps[step].alias;
}

}  // namespace

const hark::v1::Value* TraitCache::Trait(absl::string_view user_id,
                                         absl::string_view key) const {
  auto user = users_.find(user_id);
  if (user == users_.end()) return nullptr;
  auto it = user->second.find(key);
  return it == user->second.end() ? nullptr : &it->second.value;
}

void TraitCache::Set(const store::TraitRecord& trait) {
  Entry& entry = users_[trait.user_id][trait.key];
  // Same rule as the store: the latest set_at wins.
  if (entry.set_at > trait.set_at) return;
  if (!entry.value.ParseFromString(trait.value)) {
    entry.value.Clear();
  }
  entry.set_at = trait.set_at;
}

void TraitCache::Erase(absl::string_view user_id) { users_.erase(user_id); }

void TraitCache::ForEach(
    absl::string_view user_id,
    absl::FunctionRef<void(absl::string_view, const hark::v1::Value&)> fn)
    const {
  auto user = users_.find(user_id);
  if (user == users_.end()) return;
  for (const auto& [key, entry] : user->second) fn(key, entry.value);
}

EngineRunner::EngineRunner(store::Store* store, const Clock* clock,
                           RulesInfo rules, const RunnerOptions& options)
    : store_(store),
      clock_(clock),
      options_(options),
      engine_(rules.rules, options.engine),
      last_checkpoint_(clock->Now()),
      rules_info_(std::move(rules)) {}

absl::StatusOr<std::unique_ptr<EngineRunner>> EngineRunner::Start(
    store::Store* store, const Clock* clock, RulesInfo rules,
    const RunnerOptions& options) {
  RunnerOptions with_ids = options;
  ASSIGN_OR_RETURN(with_ids.engine.legacy_match_ids_through,
                   store->LegacyMatchIdsThrough());
  std::unique_ptr<EngineRunner> runner(
      new EngineRunner(store, clock, std::move(rules), with_ids));
  RETURN_IF_ERROR(runner->Recover());
  {
    absl::MutexLock lock(&runner->join_mu_);
    runner->thread_ = std::thread([r = runner.get()] {
      SetThreadName("hark-engine");
      r->Loop();
    });
  }
  return runner;
}

EngineRunner::~EngineRunner() { Shutdown(); }

absl::Status EngineRunner::Recover() {
  RETURN_IF_ERROR(store_->ScanTraits(
      [this](const store::TraitRecord& trait) { traits_.Set(trait); }));
  absl::StatusOr<std::optional<store::Checkpoint>> loaded =
      store_->LoadCheckpoint(kShard);
  if (!loaded.ok() && loaded.status().code() != absl::StatusCode::kDataLoss) {
    return loaded.status();
  }
  if (!loaded.ok()) {
    // A damaged checkpoint is only a shortcut lost: the log has everything.
    spdlog::warn(
        "engine checkpoint damaged ({}); replaying the event log from the "
        "start",
        loaded.status().ToString());
  }
  std::optional<store::Checkpoint> checkpoint =
      loaded.ok() ? *std::move(loaded) : std::nullopt;
  if (checkpoint.has_value()) {
    absl::Status restored =
        engine_.Restore(checkpoint->state, checkpoint->deltas);
    if (!restored.ok()) {
      // A checkpoint this build cannot read: start the engine empty and
      // replay the whole log rather than refuse to start.
      spdlog::warn(
          "engine checkpoint unreadable ({}); replaying the event "
          "log from the start",
          restored.ToString());
    } else {
      checkpoint_seq_ = checkpoint->last_seq;
      full_bytes_ = checkpoint->state.size();
      for (const std::string& delta : checkpoint->deltas) {
        delta_bytes_ += delta.size();
      }
      // Deltas may go on from the chain in force.
      chain_ok_ = true;
    }
  }
  // Replay what was committed after the checkpoint. The store may not be
  // called from inside the scan, so matches are stored afterwards.
  uint64_t replayed = 0;
  fed_seq_ = engine_.last_seq();
  RETURN_IF_ERROR(store_->ScanEvents(
      checkpoint_seq_, [&](int64_t seq, const store::EventRecord& record) {
        fed_seq_ = std::max(fed_seq_, seq);
        // A row without a user is what the store leaves of a deleted
        // user's event (its scans should skip those already): nothing to
        // match, and its time says nothing.
        if (record.user_id.empty()) return;
        // Deadlines between replayed events fire in event-time order.
        engine_.AdvanceTo(record.event_time, &matches_);
        ProcessEvent(seq, record);
        ++replayed;
      }));
  engine_.AdvanceTo(clock_->Now(), &matches_);
  if (!FlushMatches()) {
    return absl::UnavailableError(
        "could not store the matches found while replaying the event log");
  }
  if (replayed > 0) {
    spdlog::info("engine: replayed {} events after checkpoint seq {}", replayed,
                 checkpoint_seq_);
  }
  SaveCheckpoint().IgnoreError();  // logged; the next one retries
  absl::MutexLock lock(&mu_);
  handed_seq_ = fed_seq_;
  stats_.replayed_events = replayed;
  stats_.engine = engine_.stats();
  return absl::OkStatus();
}

void EngineRunner::OnCommitted(store::WriteBatch&& batch,
                               const store::WriteResult& result) {
  if (batch.events.empty() && batch.traits.empty()) return;
  const size_t weight = batch.events.size() + batch.traits.size();
  absl::MutexLock lock(&mu_);
  auto has_room = [this, weight]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || queued_events_ == 0 ||
           queued_events_ + weight <= options_.queue_capacity_events;
  };
  mu_.Await(absl::Condition(&has_room));
  if (result.last_event_seq > 0) handed_seq_ = result.last_event_seq;
  queue_.push_back(
      Batch{std::move(batch), result.first_event_seq, ++handed_batches_});
  queued_events_ += weight;
}

void EngineRunner::AfterCaughtUp(absl::AnyInvocable<void()> done) {
  absl::MutexLock lock(&mu_);
  waiters_.push_back(Waiter{handed_seq_, std::move(done)});
}

void EngineRunner::DeleteUser(
    std::string user_id,
    absl::AnyInvocable<absl::Status(const engine::DropReport&)> store_delete,
    absl::AnyInvocable<void(absl::StatusOr<engine::DropReport>)> done) {
  if (user_id.empty()) {
    done(absl::InvalidArgumentError("DeleteUser: the user_id is empty"));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (!stopped_) {
      deletions_.push_back(PendingDeletion{std::move(user_id), handed_seq_,
                                           std::move(store_delete),
                                           std::move(done)});
      return;
    }
  }
  done(absl::UnavailableError(
      "DeleteUser: the engine has shut down; nothing was deleted"));
}

void EngineRunner::Reload(RulesInfo rules,
                          absl::AnyInvocable<void(engine::ReloadReport)> done) {
  absl::MutexLock lock(&mu_);
  reloads_.push_back(PendingReload{std::move(rules), std::move(done)});
}

RulesInfo EngineRunner::rules() const {
  absl::MutexLock lock(&mu_);
  return rules_info_;
}

RunnerStats EngineRunner::stats() const {
  absl::MutexLock lock(&mu_);
  RunnerStats stats = stats_;
  stats.queued_events = queued_events_;
  return stats;
}

void EngineRunner::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  absl::MutexLock lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

void EngineRunner::ProcessEvent(int64_t seq, const store::EventRecord& record) {
  // The record has the event's user, name and time; the properties the
  // rules test are read from the payload as they are asked for, without
  // parsing the whole event (events no rule looks at are not read at all).
  props_.Reset(record.payload);
  engine_.Process(
      seq,
      engine::EventRef{record.user_id, record.name, record.event_time, &props_},
      traits_, &matches_);
}

void EngineRunner::Feed(Batch& batch) {
  if (!discards_.empty()) {
    std::erase_if(discards_, [&batch](const Discard& d) {
      return d.through < batch.number;
    });
  }
  for (const store::TraitRecord& trait : batch.batch.traits) {
    if (Discarded(trait.user_id, batch.number)) continue;
    traits_.Set(trait);
  }
  int64_t seq = batch.first_seq;
  for (const store::EventRecord& record : batch.batch.events) {
    const int64_t event_seq = seq++;
    // No user: a deleted user's tombstone, never handed over by the ingest
    // writer; skipped all the same.
    if (record.user_id.empty() || Discarded(record.user_id, batch.number)) {
      continue;
    }
    ProcessEvent(event_seq, record);
  }
  if (!batch.batch.events.empty()) fed_seq_ = std::max(fed_seq_, seq - 1);
}

bool EngineRunner::Discarded(absl::string_view user_id, uint64_t batch) const {
  for (const Discard& d : discards_) {
    if (batch <= d.through && d.user_id == user_id) return true;
  }
  return false;
}

void EngineRunner::RunDeletion(PendingDeletion& deletion) {
  // Step 1 (see DeleteUser): the caller's batches are fed; their matches
  // must be stored, or the checkpoint below could not be written. Rather
  // than wait while the store is down, the deletion fails.
  if (!FlushMatches()) {
    deletion.done(absl::UnavailableError(
        "DeleteUser: the engine could not store its pending matches; nothing "
        "was deleted, retry"));
    return;
  }
  const engine::DropReport report = engine_.DropUser(deletion.user_id);
  {
    absl::MutexLock lock(&mu_);
    stats_.engine = engine_.stats();
  }
  // Durable before any row goes: see DeleteUser for why.
  if (absl::Status saved = SaveCheckpoint(); !saved.ok()) {
    deletion.done(absl::UnavailableError(absl::StrCat(
        "DeleteUser: the engine checkpoint failed, so nothing was deleted "
        "from the store; retry: ",
        saved.message())));
    return;
  }
  uint64_t committed_batches;
  {
    absl::MutexLock lock(&mu_);
    committed_batches = handed_batches_;
  }
  absl::Status deleted = deletion.store_delete(report);
  if (!deleted.ok()) {
    // The rows, traits included, are still there for a retry.
    deletion.done(std::move(deleted));
    return;
  }
  traits_.Erase(deletion.user_id);
  // Queued batches were committed before the store's deletion began, so
  // it deleted their rows of the user: feeding them would rebuild state
  // from deleted events.
  discards_.push_back(Discard{deletion.user_id, committed_batches});
  deletion.done(report);
}

const store::EventRecord* EngineRunner::FedEvent(const std::deque<Batch>& fed,
                                                 int64_t seq) {
  for (const Batch& batch : fed) {
    // A batch's events have consecutive seqs from first_seq (the log
    // assigns them in one transaction).
    const int64_t index = seq - batch.first_seq;
    if (index >= 0 && index < static_cast<int64_t>(batch.batch.events.size())) {
      return &batch.batch.events[static_cast<size_t>(index)];
    }
  }
  return nullptr;
}

void EngineRunner::CollectMatches(const std::deque<Batch>& fed) {
  if (matches_.empty()) return;
  const absl::Time now = clock_->Now();
  if (now - match_second_ >= absl::Seconds(1)) {
    matches_last_second_ =
        now - match_second_ < absl::Seconds(2) ? matches_this_second_ : 0;
    matches_this_second_ = 0;
    match_second_ = now;
  }
  matches_this_second_ += matches_.size();
  if (unstored_.empty()) unstored_since_ = now;
  // No reserve() of the exact size here: rounds add to a batch for up to a
  // second (MayBatchMatches), and each would move the whole batch again.
  for (engine::MatchOut& match : matches_) {
    Unstored& u = unstored_.emplace_back();
    for (const engine::MatchedEventRef& ref : match.events) {
      // Matched events of the batches just fed are at hand; the others
      // (earlier steps, counted events, deadlines) come from the log when
      // the match is stored.
      if (!held_.contains(ref.seq)) {
        if (const store::EventRecord* e = FedEvent(fed, ref.seq)) {
          held_.emplace(ref.seq, *e);
        }
      }
      u.events.push_back(UnstoredEvent{
          ref.seq, ref.time,
          std::string(StepAlias(engine_.rules(), match.rule_id, ref.step))});
    }
    // What is of this moment goes into the context now: the traits.
    context_.Start(match);
    traits_.ForEach(match.user_id,
                    [this](absl::string_view key, const hark::v1::Value& v) {
                      context_.AddTrait(key, v);
                    });
    // matches_ is cleared below: its strings move.
    store::MatchRecord& record = u.record;
    record.match_id = std::move(match.match_id);
    record.rule_id = std::move(match.rule_id);
    record.rule_version = std::move(match.rule_version);
    record.user_id = std::move(match.user_id);
    record.group_key = std::move(match.group_key);
    record.matched_at = match.matched_at;
    record.at_deadline = match.at_deadline;
    record.created_at = now;
    record.context = context_.Take();
  }
  matches_.clear();
}

void EngineRunner::StoreMatches() {
  if (unstored_.empty()) return;
  // The matched events not held since they were fed, from the log in one
  // read for the whole batch: once each, in log order (matches of several
  // rules often share events, and neighbours in the log share pages).
  std::vector<int64_t> seqs;
  for (const Unstored& u : unstored_) {
    for (const UnstoredEvent& e : u.events) {
      if (!held_.contains(e.seq)) seqs.push_back(e.seq);
    }
  }
  std::sort(seqs.begin(), seqs.end());
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  absl::StatusOr<std::vector<store::EventRecord>> read =
      store_->GetEventsBySeq(seqs);
  if (!read.ok()) {
    spdlog::error("engine: cannot load matched events, will retry: {}",
                  read.status().ToString());
    return;
  }
  for (store::EventRecord& e : *read) held_.emplace(e.seq, std::move(e));

  std::vector<store::MatchRecord> records;
  records.reserve(unstored_.size());
  for (const Unstored& u : unstored_) {
    store::MatchRecord& record = records.emplace_back(u.record);
    context_.Continue(std::move(record.context));
    for (const UnstoredEvent& e : u.events) {
      auto it = held_.find(e.seq);
      context_.AddEvent(e.alias, e.time,
                        it == held_.end() ? nullptr : &it->second);
    }
    record.context = context_.Take();
  }
  absl::Status stored = store_->AppendMatches(records);
  if (!stored.ok()) {
    spdlog::error("engine: cannot store {} matches, will retry: {}",
                  records.size(), stored.ToString());
    return;
  }
  unstored_.clear();
  held_.clear();
  {
    absl::MutexLock lock(&mu_);
    stats_.matches_stored += records.size();
    stats_.matches_unstored = matches_.size();
  }
  if (options_.on_matches) options_.on_matches(std::move(records));
}

bool EngineRunner::FlushMatches() {
  CollectMatches();
  StoreMatches();
  return matches_.empty() && unstored_.empty();
}

bool EngineRunner::MayBatchMatches(absl::Time now) const {
  const size_t busy = options_.batch_matches_above;
  return (matches_this_second_ > busy || matches_last_second_ > busy) &&
         now - unstored_since_ < options_.match_batch_delay &&
         unstored_.size() < options_.match_batch_max;
}

absl::Status EngineRunner::SaveCheckpoint() {
  // Matches found so far must be stored first: a checkpoint past them
  // would otherwise skip them on replay.
  if (!matches_.empty() || !unstored_.empty()) {
    return absl::FailedPreconditionError(
        "matches found before the checkpoint are not stored yet");
  }
  const int64_t seq = engine_.last_seq();
  // A delta while it stays small next to a full checkpoint: fewer changed
  // users than half of those held, and the deltas since the last full one
  // smaller than it in all. A restart reads the full one and its deltas,
  // so at most about twice a full checkpoint; the full one comes back
  // once the changes add up to it.
  const uint64_t changed = engine_.changed_users();
  const bool delta = chain_ok_ && engine_.CanCheckpointDelta() &&
                     changed * 2 <= engine_.stats().users &&
                     delta_bytes_ < full_bytes_;
  const store::CheckpointKind kind =
      delta ? store::CheckpointKind::kDelta : store::CheckpointKind::kFull;
  // Written straight into the store in pieces: a full checkpoint of a
  // million users is tens of MB, which would otherwise be held (and its
  // memory touched afresh) once more for each save.
  size_t bytes = 0;
  absl::Status saved = store_->WriteCheckpoint(
      kShard, kind, seq, clock_->Now(),
      [&](absl::FunctionRef<absl::Status(absl::string_view)> put) {
        auto counted = [&](absl::string_view piece) {
          bytes += piece.size();
          return put(piece);
        };
        return delta ? engine_.WriteCheckpointDelta(kCheckpointPieceBytes,
                                                    counted)
                     : engine_.WriteCheckpoint(kCheckpointPieceBytes, counted);
      });
  if (!saved.ok()) {
    // The engine may have handed its changes over (all pieces written, the
    // store's switch failed): only a full one can follow.
    chain_ok_ = false;
    spdlog::error("engine: checkpoint failed, will retry: {}",
                  saved.ToString());
    return saved;
  }
  chain_ok_ = true;
  if (delta) {
    delta_bytes_ += bytes;
  } else {
    full_bytes_ = bytes;
    delta_bytes_ = 0;
  }
  checkpoint_seq_ = seq;
  last_checkpoint_ = clock_->Now();
  // Only reported: a store that cannot tell leaves it 0.
  absl::StatusOr<uint64_t> stored = store_->CheckpointStoredBytes(kShard);
  if (!stored.ok() &&
      stored.status().code() != absl::StatusCode::kUnimplemented) {
    spdlog::warn("engine: cannot read the stored checkpoint size: {}",
                 stored.status().ToString());
  }
  absl::MutexLock lock(&mu_);
  ++stats_.checkpoints;
  if (delta) ++stats_.checkpoint_deltas;
  stats_.checkpoint_seq = seq;
  stats_.checkpoint_bytes = full_bytes_ + delta_bytes_;
  stats_.checkpoint_stored_bytes = stored.ok() ? *stored : 0;
  return absl::OkStatus();
}

void EngineRunner::Loop() {
  for (;;) {
    std::deque<Batch> work;
    std::vector<PendingReload> reloads;
    std::vector<PendingDeletion> deletions;
    bool stop;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || !reloads_.empty() || !deletions_.empty() ||
               stopping_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&has_work), options_.tick);
      work.swap(queue_);
      queued_events_ = 0;
      reloads.swap(reloads_);
      deletions.swap(deletions_);
      stop = stopping_;
    }
    // Deletions run between batches, as early as they can: those whose
    // batches were fed in earlier rounds before this round's batches (which
    // may hold rows of the user that the store is about to delete; see
    // RunDeletion), the others right after them. Their seqs grow in call
    // order, so the first kind is a prefix, and the others came before
    // `work` was taken, so it holds all their batches.
    size_t deletion = 0;
    for (; deletion < deletions.size() && deletions[deletion].seq <= fed_seq_;
         ++deletion) {
      RunDeletion(deletions[deletion]);
    }
    for (Batch& batch : work) Feed(batch);
    // The contexts take the matched events of this round's batches from
    // them.
    CollectMatches(work);
    for (; deletion < deletions.size(); ++deletion) {
      RunDeletion(deletions[deletion]);
    }
    // Matches refer to the rule set they were found with: store them
    // before a reload swaps it.
    if (!reloads.empty()) StoreMatches();
    for (PendingReload& reload : reloads) {
      engine::ReloadReport report = engine_.Reload(reload.rules.rules);
      {
        absl::MutexLock lock(&mu_);
        rules_info_ = reload.rules;
      }
      if (options_.on_rules) options_.on_rules(reload.rules.rules);
      reload.done(std::move(report));
    }
    engine_.AdvanceTo(clock_->Now(), &matches_);
    CollectMatches();
    const absl::Time now = clock_->Now();
    const bool checkpoint =
        stop || (now - last_checkpoint_ >= options_.checkpoint_every &&
                 engine_.last_seq() != checkpoint_seq_);
    bool waited_for;
    {
      absl::MutexLock lock(&mu_);
      waited_for = !waiters_.empty();
    }
    if (checkpoint || waited_for || !MayBatchMatches(now)) StoreMatches();
    if (checkpoint) {
      SaveCheckpoint().IgnoreError();  // logged; the next one retries
    }
    std::vector<Waiter> caught_up;
    {
      absl::MutexLock lock(&mu_);
      stats_.engine = engine_.stats();
      stats_.matches_unstored = matches_.size() + unstored_.size();
      if (matches_.empty() && unstored_.empty()) {
        const int64_t done_seq = fed_seq_;
        auto keep = std::partition(
            waiters_.begin(), waiters_.end(),
            [done_seq](const Waiter& w) { return w.seq > done_seq; });
        std::move(keep, waiters_.end(), std::back_inserter(caught_up));
        waiters_.erase(keep, waiters_.end());
      }
    }
    for (Waiter& waiter : caught_up) waiter.done();
    if (stop) {
      absl::MutexLock lock(&mu_);
      if (queue_.empty() && reloads_.empty() && deletions_.empty()) {
        stopped_ = true;
        break;
      }
    }
  }
  // Nothing will catch up any more; let waiting calls finish.
  std::vector<Waiter> left;
  {
    absl::MutexLock lock(&mu_);
    left.swap(waiters_);
  }
  for (Waiter& waiter : left) waiter.done();
}

}  // namespace hark::runtime
