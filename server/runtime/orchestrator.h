#ifndef HARK_SERVER_RUNTIME_ORCHESTRATOR_H_
#define HARK_SERVER_RUNTIME_ORCHESTRATOR_H_

// Orchestration inside harkd (DESIGN.md, "Orchestration"): turns stored
// matches into decisions of the contact policy and sent decisions into
// prompts, feeds prompts to WatchPrompts as they become due, expires them,
// and serves the prompt state changes of the Prompts API.
//
// Exactly one decision and at most one prompt per match, across retries,
// crashes and restarts: matches are stored before they are decided, a
// decision and its prompt are stored in one transaction keyed by the match
// id, and at start the matches stored without a decision (a crash between
// the two) are decided.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hark/clock.h"
#include "hark/v1/prompts.pb.h"
#include "server/rules/rule_set.h"
#include "server/store/store.h"

namespace hark::runtime {

struct OrchestratorOptions {
  // How often prompts past their expires_at are marked expired.
  absl::Duration expiry_sweep = absl::Seconds(1);
  // The thread's longest sleep when nothing is scheduled; also bounds how
  // late a prompt due at a time set by another process is fed.
  absl::Duration idle_wait = absl::Seconds(1);
  // How many undecided matches are decided at start.
  size_t recovery_limit = 100000;
  // False: no thread; tests call RunOnce().
  bool start_thread = true;
};

struct OrchestratorStats {
  // Decisions stored, by outcome name ("sent", "cooldown", ...).
  std::map<std::string, uint64_t> decisions;
  uint64_t prompts_fed = 0;
  uint64_t prompts_expired = 0;
  uint64_t recovered_matches = 0;
  // Matches of rules that are not loaded any more (not decided).
  uint64_t matches_without_rule = 0;
};

class Orchestrator {
 public:
  // Decides the matches stored without a decision and starts the thread.
  // `store` and `clock` must outlive it; `rules` is the serving set.
  static absl::StatusOr<std::unique_ptr<Orchestrator>> Start(
      store::Store* store, const Clock* clock,
      std::shared_ptr<const rules::RuleSet> rules,
      const OrchestratorOptions& options);

  // The serving set changed (reload): later decisions use `rules`.
  void SetRules(std::shared_ptr<const rules::RuleSet> rules);
  ~Orchestrator();

  // Hands over matches that were just stored (engine thread). Matches of
  // rules without an action are ignored. Never blocks for long.
  void OnMatchesStored(std::vector<store::MatchRecord> matches);

  // One pass of the thread's work at the clock's time: decide what waited
  // long enough, feed due prompts, expire. Returns when it wants to run
  // next. For tests with start_thread = false.
  absl::Time RunOnce();

  // Calls `fn` (on the orchestrator thread, must not block) whenever new
  // prompts entered the feed. Returns an id for Unsubscribe().
  int Subscribe(std::function<void()> fn);
  void Unsubscribe(int id);

  // --- The Prompts API (any thread) ---------------------------------------

  // The user's prompts that can be shown now, highest priority first, at
  // most `limit` (0 means 1, at most 10); marks pending ones delivered.
  absl::StatusOr<std::vector<hark::v1::Prompt>> GetPrompts(
      absl::string_view user_id, uint32_t limit);

  // Prompts that entered the feed after `after_cursor` (empty: the feed's
  // current end, so nothing older), looking at most `limit` feed entries,
  // oldest first, only those of `kinds` (hark.v1.Prompt.Kind numbers; empty
  // means all); marks the returned pending ones delivered. `*next_cursor`
  // is where to continue (past skipped kinds too). INVALID_ARGUMENT for a
  // cursor WatchPrompts did not hand out.
  absl::StatusOr<std::vector<hark::v1::Prompt>> ReadFeed(
      absl::string_view after_cursor, size_t limit, absl::Span<const int> kinds,
      std::string* next_cursor);

  // The feed's current end as a cursor.
  absl::StatusOr<std::string> FeedEnd();

  // SHOWN or DISMISSED at `at` (the server's time if unset). Refused with
  // FAILED_PRECONDITION when the change makes no sense (shown after
  // dismissed, anything after expired or answered, before the prompt is
  // due); repeating the current state is accepted. NOT_FOUND for an
  // unknown prompt.
  absl::StatusOr<hark::v1::Prompt::State> RecordPromptEvent(
      absl::string_view prompt_id,
      hark::v1::RecordPromptEventRequest::Type type,
      std::optional<absl::Time> at);

  // Wakes the thread (a test clock moved).
  void Wake();

  OrchestratorStats stats() const;

  // Decides what is queued and joins the thread. Idempotent.
  void Shutdown();

 private:
  struct Pending {
    store::MatchRecord match;
    absl::Time arrived;
  };

  Orchestrator(store::Store* store, const Clock* clock,
               std::shared_ptr<const rules::RuleSet> rules,
               const OrchestratorOptions& options);
  std::shared_ptr<const rules::RuleSet> rules() const;
  void Loop();
  // Decides `round` (one or more users' matches) and stores the outcome.
  absl::Status DecideRound(const std::vector<Pending>& round, absl::Time now);
  absl::Status FeedDue(absl::Time now);
  absl::StatusOr<hark::v1::Prompt> ToProto(const store::PromptRecord& record);
  // The prompts as the API shows them; pending ones become delivered.
  absl::StatusOr<std::vector<hark::v1::Prompt>> Deliver(
      std::vector<store::PromptRecord>& records, absl::Time now);

  store::Store* const store_;
  const Clock* const clock_;
  const OrchestratorOptions options_;

  // Orchestrator-thread state (RunOnce).
  std::vector<Pending> pending_;
  std::optional<absl::Time> next_due_;
  absl::Time next_sweep_ = absl::InfinitePast();

  mutable absl::Mutex mu_;
  std::vector<store::MatchRecord> inbox_ ABSL_GUARDED_BY(mu_);
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<const rules::RuleSet> rules_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  OrchestratorStats stats_ ABSL_GUARDED_BY(mu_);
  // Held while subscribers are called, so that Unsubscribe() returns only
  // once its callback cannot run any more.
  absl::Mutex notify_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::map<int, std::function<void()>> subscribers_ ABSL_GUARDED_BY(mu_);
  int next_subscriber_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Mutex join_mu_;
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);
};

// The prompt id of the prompt a match may create.
std::string PromptIdForMatch(absl::string_view match_id);

}  // namespace hark::runtime

#endif  // HARK_SERVER_RUNTIME_ORCHESTRATOR_H_
