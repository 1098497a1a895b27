// Tests of the orchestration tables (schema version 3): decisions, prompts,
// the feed of due prompts, and the upgrade of a version 2 file.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/schema.h"
#include "server/store/sqlite_connection.h"
#include "server/store/store.h"
#include "tests/unit/store/store_test_util.h"

namespace hark::store {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

absl::Time At(int seconds) { return kT0 + absl::Seconds(seconds); }

MatchRecord Match(absl::string_view id, absl::string_view user, int created_s) {
  MatchRecord m;
  m.match_id = std::string(id);
  m.rule_id = "r";
  m.rule_version = "r-v1";
  m.user_id = std::string(user);
  m.matched_at = At(created_s) - absl::Milliseconds(3);
  m.created_at = At(created_s);
  m.context = absl::StrCat("ctx-", id);
  return m;
}

// A decision about match `match` at kT0 + `decided_s` seconds.
DecisionRecord Decision(absl::string_view match, absl::string_view user,
                        absl::string_view outcome = "sent", int decided_s = 0) {
  DecisionRecord d;
  d.match_id = std::string(match);
  d.user_id = std::string(user);
  d.rule_id = "onboarding_abandonment";
  d.rule_version = "v3";
  d.kind = 1;
  d.target = "onboarding_survey";
  d.outcome = std::string(outcome);
  d.reason = absl::StrCat("because ", match);
  d.matched_at = At(decided_s) - absl::Seconds(1);
  d.decided_at = At(decided_s);
  return d;
}

// A pending prompt for match `match`, due and expiring at kT0 + seconds.
PromptRecord Prompt(absl::string_view id, absl::string_view match,
                    absl::string_view user, int due_s = 0,
                    int expires_s = 3600) {
  PromptRecord p;
  p.prompt_id = std::string(id);
  p.match_id = std::string(match);
  p.user_id = std::string(user);
  p.kind = 1;
  p.rule_id = "onboarding_abandonment";
  p.definition_id = "onboarding_survey";
  p.priority = 0;
  p.created_at = kT0;
  p.due_at = At(due_s);
  p.expires_at = At(expires_s);
  p.body = absl::StrCat("body-", id, std::string(1, '\0'), "tail");
  return p;
}

// Stores the matches of `decisions` (AppendDecisions() stores decisions of
// stored matches only), then the decisions and prompts.
absl::StatusOr<std::vector<bool>> Decide(
    Store& store, const std::vector<DecisionRecord>& decisions,
    const std::vector<PromptRecord>& prompts) {
  std::vector<MatchRecord> matches;
  for (const DecisionRecord& d : decisions) {
    if (!d.match_id.empty()) matches.push_back(Match(d.match_id, d.user_id, 0));
  }
  if (absl::Status stored = store.AppendMatches(matches); !stored.ok()) {
    return stored;
  }
  return store.AppendDecisions(decisions, prompts);
}

std::vector<std::string> PromptIds(const std::vector<PromptRecord>& prompts) {
  std::vector<std::string> ids;
  for (const PromptRecord& p : prompts) ids.push_back(p.prompt_id);
  return ids;
}

std::vector<int64_t> FeedSeqs(const std::vector<PromptRecord>& prompts) {
  std::vector<int64_t> seqs;
  for (const PromptRecord& p : prompts) seqs.push_back(p.feed_seq);
  return seqs;
}

std::vector<std::string> MatchIds(const std::vector<MatchRecord>& matches) {
  std::vector<std::string> ids;
  for (const MatchRecord& m : matches) ids.push_back(m.match_id);
  return ids;
}

// Each test runs on an in-memory database (param false) and on a file
// (param true: reads on their own connections).
class StoreV3Test : public SqliteStoreTest,
                    public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    SqliteStoreTest::SetUp();
    store_ = OpenOrDie(GetParam() ? FileOptions() : MemoryOptions());
    ASSERT_NE(store_, nullptr);
  }

  // Stores sent decisions with one prompt each.
  void AddPrompts(const std::vector<PromptRecord>& prompts) {
    std::vector<DecisionRecord> decisions;
    for (const PromptRecord& p : prompts) {
      decisions.push_back(Decision(p.match_id, p.user_id));
    }
    absl::StatusOr<std::vector<bool>> stored =
        Decide(*store_, decisions, prompts);
    ASSERT_TRUE(stored.ok()) << stored.status();
  }

  PromptRecord Get(absl::string_view prompt_id) {
    absl::StatusOr<PromptRecord> p = store_->GetPrompt(prompt_id);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : PromptRecord{};
  }

  std::vector<PromptRecord> Feed(absl::Time now, size_t limit) {
    absl::StatusOr<std::vector<PromptRecord>> fed =
        store_->FeedDuePrompts(now, limit);
    EXPECT_TRUE(fed.ok()) << fed.status();
    return fed.ok() ? *fed : std::vector<PromptRecord>{};
  }

  std::vector<PromptRecord> ReadFeed(int64_t after, size_t limit) {
    absl::StatusOr<std::vector<PromptRecord>> read =
        store_->ReadFeed(after, limit);
    EXPECT_TRUE(read.ok()) << read.status();
    return read.ok() ? *read : std::vector<PromptRecord>{};
  }

  std::vector<std::string> Showable(absl::string_view user, absl::Time now,
                                    size_t limit = 10) {
    absl::StatusOr<std::vector<PromptRecord>> showable =
        store_->ListShowablePrompts(user, now, limit);
    EXPECT_TRUE(showable.ok()) << showable.status();
    return showable.ok() ? PromptIds(*showable) : std::vector<std::string>{};
  }

  int64_t Count(const DecisionQuery& query) {
    absl::StatusOr<int64_t> count = store_->CountSentDecisions(query);
    EXPECT_TRUE(count.ok()) << count.status();
    return count.ok() ? *count : -1;
  }

  std::vector<std::string> Undecided(size_t limit) {
    absl::StatusOr<std::vector<MatchRecord>> matches =
        store_->ListUndecidedMatches(limit);
    EXPECT_TRUE(matches.ok()) << matches.status();
    return matches.ok() ? MatchIds(*matches) : std::vector<std::string>{};
  }

  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(MemoryAndFile, StoreV3Test, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "File" : "Memory";
                         });

// --- Migration ---

TEST_F(SqliteStoreTest, UpgradesAVersion2FileInPlace) {
  // A file exactly as a version 2 Hark left it.
  ASSERT_NO_FATAL_FAILURE(CreateFileAtVersion(2));
  ASSERT_EQ(RawQueryText(FilePath(), "PRAGMA user_version"), "2");
  ASSERT_EQ(RawQueryText(FilePath(),
                         "SELECT COUNT(*) FROM sqlite_master "
                         "WHERE name IN ('decisions', 'prompts')"),
            "0");
  RawExec(FilePath(),
          "INSERT INTO events(event_id, user_id, name, event_time_us, "
          "received_us, payload) VALUES ('e1', 'u1', 'a', 1, 2, x'00');"
          "INSERT INTO users(user_id, first_seen_us) VALUES ('u1', 1);"
          "UPDATE store_counters SET value = 1 WHERE name = 'events';"
          "UPDATE store_counters SET value = 1 WHERE name = 'users';"
          "INSERT INTO matches(match_id, rule_id, rule_version, user_id, "
          "group_key, matched_at_us, at_deadline, created_us, context) "
          "VALUES ('m1', 'r', 'v1', 'u1', '', 10, 0, 11, x'0102');"
          "INSERT INTO engine_checkpoints(shard, last_seq, saved_us, state) "
          "VALUES (0, 1, 12, x'03');");

  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQueryText(FilePath(), "PRAGMA user_version"),
            absl::StrCat(internal::LatestSchemaVersion()));

  // The version 2 data is intact.
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 1u);
  EXPECT_EQ(stats->users, 1u);
  absl::StatusOr<MatchPage> page = store->ListMatches({});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->matches.size(), 1u);
  EXPECT_EQ(page->matches[0].context, "\x01\x02");
  absl::StatusOr<std::optional<Checkpoint>> checkpoint =
      store->LoadCheckpoint(0);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  ASSERT_TRUE(checkpoint->has_value());
  EXPECT_EQ((*checkpoint)->last_seq, 1);

  // The old match has no decision yet; the new tables work.
  absl::StatusOr<std::vector<MatchRecord>> undecided =
      store->ListUndecidedMatches(10);
  ASSERT_TRUE(undecided.ok()) << undecided.status();
  EXPECT_THAT(MatchIds(*undecided), ElementsAre("m1"));
  absl::StatusOr<int64_t> last = store->LastFeedSeq();
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 0);
  ASSERT_TRUE(
      Decide(*store, {Decision("m1", "u1")}, {Prompt("p1", "m1", "u1")}).ok());
  absl::StatusOr<std::vector<PromptRecord>> fed =
      store->FeedDuePrompts(At(0), 10);
  ASSERT_TRUE(fed.ok()) << fed.status();
  EXPECT_THAT(FeedSeqs(*fed), ElementsAre(1));
  store.reset();

  // An upgraded file has exactly the schema of a fresh one.
  ASSERT_NE(OpenOrDie(StoreOptions{FilePath("fresh.db")}), nullptr);
  EXPECT_THAT(SchemaOf(FilePath()),
              ElementsAreArray(SchemaOf(FilePath("fresh.db"))));
  EXPECT_THAT(SchemaOf(FilePath()),
              ::testing::Contains(HasSubstr("index sent_decisions_by_user")));
}

// --- AppendDecisions ---

TEST_P(StoreV3Test, DecisionsAndPromptsRoundTripEveryField) {
  DecisionRecord d = Decision("m1", "u1", "sent", 5);
  d.kind = 2;
  d.target = "churn_interview";
  d.rule_version = "";
  d.matched_at += absl::Microseconds(7);
  DecisionRecord suppressed = Decision("m2", "u1", "cooldown", 6);
  suppressed.reason = "";

  PromptRecord p = Prompt("p1", "m1", "u1", 10, 100);
  p.kind = 2;
  p.rule_id = "churn";
  p.definition_id = "churn_interview";
  p.priority = -3;
  p.created_at = At(5) + absl::Microseconds(1);
  p.due_at += absl::Microseconds(2);
  p.expires_at += absl::Microseconds(3);
  p.state = PromptState::kShown;
  p.delivered_at = At(11);
  p.shown_at = At(12) + absl::Microseconds(4);
  p.feed_seq = 99;  // ignored: only FeedDuePrompts() gives feed positions

  absl::StatusOr<std::vector<bool>> stored =
      Decide(*store_, {d, suppressed}, {p});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_THAT(*stored, ElementsAre(true, true));

  absl::StatusOr<std::vector<DecisionRecord>> decisions =
      store_->ListUserDecisions("u1");
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  ASSERT_EQ(decisions->size(), 2u);
  const DecisionRecord& got = (*decisions)[0];
  EXPECT_EQ(got.match_id, "m1");
  EXPECT_EQ(got.user_id, "u1");
  EXPECT_EQ(got.rule_id, d.rule_id);
  EXPECT_EQ(got.rule_version, "");
  EXPECT_EQ(got.kind, 2);
  EXPECT_EQ(got.target, "churn_interview");
  EXPECT_EQ(got.outcome, "sent");
  EXPECT_EQ(got.reason, d.reason);
  EXPECT_EQ(got.matched_at, d.matched_at);
  EXPECT_EQ(got.decided_at, d.decided_at);
  EXPECT_EQ((*decisions)[1].outcome, "cooldown");
  EXPECT_EQ((*decisions)[1].reason, "");

  PromptRecord back = Get("p1");
  EXPECT_EQ(back.prompt_id, "p1");
  EXPECT_EQ(back.match_id, "m1");
  EXPECT_EQ(back.user_id, "u1");
  EXPECT_EQ(back.kind, 2);
  EXPECT_EQ(back.rule_id, "churn");
  EXPECT_EQ(back.definition_id, "churn_interview");
  EXPECT_EQ(back.priority, -3);
  EXPECT_EQ(back.created_at, p.created_at);
  EXPECT_EQ(back.due_at, p.due_at);
  EXPECT_EQ(back.expires_at, p.expires_at);
  EXPECT_EQ(back.state, PromptState::kShown);
  EXPECT_EQ(back.delivered_at, p.delivered_at);
  EXPECT_EQ(back.shown_at, p.shown_at);
  EXPECT_EQ(back.closed_at, std::nullopt);
  EXPECT_EQ(back.feed_seq, 0);
  EXPECT_EQ(back.body, p.body);  // binary-safe

  // No optional time set, an empty body, a closed time alone.
  PromptRecord bare = Prompt("p3", "m3", "u2");
  bare.body = "";
  PromptRecord closed = Prompt("p4", "m4", "u2");
  closed.state = PromptState::kDismissed;
  closed.closed_at = At(7);
  ASSERT_TRUE(Decide(*store_, {Decision("m3", "u2"), Decision("m4", "u2")},
                     {bare, closed})
                  .ok());
  PromptRecord bare_back = Get("p3");
  EXPECT_EQ(bare_back.body, "");
  EXPECT_EQ(bare_back.state, PromptState::kPending);
  EXPECT_EQ(bare_back.delivered_at, std::nullopt);
  EXPECT_EQ(bare_back.shown_at, std::nullopt);
  EXPECT_EQ(bare_back.closed_at, std::nullopt);
  PromptRecord closed_back = Get("p4");
  EXPECT_EQ(closed_back.state, PromptState::kDismissed);
  EXPECT_EQ(closed_back.delivered_at, std::nullopt);
  EXPECT_EQ(closed_back.closed_at, At(7));
}

TEST_P(StoreV3Test, AppendDecisionsIsIdempotentByMatchId) {
  absl::StatusOr<std::vector<bool>> empty = Decide(*store_, {}, {});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_THAT(*empty, IsEmpty());

  absl::StatusOr<std::vector<bool>> first = Decide(
      *store_,
      {Decision("m1", "u1", "sent", 1), Decision("m2", "u1", "cooldown", 2)},
      {Prompt("p1", "m1", "u1")});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(*first, ElementsAre(true, true));

  // A retry after a crash decided differently: the stored rows keep their
  // first values and no second prompt appears for m1 or m2. A decision
  // given twice in one call is stored once; m3 is new.
  DecisionRecord again = Decision("m1", "u1", "contact_cap", 9);
  again.reason = "second thoughts";
  absl::StatusOr<std::vector<bool>> second =
      Decide(*store_,
             {again, Decision("m2", "u1", "sent", 9),
              Decision("m3", "u1", "sent", 3), Decision("m3", "u1", "sent", 3)},
             {Prompt("p1-again", "m1", "u1"), Prompt("p2", "m2", "u1"),
              Prompt("p3", "m3", "u1")});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(*second, ElementsAre(false, false, true, false));

  absl::StatusOr<std::vector<DecisionRecord>> decisions =
      store_->ListUserDecisions("u1");
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  ASSERT_EQ(decisions->size(), 3u);
  EXPECT_EQ((*decisions)[0].match_id, "m1");
  EXPECT_EQ((*decisions)[0].outcome, "sent");
  EXPECT_EQ((*decisions)[0].reason, "because m1");
  EXPECT_EQ((*decisions)[0].decided_at, At(1));
  EXPECT_EQ((*decisions)[1].outcome, "cooldown");

  absl::StatusOr<std::vector<PromptRecord>> prompts =
      store_->ListUserPrompts("u1");
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  EXPECT_THAT(PromptIds(*prompts), ElementsAre("p3", "p1"));
  EXPECT_EQ(store_->GetPrompt("p1-again").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetPrompt("p2").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Count({}), 2);
}

TEST_P(StoreV3Test, AppendDecisionsRefusesBadInputAndStoresNothing) {
  auto expect_refused = [&](const std::vector<DecisionRecord>& decisions,
                            const std::vector<PromptRecord>& prompts,
                            absl::string_view message) {
    absl::StatusOr<std::vector<bool>> stored =
        Decide(*store_, decisions, prompts);
    EXPECT_EQ(stored.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(stored.status().message(), HasSubstr(message));
  };
  expect_refused({Decision("m1", "u1"), Decision("", "u7")}, {}, "u7");
  expect_refused({Decision("m1", "u1")},
                 {Prompt("p1", "m1", "u1"), Prompt("p9", "m9", "u1")}, "m9");
  expect_refused({Decision("m1", "u1")}, {Prompt("p1", "", "u1")},
                 "no decision");
  expect_refused({Decision("m1", "u1")},
                 {Prompt("p1", "m1", "u1"), Prompt("p2", "m1", "u1")},
                 "two prompts");
  expect_refused({Decision("m1", "u1")}, {Prompt("", "m1", "u1")},
                 "empty prompt_id");

  absl::StatusOr<std::vector<DecisionRecord>> decisions =
      store_->ListUserDecisions("u1");
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  EXPECT_THAT(*decisions, IsEmpty());
  absl::StatusOr<std::vector<PromptRecord>> prompts =
      store_->ListUserPrompts("u1");
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  EXPECT_THAT(*prompts, IsEmpty());
}

TEST_P(StoreV3Test, FailedAppendDecisionsStoresNothing) {
  AddPrompts({Prompt("p1", "m1", "u1")});
  // p1 is taken by m1: the prompt of m3 fails, after m2 and m3 were
  // inserted in the same transaction.
  absl::StatusOr<std::vector<bool>> stored =
      Decide(*store_, {Decision("m2", "u2", "cooldown"), Decision("m3", "u2")},
             {Prompt("p1", "m3", "u2")});
  EXPECT_FALSE(stored.ok());
  absl::StatusOr<std::vector<DecisionRecord>> decisions =
      store_->ListUserDecisions("u2");
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  EXPECT_THAT(*decisions, IsEmpty());
  EXPECT_EQ(Get("p1").match_id, "m1");
  // The writer is usable again.
  AddPrompts({Prompt("p3", "m3", "u2")});
  EXPECT_EQ(Get("p3").match_id, "m3");
}

// --- Decision queries ---

TEST_P(StoreV3Test, CountSentDecisionsByEachFilterFromSinceInclusive) {
  DecisionRecord other_rule = Decision("m4", "u1", "sent", 30);
  other_rule.rule_id = "repeated_errors";
  DecisionRecord interview = Decision("m5", "u2", "sent", 40);
  interview.kind = 2;
  interview.target = "churn_interview";
  DecisionRecord same_target_other_kind = Decision("m6", "u2", "sent", 50);
  same_target_other_kind.kind = 2;
  ASSERT_TRUE(
      Decide(*store_,
             {Decision("m1", "u1", "sent", 10),
              Decision("m2", "u1", "cooldown", 15),
              Decision("m3", "u1", "sent", 20), other_rule, interview,
              same_target_other_kind, Decision("m7", "u3", "shadow", 60)},
             {})
          .ok());

  DecisionQuery all;
  all.since = absl::InfinitePast();
  EXPECT_EQ(Count(all), 5);  // suppressed decisions never count

  DecisionQuery by_user = all;
  by_user.user_id = "u1";
  EXPECT_EQ(Count(by_user), 3);
  by_user.since = At(20);  // inclusive
  EXPECT_EQ(Count(by_user), 2);
  by_user.since = At(20) + absl::Microseconds(1);
  EXPECT_EQ(Count(by_user), 1);
  by_user.since = At(31);
  EXPECT_EQ(Count(by_user), 0);
  by_user.user_id = "u3";  // only a shadow decision
  by_user.since = absl::InfinitePast();
  EXPECT_EQ(Count(by_user), 0);
  by_user.user_id = "nobody";
  EXPECT_EQ(Count(by_user), 0);

  DecisionQuery by_rule = all;
  by_rule.rule_id = "onboarding_abandonment";
  EXPECT_EQ(Count(by_rule), 4);
  by_rule.since = At(40);
  EXPECT_EQ(Count(by_rule), 2);
  by_rule.rule_id = "repeated_errors";
  by_rule.since = At(30);
  EXPECT_EQ(Count(by_rule), 1);
  by_rule.since = At(30) + absl::Microseconds(1);
  EXPECT_EQ(Count(by_rule), 0);

  DecisionQuery by_target = all;
  by_target.target = "onboarding_survey";
  EXPECT_EQ(Count(by_target), 4);
  by_target.kind = 1;
  EXPECT_EQ(Count(by_target), 3);
  by_target.kind = 2;
  EXPECT_EQ(Count(by_target), 1);
  by_target.target = "churn_interview";
  EXPECT_EQ(Count(by_target), 1);
  by_target.since = At(40) + absl::Microseconds(1);
  EXPECT_EQ(Count(by_target), 0);

  DecisionQuery by_kind = all;
  by_kind.kind = 2;
  EXPECT_EQ(Count(by_kind), 2);

  DecisionQuery combined = all;
  combined.user_id = "u1";
  combined.rule_id = "onboarding_abandonment";
  combined.target = "onboarding_survey";
  combined.kind = 1;
  combined.since = At(10);
  EXPECT_EQ(Count(combined), 2);
}

TEST_P(StoreV3Test, ListUndecidedMatchesIsOldestStoredFirst) {
  EXPECT_THAT(Undecided(10), IsEmpty());
  ASSERT_TRUE(
      store_
          ->AppendMatches({Match("m-late", "u1", 40), Match("m-b", "u1", 10),
                           Match("m-a", "u2", 10), Match("m-early", "u1", 5),
                           Match("m-decided", "u1", 1)})
          .ok());
  ASSERT_TRUE(
      Decide(*store_, {Decision("m-decided", "u1", "cooldown")}, {}).ok());
  EXPECT_THAT(Undecided(10), ElementsAre("m-early", "m-a", "m-b", "m-late"));
  EXPECT_THAT(Undecided(2), ElementsAre("m-early", "m-a"));
  EXPECT_THAT(Undecided(0), IsEmpty());

  // Every field comes back.
  absl::StatusOr<std::vector<MatchRecord>> matches =
      store_->ListUndecidedMatches(1);
  ASSERT_TRUE(matches.ok()) << matches.status();
  ASSERT_EQ(matches->size(), 1u);
  const MatchRecord want = Match("m-early", "u1", 5);
  EXPECT_EQ((*matches)[0].rule_id, want.rule_id);
  EXPECT_EQ((*matches)[0].rule_version, want.rule_version);
  EXPECT_EQ((*matches)[0].user_id, want.user_id);
  EXPECT_EQ((*matches)[0].matched_at, want.matched_at);
  EXPECT_EQ((*matches)[0].created_at, want.created_at);
  EXPECT_EQ((*matches)[0].context, want.context);

  ASSERT_TRUE(Decide(*store_,
                     {Decision("m-early", "u1", "sent"),
                      Decision("m-late", "u1", "quota")},
                     {Prompt("p", "m-early", "u1")})
                  .ok());
  EXPECT_THAT(Undecided(10), ElementsAre("m-a", "m-b"));
}

TEST_P(StoreV3Test, ListUserDecisionsIsOldestFirstWithMatchIdTiebreak) {
  ASSERT_TRUE(Decide(*store_,
                     {Decision("m-c", "u1", "sent", 5),
                      Decision("m-z", "u1", "cooldown", 1),
                      Decision("m-a", "u1", "quota", 5),
                      Decision("m-b", "u2", "sent", 3)},
                     {})
                  .ok());
  absl::StatusOr<std::vector<DecisionRecord>> decisions =
      store_->ListUserDecisions("u1");
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  std::vector<std::string> ids;
  for (const DecisionRecord& d : *decisions) ids.push_back(d.match_id);
  EXPECT_THAT(ids, ElementsAre("m-z", "m-a", "m-c"));
  absl::StatusOr<std::vector<DecisionRecord>> none =
      store_->ListUserDecisions("nobody");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_THAT(*none, IsEmpty());
}

// --- The feed ---

TEST_P(StoreV3Test, FeedDuePromptsInDueOrderWithGrowingSeqs) {
  absl::StatusOr<int64_t> last = store_->LastFeedSeq();
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 0);
  EXPECT_THAT(Feed(At(1000), 10), IsEmpty());

  PromptRecord dismissed = Prompt("p-dismissed", "m6", "u1", 0);
  dismissed.state = PromptState::kDismissed;
  AddPrompts({Prompt("p-c", "m1", "u1", 20), Prompt("p-b", "m2", "u2", 10),
              Prompt("p-a", "m3", "u1", 20), Prompt("p-later", "m4", "u1", 60),
              Prompt("p-first", "m5", "u3", 5), dismissed});

  // due_at <= now is due (inclusive); ties by prompt_id; the limit holds.
  std::vector<PromptRecord> fed = Feed(At(20), 3);
  EXPECT_THAT(PromptIds(fed), ElementsAre("p-first", "p-b", "p-a"));
  EXPECT_THAT(FeedSeqs(fed), ElementsAre(1, 2, 3));
  EXPECT_EQ(fed[0].body, Prompt("p-first", "m5", "u3").body);
  EXPECT_EQ(fed[0].state, PromptState::kPending);
  fed = Feed(At(20), 3);
  EXPECT_THAT(PromptIds(fed), ElementsAre("p-c"));
  EXPECT_THAT(FeedSeqs(fed), ElementsAre(4));
  // Nothing else is due; a prompt is fed once.
  EXPECT_THAT(Feed(At(59), 10), IsEmpty());
  EXPECT_THAT(Feed(At(20), 0), IsEmpty());
  fed = Feed(At(60), 10);
  EXPECT_THAT(PromptIds(fed), ElementsAre("p-later"));
  EXPECT_THAT(FeedSeqs(fed), ElementsAre(5));
  EXPECT_THAT(Feed(At(100000), 10), IsEmpty());  // not the dismissed one

  last = store_->LastFeedSeq();
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 5);
  EXPECT_EQ(Get("p-a").feed_seq, 3);
  EXPECT_EQ(Get("p-dismissed").feed_seq, 0);

  // Later prompts continue the sequence.
  AddPrompts({Prompt("p-new", "m7", "u1", 0)});
  EXPECT_THAT(FeedSeqs(Feed(At(60), 10)), ElementsAre(6));
}

TEST_F(SqliteStoreTest, FeedSeqsKeepGrowingAfterDeletions) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(Decide(*store, {Decision("m1", "u1"), Decision("m2", "u1")},
                     {Prompt("p1", "m1", "u1"), Prompt("p2", "m2", "u1")})
                  .ok());
  absl::StatusOr<std::vector<PromptRecord>> fed =
      store->FeedDuePrompts(At(0), 10);
  ASSERT_TRUE(fed.ok()) << fed.status();
  EXPECT_THAT(FeedSeqs(*fed), ElementsAre(1, 2));
  // What a future DeleteUser would do to the prompts holding the highest
  // positions.
  RawExec(FilePath(), "DELETE FROM prompts");
  ASSERT_TRUE(
      Decide(*store, {Decision("m3", "u2")}, {Prompt("p3", "m3", "u2")}).ok());
  fed = store->FeedDuePrompts(At(0), 10);
  ASSERT_TRUE(fed.ok()) << fed.status();
  EXPECT_THAT(FeedSeqs(*fed), ElementsAre(3));
  absl::StatusOr<int64_t> last = store->LastFeedSeq();
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 3);
  store.reset();

  // And across a reopen.
  store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  last = store->LastFeedSeq();
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 3);
  absl::StatusOr<std::vector<PromptRecord>> read = store->ReadFeed(0, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(PromptIds(*read), ElementsAre("p3"));
}

TEST_P(StoreV3Test, NextUnfedDueIsTheEarliestOpenUnfed) {
  absl::StatusOr<std::optional<absl::Time>> next = store_->NextUnfedDue();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, std::nullopt);

  // Delivered (by GetPrompts) before it was fed: still to be fed.
  PromptRecord delivered = Prompt("p-delivered", "m0", "u1", 1);
  delivered.state = PromptState::kDelivered;
  PromptRecord answered = Prompt("p-answered", "m3", "u1", 0);
  answered.state = PromptState::kAnswered;
  AddPrompts({Prompt("p1", "m1", "u1", 30), Prompt("p2", "m2", "u1", 10),
              delivered, answered});
  next = store_->NextUnfedDue();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, At(1));

  EXPECT_THAT(PromptIds(Feed(At(10), 10)), ElementsAre("p-delivered", "p2"));
  next = store_->NextUnfedDue();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, At(30));

  // A prompt closed before it was due never enters the feed.
  ASSERT_TRUE(store_
                  ->UpdatePromptState("p1", {PromptState::kPending},
                                      PromptState::kDismissed, At(20))
                  .ok());
  next = store_->NextUnfedDue();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, std::nullopt);
}

TEST_P(StoreV3Test, ReadFeedPagesByFeedSeq) {
  EXPECT_THAT(ReadFeed(0, 10), IsEmpty());
  std::vector<PromptRecord> prompts;
  for (int i = 0; i < 5; ++i) {
    prompts.push_back(Prompt(absl::StrCat("p", i), absl::StrCat("m", i), "u1",
                             /*due_s=*/10 - i));
  }
  AddPrompts(prompts);
  ASSERT_EQ(Feed(At(10), 10).size(), 5u);

  std::vector<PromptRecord> page = ReadFeed(0, 2);
  EXPECT_THAT(PromptIds(page), ElementsAre("p4", "p3"));
  EXPECT_THAT(FeedSeqs(page), ElementsAre(1, 2));
  page = ReadFeed(page.back().feed_seq, 2);
  EXPECT_THAT(PromptIds(page), ElementsAre("p2", "p1"));
  page = ReadFeed(page.back().feed_seq, 2);
  EXPECT_THAT(PromptIds(page), ElementsAre("p0"));
  EXPECT_EQ(page[0].body, prompts[0].body);
  EXPECT_THAT(ReadFeed(5, 2), IsEmpty());
  EXPECT_THAT(ReadFeed(0, 0), IsEmpty());
  EXPECT_THAT(FeedSeqs(ReadFeed(-7, 100)), ElementsAre(1, 2, 3, 4, 5));

  // The feed shows each prompt's current state.
  ASSERT_TRUE(store_
                  ->UpdatePromptState("p2", {PromptState::kPending},
                                      PromptState::kDelivered, At(11))
                  .ok());
  page = ReadFeed(2, 1);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].state, PromptState::kDelivered);
}

// The bug of schema version 3: a prompt that GetPrompts() delivered (or
// the client showed) before FeedDuePrompts() ran never reached the feed.
TEST_P(StoreV3Test, FeedDuePromptsFeedsDeliveredAndShownPrompts) {
  AddPrompts(
      {Prompt("p-pending", "m1", "u1", 0), Prompt("p-delivered", "m2", "u1", 1),
       Prompt("p-shown", "m3", "u1", 2), Prompt("p-dismissed", "m4", "u1", 3),
       Prompt("p-expired", "m5", "u1", 4, 5)});
  const auto move = [&](absl::string_view id, PromptState from,
                        PromptState to) {
    absl::StatusOr<PromptRecord> p =
        store_->UpdatePromptState(id, {from}, to, At(1));
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(p->state, to) << id;
  };
  move("p-delivered", PromptState::kPending, PromptState::kDelivered);
  move("p-shown", PromptState::kPending, PromptState::kDelivered);
  move("p-shown", PromptState::kDelivered, PromptState::kShown);
  move("p-dismissed", PromptState::kPending, PromptState::kDismissed);
  ASSERT_TRUE(store_->ExpirePrompts(At(5)).ok());

  std::vector<PromptRecord> fed = Feed(At(10), 10);
  EXPECT_THAT(PromptIds(fed),
              ElementsAre("p-pending", "p-delivered", "p-shown"));
  EXPECT_THAT(FeedSeqs(fed), ElementsAre(1, 2, 3));
  EXPECT_EQ(fed[1].state, PromptState::kDelivered);
  EXPECT_EQ(fed[2].state, PromptState::kShown);
  EXPECT_THAT(PromptIds(ReadFeed(0, 10)),
              ElementsAre("p-pending", "p-delivered", "p-shown"));
  EXPECT_THAT(Feed(At(10), 10), IsEmpty());
  absl::StatusOr<std::optional<absl::Time>> next = store_->NextUnfedDue();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, std::nullopt);
}

// AppendDecisions() stores no decision (and no prompt) for a match that is
// no longer stored: DeleteUser() removed it while it was being decided.
TEST_P(StoreV3Test, AppendDecisionsSkipsDecisionsOfDeletedMatches) {
  ASSERT_TRUE(store_->AppendMatches({Match("m1", "u1", 0)}).ok());
  absl::StatusOr<std::vector<bool>> stored = store_->AppendDecisions(
      {Decision("m1", "u1"), Decision("m-gone", "u1")},
      {Prompt("p1", "m1", "u1"), Prompt("p-gone", "m-gone", "u1")});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_THAT(*stored, ElementsAre(true, false));
  absl::StatusOr<std::vector<DecisionRecord>> decisions =
      store_->ListUserDecisions("u1");
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  ASSERT_EQ(decisions->size(), 1u);
  EXPECT_EQ((*decisions)[0].match_id, "m1");
  EXPECT_EQ(store_->GetPrompt("p-gone").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(Get("p1").match_id, "m1");
}

// --- Prompt queries ---

TEST_P(StoreV3Test, GetPromptOfAnUnknownIdIsNotFound) {
  EXPECT_EQ(store_->GetPrompt("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreV3Test, ListUserPromptsIsNewestFirstWithPromptIdTiebreak) {
  PromptRecord old = Prompt("p-old", "m1", "u1");
  old.created_at = At(1);
  PromptRecord a = Prompt("p-a", "m2", "u1");
  a.created_at = At(5);
  PromptRecord b = Prompt("p-b", "m3", "u1");
  b.created_at = At(5);
  PromptRecord other = Prompt("p-other", "m4", "u2");
  other.created_at = At(9);
  AddPrompts({a, old, other, b});
  absl::StatusOr<std::vector<PromptRecord>> prompts =
      store_->ListUserPrompts("u1");
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  EXPECT_THAT(PromptIds(*prompts), ElementsAre("p-b", "p-a", "p-old"));
  prompts = store_->ListUserPrompts("nobody");
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  EXPECT_THAT(*prompts, IsEmpty());
}

TEST_P(StoreV3Test, ListShowablePromptsOrderAndBoundaries) {
  auto with = [](PromptRecord p, int priority) {
    p.priority = priority;
    return p;
  };
  PromptRecord delivered = Prompt("p-delivered", "m5", "u1", 0, 100);
  delivered.state = PromptState::kDelivered;
  PromptRecord shown = Prompt("p-shown", "m6", "u1", 0, 100);
  shown.state = PromptState::kShown;
  PromptRecord answered = Prompt("p-answered", "m7", "u1", 0, 100);
  answered.state = PromptState::kAnswered;
  AddPrompts({with(Prompt("p-low", "m1", "u1", 0, 100), 1),
              with(Prompt("p-high-late", "m2", "u1", 10, 100), 5),
              with(Prompt("p-high-early", "m3", "u1", 5, 100), 5),
              with(Prompt("p-high-early2", "m4", "u1", 5, 100), 5), delivered,
              shown, answered,
              with(Prompt("p-not-due", "m8", "u1", 11, 100), 9),
              with(Prompt("p-expires-at-10", "m9", "u1", 0, 10), 9),
              Prompt("p-other-user", "m10", "u2", 0, 100)});

  // Highest priority first, then earliest due, then prompt_id.
  EXPECT_THAT(Showable("u1", At(10)),
              ElementsAre("p-high-early", "p-high-early2", "p-high-late",
                          "p-low", "p-delivered"));
  EXPECT_THAT(Showable("u1", At(10), 2),
              ElementsAre("p-high-early", "p-high-early2"));
  EXPECT_THAT(Showable("u1", At(10), 0), IsEmpty());
  // due_at <= now < expires_at.
  EXPECT_THAT(Showable("u1", At(10) - absl::Microseconds(1)),
              ElementsAre("p-expires-at-10", "p-high-early", "p-high-early2",
                          "p-low", "p-delivered"));
  EXPECT_THAT(Showable("u1", At(11)),
              ElementsAre("p-not-due", "p-high-early", "p-high-early2",
                          "p-high-late", "p-low", "p-delivered"));
  EXPECT_THAT(Showable("u1", At(100)), IsEmpty());
  EXPECT_THAT(Showable("u2", At(0)), ElementsAre("p-other-user"));
  EXPECT_THAT(Showable("nobody", At(0)), IsEmpty());
}

// --- State changes ---

TEST_P(StoreV3Test, UpdatePromptStateIsACompareAndSet) {
  AddPrompts({Prompt("p1", "m1", "u1")});
  const PromptState kOpen[] = {PromptState::kPending, PromptState::kDelivered};

  absl::StatusOr<PromptRecord> p = store_->UpdatePromptState(
      "p1", kOpen, PromptState::kDelivered, At(1) + absl::Microseconds(5));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, PromptState::kDelivered);
  EXPECT_EQ(p->delivered_at, At(1) + absl::Microseconds(5));
  EXPECT_EQ(p->shown_at, std::nullopt);
  EXPECT_EQ(p->closed_at, std::nullopt);
  EXPECT_EQ(p->body, Prompt("p1", "m1", "u1").body);

  // From a state not in `from`: nothing changes and the stored record comes
  // back for the caller to compare.
  p = store_->UpdatePromptState("p1", {PromptState::kPending},
                                PromptState::kDismissed, At(2));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, PromptState::kDelivered);
  EXPECT_EQ(p->closed_at, std::nullopt);
  p = store_->UpdatePromptState("p1", {}, PromptState::kShown, At(2));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, PromptState::kDelivered);

  p = store_->UpdatePromptState("p1", {PromptState::kDelivered},
                                PromptState::kShown, At(3));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, PromptState::kShown);
  EXPECT_EQ(p->delivered_at, At(1) + absl::Microseconds(5));
  EXPECT_EQ(p->shown_at, At(3));

  p = store_->UpdatePromptState("p1", {PromptState::kShown},
                                PromptState::kAnswered, At(4));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, PromptState::kAnswered);
  EXPECT_EQ(p->shown_at, At(3));
  EXPECT_EQ(p->closed_at, At(4));

  // A second answer loses.
  p = store_->UpdatePromptState("p1", {PromptState::kShown},
                                PromptState::kAnswered, At(5));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->closed_at, At(4));
  EXPECT_EQ(Get("p1").closed_at, At(4));

  EXPECT_EQ(store_->UpdatePromptState("nope", kOpen, PromptState::kShown, At(6))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      store_
          ->UpdatePromptState("p1", kOpen, static_cast<PromptState>(42), At(6))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_P(StoreV3Test, ClosingStatesSetClosedAt) {
  AddPrompts(
      {Prompt("p-dismissed", "m1", "u1"), Prompt("p-expired", "m2", "u1")});
  absl::StatusOr<PromptRecord> p = store_->UpdatePromptState(
      "p-dismissed", {PromptState::kPending}, PromptState::kDismissed, At(7));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, PromptState::kDismissed);
  EXPECT_EQ(p->closed_at, At(7));
  EXPECT_EQ(p->delivered_at, std::nullopt);
  p = store_->UpdatePromptState("p-expired", {PromptState::kPending},
                                PromptState::kExpired, At(8));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, PromptState::kExpired);
  EXPECT_EQ(p->closed_at, At(8));
}

TEST_P(StoreV3Test, BackToPendingSetsNoTime) {
  AddPrompts({Prompt("p1", "m1", "u1")});
  ASSERT_TRUE(store_
                  ->UpdatePromptState("p1", {PromptState::kPending},
                                      PromptState::kDelivered, At(1))
                  .ok());
  absl::StatusOr<PromptRecord> p = store_->UpdatePromptState(
      "p1", {PromptState::kDelivered}, PromptState::kPending, At(2));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->state, PromptState::kPending);
  EXPECT_EQ(p->delivered_at, At(1));
  EXPECT_EQ(p->shown_at, std::nullopt);
  EXPECT_EQ(p->closed_at, std::nullopt);
}

TEST_P(StoreV3Test, ExpirePromptsClosesOpenPromptsAtTheirExpiry) {
  absl::StatusOr<int64_t> expired = store_->ExpirePrompts(At(1000));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 0);

  PromptRecord delivered = Prompt("p-delivered", "m2", "u1", 0, 20);
  delivered.state = PromptState::kDelivered;
  delivered.delivered_at = At(1);
  PromptRecord shown = Prompt("p-shown", "m3", "u1", 0, 30);
  shown.state = PromptState::kShown;
  PromptRecord answered = Prompt("p-answered", "m4", "u1", 0, 10);
  answered.state = PromptState::kAnswered;
  answered.closed_at = At(2);
  AddPrompts({Prompt("p-pending", "m1", "u1", 0, 10), delivered, shown,
              answered, Prompt("p-later", "m5", "u1", 0, 31)});

  expired = store_->ExpirePrompts(At(10) - absl::Microseconds(1));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 0);
  // expires_at <= now expires; closed_at is the expiry, not now.
  expired = store_->ExpirePrompts(At(30));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 3);
  for (const auto& [id, closed] :
       std::vector<std::pair<std::string, absl::Time>>{{"p-pending", At(10)},
                                                       {"p-delivered", At(20)},
                                                       {"p-shown", At(30)}}) {
    PromptRecord p = Get(id);
    EXPECT_EQ(p.state, PromptState::kExpired) << id;
    EXPECT_EQ(p.closed_at, closed) << id;
  }
  EXPECT_EQ(Get("p-delivered").delivered_at, At(1));
  EXPECT_EQ(Get("p-answered").state, PromptState::kAnswered);
  EXPECT_EQ(Get("p-answered").closed_at, At(2));
  EXPECT_EQ(Get("p-later").state, PromptState::kPending);
  EXPECT_EQ(Get("p-later").closed_at, std::nullopt);

  expired = store_->ExpirePrompts(At(30));
  ASSERT_TRUE(expired.ok()) << expired.status();
  EXPECT_EQ(*expired, 0);
  // An expired prompt is neither fed nor showable.
  EXPECT_THAT(PromptIds(Feed(At(30), 10)), ElementsAre("p-later"));
  EXPECT_THAT(Showable("u1", At(30)), ElementsAre("p-later"));
}

// --- Threads ---

// Feeding from several threads while decisions arrive: every prompt gets
// exactly one position and the positions are 1..n without gaps.
TEST_P(StoreV3Test, ConcurrentFeedsGiveEachPromptOnePosition) {
  constexpr int kPrompts = 200;
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kPrompts; ++i) {
      const std::string id = absl::StrCat(i);
      if (!Decide(*store_, {Decision(id, "u1")},
                  {Prompt(absl::StrCat("p", id), id, "u1")})
               .ok()) {
        ++failures;
      }
    }
    done = true;
  });
  std::vector<int64_t> seqs[2];
  std::vector<std::thread> feeders;
  for (int t = 0; t < 2; ++t) {
    feeders.emplace_back([&, t] {
      while (true) {
        const bool last_round = done.load();
        absl::StatusOr<std::vector<PromptRecord>> fed =
            store_->FeedDuePrompts(At(0), 7);
        if (!fed.ok()) {
          ++failures;
          return;
        }
        for (const PromptRecord& p : *fed) seqs[t].push_back(p.feed_seq);
        if (last_round && fed->empty()) return;
      }
    });
  }
  writer.join();
  for (std::thread& t : feeders) t.join();
  EXPECT_EQ(failures.load(), 0);

  std::vector<int64_t> all = seqs[0];
  all.insert(all.end(), seqs[1].begin(), seqs[1].end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> want(kPrompts);
  for (int i = 0; i < kPrompts; ++i) want[i] = i + 1;
  EXPECT_EQ(all, want);
  EXPECT_EQ(ReadFeed(0, 1000).size(), size_t{kPrompts});
}

}  // namespace
}  // namespace hark::store
