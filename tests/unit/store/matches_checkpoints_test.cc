// Tests of the engine's tables (schema version 2): matches, engine
// checkpoints, event lookups by seq, the full trait scan, and the upgrade of
// a version 1 file.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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
using ::testing::Not;

// A match of `rule` for `user` at kT0 + `at_s` seconds.
MatchRecord Match(absl::string_view id, absl::string_view rule,
                  absl::string_view user, int at_s) {
  MatchRecord m;
  m.match_id = std::string(id);
  m.rule_id = std::string(rule);
  m.rule_version = absl::StrCat(rule, "-v1");
  m.user_id = std::string(user);
  m.group_key = "E42|fatal";
  m.matched_at = kT0 + absl::Seconds(at_s);
  m.at_deadline = false;
  m.created_at = kT0 + absl::Seconds(at_s) + absl::Milliseconds(5);
  m.context = absl::StrCat("ctx-", id, std::string(1, '\0'), "tail");
  return m;
}

std::vector<std::string> Ids(const std::vector<MatchRecord>& matches) {
  std::vector<std::string> ids;
  for (const MatchRecord& m : matches) ids.push_back(m.match_id);
  return ids;
}

// Follows next_page_token until the end; returns every page's ids.
std::vector<std::vector<std::string>> AllPages(Store& store,
                                               MatchFilter filter) {
  std::vector<std::vector<std::string>> pages;
  for (int guard = 0; guard < 10000; ++guard) {
    absl::StatusOr<MatchPage> page = store.ListMatches(filter);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    pages.push_back(Ids(page->matches));
    if (page->next_page_token.empty()) break;
    filter.page_token = page->next_page_token;
  }
  return pages;
}

std::vector<std::string> Flatten(
    const std::vector<std::vector<std::string>>& pages) {
  std::vector<std::string> all;
  for (const auto& page : pages)
    all.insert(all.end(), page.begin(), page.end());
  return all;
}

// Each test runs on an in-memory database (param false) and on a file
// (param true: reads on their own connections).
class StoreV2Test : public SqliteStoreTest,
                    public ::testing::WithParamInterface<bool> {
 protected:
  std::unique_ptr<Store> Open() {
    return OpenOrDie(GetParam() ? FileOptions() : MemoryOptions());
  }
};

INSTANTIATE_TEST_SUITE_P(MemoryAndFile, StoreV2Test, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "File" : "Memory";
                         });

// --- Migration ---

TEST_F(SqliteStoreTest, UpgradesAVersion1FileInPlace) {
  // A file exactly as a version 1 Hark left it: the version 1 statements,
  // then rows written through the version 1 schema.
  ASSERT_NO_FATAL_FAILURE(CreateFileAtVersion(1));
  ASSERT_EQ(RawQueryText(FilePath(), "PRAGMA user_version"), "1");
  ASSERT_EQ(RawQueryText(FilePath(),
                         "SELECT COUNT(*) FROM sqlite_master "
                         "WHERE name = 'matches'"),
            "0");
  RawExec(FilePath(),
          "INSERT INTO events(event_id, user_id, name, event_time_us, "
          "received_us, payload) VALUES "
          "('e1', 'u1', 'a', 1, 2, x'00'), ('e2', 'u1', 'b', 3, 4, x'01'), "
          "('e3', 'u2', 'c', 5, 6, x'02');"
          "INSERT INTO users(user_id, first_seen_us) VALUES ('u1', 1), "
          "('u2', 5);"
          "INSERT INTO traits(user_id, key, value, set_at_us) VALUES "
          "('u1', 'plan', 'pro', 7);"
          "UPDATE store_counters SET value = 3 WHERE name = 'events';"
          "UPDATE store_counters SET value = 2 WHERE name = 'users';");

  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQueryText(FilePath(), "PRAGMA user_version"),
            absl::StrCat(internal::LatestSchemaVersion()));

  // The version 1 data is intact.
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 3u);
  EXPECT_EQ(stats->users, 2u);
  EXPECT_THAT(RecentIds(*store, 10), ElementsAre("e1", "e2", "e3"));
  absl::StatusOr<std::vector<TraitRecord>> traits = store->GetTraits("u1");
  ASSERT_TRUE(traits.ok());
  ASSERT_EQ(traits->size(), 1u);
  EXPECT_EQ((*traits)[0].value, "pro");

  // The log continues where it stopped, and the new tables work.
  absl::StatusOr<WriteResult> written = store->Write(Events(4, 5));
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->first_event_seq, 4);
  EXPECT_EQ(written->last_event_seq, 5);
  ASSERT_TRUE(store->AppendMatches({Match("m1", "r", "u1", 1)}).ok());
  absl::StatusOr<MatchPage> page = store->ListMatches({});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Ids(page->matches), ElementsAre("m1"));
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 5, kT0, "state").ok());
  store.reset();

  // An upgraded file has exactly the schema of a fresh one.
  ASSERT_NE(OpenOrDie(StoreOptions{FilePath("fresh.db")}), nullptr);
  EXPECT_THAT(SchemaOf(FilePath()),
              ElementsAreArray(SchemaOf(FilePath("fresh.db"))));
  EXPECT_THAT(SchemaOf(FilePath()),
              ::testing::Contains(HasSubstr("index matches_by_rule")));
}

TEST_F(SqliteStoreTest, MigrateToStopsAtTheTargetVersion) {
  absl::StatusOr<std::unique_ptr<internal::Connection>> conn =
      internal::OpenWriter(":memory:", Durability::kNormal, absl::Seconds(5));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ(internal::MigrateTo(**conn, 0).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      internal::MigrateTo(**conn, internal::LatestSchemaVersion() + 1).code(),
      absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(internal::MigrateTo(**conn, 1).ok());
  EXPECT_EQ(*(*conn)->QueryInt64("PRAGMA user_version"), 1);
  ASSERT_TRUE(internal::Migrate(**conn).ok());
  EXPECT_EQ(*(*conn)->QueryInt64("PRAGMA user_version"),
            internal::LatestSchemaVersion());
  // Going back is not a migration: nothing happens.
  ASSERT_TRUE(internal::MigrateTo(**conn, 1).ok());
  EXPECT_EQ(*(*conn)->QueryInt64("PRAGMA user_version"),
            internal::LatestSchemaVersion());
}

// --- AppendMatches ---

TEST_P(StoreV2Test, MatchesRoundTripEveryField) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  MatchRecord m = Match("m1", "onboarding_abandonment", "u1", 30 * 60);
  m.at_deadline = true;
  m.group_key = "";
  m.matched_at += absl::Microseconds(7);
  MatchRecord n = Match("m2", "repeated_errors", "u2", 10);
  ASSERT_TRUE(store->AppendMatches({m, n}).ok());

  absl::StatusOr<MatchPage> page = store->ListMatches({});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->matches.size(), 2u);
  EXPECT_TRUE(page->next_page_token.empty());
  const MatchRecord& got = page->matches[0];  // the newer one
  EXPECT_EQ(got.match_id, m.match_id);
  EXPECT_EQ(got.rule_id, m.rule_id);
  EXPECT_EQ(got.rule_version, m.rule_version);
  EXPECT_EQ(got.user_id, m.user_id);
  EXPECT_EQ(got.group_key, "");
  EXPECT_EQ(got.matched_at, m.matched_at);
  EXPECT_TRUE(got.at_deadline);
  EXPECT_EQ(got.created_at, m.created_at);
  EXPECT_EQ(got.context, m.context);  // binary-safe
  EXPECT_EQ(page->matches[1].match_id, "m2");
  EXPECT_FALSE(page->matches[1].at_deadline);
  EXPECT_EQ(page->matches[1].group_key, "E42|fatal");
}

TEST_P(StoreV2Test, AppendMatchesIsIdempotentByMatchId) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->AppendMatches({}).ok());
  ASSERT_TRUE(
      store->AppendMatches({Match("a", "r", "u1", 1), Match("b", "r", "u1", 2)})
          .ok());
  // A replay after a crash: the same ids again (here with other values,
  // which must not replace the first ones), twice within one call, and one
  // new match.
  MatchRecord replayed = Match("b", "r", "u1", 2);
  replayed.context = "replayed";
  replayed.created_at = kT0 + absl::Hours(1);
  ASSERT_TRUE(store
                  ->AppendMatches({replayed, Match("c", "r", "u1", 3),
                                   Match("c", "r", "u1", 3)})
                  .ok());

  absl::StatusOr<MatchPage> page = store->ListMatches({});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Ids(page->matches), ElementsAre("c", "b", "a"));
  EXPECT_EQ(page->matches[1].context, Match("b", "r", "u1", 2).context);
  EXPECT_EQ(page->matches[1].created_at, Match("b", "r", "u1", 2).created_at);
}

TEST_P(StoreV2Test, AppendMatchesRefusesAnEmptyIdAndStoresNothing) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  absl::Status status = store->AppendMatches(
      {Match("a", "r", "u1", 1), Match("", "repeated_errors", "u7", 2)});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("repeated_errors"));
  EXPECT_THAT(status.message(), HasSubstr("u7"));
  absl::StatusOr<MatchPage> page = store->ListMatches({});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->matches, IsEmpty());
}

TEST_F(SqliteStoreTest, FailedAppendMatchesStoresNothing) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  RawExec(FilePath(),
          "CREATE TRIGGER fail_on_boom BEFORE INSERT ON matches "
          "WHEN NEW.match_id = 'boom' "
          "BEGIN SELECT RAISE(ABORT, 'forced failure'); END");
  absl::Status status = store->AppendMatches(
      {Match("a", "r", "u1", 1), Match("boom", "r", "u1", 2)});
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("forced failure"));
  absl::StatusOr<MatchPage> page = store->ListMatches({});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->matches, IsEmpty());
  // The writer is usable again.
  ASSERT_TRUE(store->AppendMatches({Match("a", "r", "u1", 1)}).ok());
  ASSERT_TRUE(store->Write(Events(1, 2)).ok());
}

// --- ListMatches ---

TEST_P(StoreV2Test, ListMatchesIsNewestFirstWithIdTiebreak) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->AppendMatches(
                      {Match("m-b", "r", "u1", 5), Match("m-a", "r", "u1", 5),
                       Match("m-c", "r", "u1", 5), Match("old", "r", "u1", 1),
                       Match("new", "r", "u1", 9)})
                  .ok());
  absl::StatusOr<MatchPage> page = store->ListMatches({});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Ids(page->matches),
              ElementsAre("new", "m-c", "m-b", "m-a", "old"));
  // Paging one by one through the tie keeps the same order.
  MatchFilter filter;
  filter.page_size = 1;
  EXPECT_THAT(Flatten(AllPages(*store, filter)),
              ElementsAre("new", "m-c", "m-b", "m-a", "old"));
}

TEST_P(StoreV2Test, ListMatchesFilters) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store
          ->AppendMatches({Match("1", "ra", "u1", 1), Match("2", "rb", "u1", 2),
                           Match("3", "ra", "u2", 3), Match("4", "rb", "u2", 4),
                           Match("5", "ra", "u1", 5)})
          .ok());
  auto ids = [&](absl::string_view rule, absl::string_view user) {
    MatchFilter filter;
    filter.rule_id = std::string(rule);
    filter.user_id = std::string(user);
    absl::StatusOr<MatchPage> page = store->ListMatches(filter);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? Ids(page->matches) : std::vector<std::string>{};
  };
  EXPECT_THAT(ids("", ""), ElementsAre("5", "4", "3", "2", "1"));
  EXPECT_THAT(ids("ra", ""), ElementsAre("5", "3", "1"));
  EXPECT_THAT(ids("", "u2"), ElementsAre("4", "3"));
  EXPECT_THAT(ids("ra", "u1"), ElementsAre("5", "1"));
  EXPECT_THAT(ids("rb", "u1"), ElementsAre("2"));
  EXPECT_THAT(ids("nope", ""), IsEmpty());
  EXPECT_THAT(ids("", "nobody"), IsEmpty());

  // Filters hold across pages.
  MatchFilter filter;
  filter.rule_id = "ra";
  filter.page_size = 2;
  std::vector<std::vector<std::string>> pages = AllPages(*store, filter);
  EXPECT_THAT(pages, ElementsAre(ElementsAre("5", "3"), ElementsAre("1")));
}

// A rule filter alone walks the matches newest first, at most
// list_matches_scan_limit of them per call: a rare rule's pages may come
// back short (even empty) with a token, and the walk still lists each of
// its matches once, in order.
TEST_P(StoreV2Test, ListMatchesOfARareRuleComesInShortPages) {
  StoreOptions options = GetParam() ? FileOptions() : MemoryOptions();
  options.list_matches_scan_limit = 10;
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  std::vector<MatchRecord> matches;
  std::vector<std::string> rare;
  for (int i = 0; i < 200; ++i) {
    const bool is_rare = i % 37 == 5;
    matches.push_back(Match(absl::StrCat("m", 1000 + i),
                            is_rare ? "rare" : "common", "u1", i));
    if (is_rare) rare.insert(rare.begin(), matches.back().match_id);
  }
  ASSERT_TRUE(store->AppendMatches(matches).ok());
  ASSERT_EQ(rare.size(), 6u);

  MatchFilter filter;
  filter.rule_id = "rare";
  filter.page_size = 4;
  std::vector<std::vector<std::string>> pages = AllPages(*store, filter);
  EXPECT_THAT(Flatten(pages), ElementsAreArray(rare));
  // 200 entries at 10 per call: about 20 calls, none over the page size.
  EXPECT_GE(pages.size(), 15u);
  EXPECT_LE(pages.size(), 25u);
  for (const auto& page : pages) EXPECT_LE(page.size(), 4u);

  // A common rule fills its pages: no entry of it is counted against the
  // limit.
  filter.rule_id = "common";
  filter.page_size = 50;
  pages = AllPages(*store, filter);
  ASSERT_EQ(pages.size(), 4u);
  EXPECT_EQ(pages[0].size(), 50u);
  EXPECT_EQ(Flatten(pages).size(), 194u);
}

// A user's matches are found rule by rule (schema version 6): across many
// rules, in one order, and paged.
TEST_P(StoreV2Test, ListMatchesOfAUserAcrossRules) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<MatchRecord> matches;
  std::vector<std::string> mine;
  for (int i = 0; i < 300; ++i) {
    const std::string user = i % 7 == 0 ? "me" : absl::StrCat("u", i % 13);
    matches.push_back(Match(absl::StrCat("m", 1000 + i),
                            absl::StrCat("rule-", i % 23), user, i % 50));
    if (user == "me") mine.push_back(matches.back().match_id);
  }
  ASSERT_TRUE(store->AppendMatches(matches).ok());
  std::vector<MatchRecord> sorted;
  for (const MatchRecord& m : matches) {
    if (m.user_id == "me") sorted.push_back(m);
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return std::pair(a.matched_at, a.match_id) >
           std::pair(b.matched_at, b.match_id);
  });
  MatchFilter filter;
  filter.user_id = "me";
  filter.page_size = 7;
  EXPECT_THAT(Flatten(AllPages(*store, filter)), ElementsAreArray(Ids(sorted)));

  // Deleting the user takes every one of its matches, and no other.
  absl::StatusOr<std::map<std::string, int64_t>> removed =
      store->DeleteUser("me");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ((*removed)["matches"], static_cast<int64_t>(mine.size()));
  filter = MatchFilter{};
  filter.user_id = "me";
  absl::StatusOr<MatchPage> page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(page->matches, IsEmpty());
  filter = MatchFilter{};
  filter.page_size = 1000;
  page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->matches.size(), matches.size() - mine.size());
}

// The lines of EXPLAIN QUERY PLAN `sql` on the file at `path`.
std::string QueryPlan(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string plan;
  EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1,
                               &stmt, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
    absl::StrAppend(&plan,
                    reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3)),
                    "\n");
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return plan;
}

// The queries of matches use the indexes they were written for: none
// reads the whole table.
TEST_F(SqliteStoreTest, MatchQueriesUseTheirIndexes) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  store.reset();
  const std::string cte =
      "WITH RECURSIVE rule_ids(id) AS (SELECT (SELECT MIN(rule_id) FROM "
      "matches) UNION ALL SELECT (SELECT MIN(rule_id) FROM matches WHERE "
      "rule_id > rule_ids.id) FROM rule_ids WHERE rule_ids.id IS NOT NULL) ";
  for (const std::string& sql : {
           cte + "SELECT * FROM rule_ids JOIN matches INDEXED BY "
                 "matches_by_rule_user ON matches.rule_id = rule_ids.id AND "
                 "matches.user_id = 'u' ORDER BY matched_at_us DESC",
           std::string("SELECT * FROM matches ORDER BY matched_at_us DESC, "
                       "match_id DESC LIMIT 5"),
           std::string("SELECT rule_id, COUNT(*) FROM matches WHERE rule_id "
                       "= 'r' AND +matched_at_us >= 5 GROUP BY rule_id"),
       }) {
    const std::string plan = QueryPlan(FilePath(), sql);
    SCOPED_TRACE(sql);
    SCOPED_TRACE(plan);
    EXPECT_THAT(plan, Not(HasSubstr("SCAN matches\n")));
    EXPECT_THAT(plan, Not(HasSubstr("USE TEMP B-TREE FOR GROUP BY")));
  }
}

TEST_P(StoreV2Test, ListMatchesPagesWithoutSkipOrRepeatWhileRowsArrive) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  // 25 matches at distinct times, plus a tie at t=100 that the first page
  // boundary falls into.
  std::vector<MatchRecord> initial;
  for (int i = 0; i < 25; ++i) {
    initial.push_back(Match(absl::StrCat("m", 100 + i), "r", "u1", 200 - i));
  }
  for (const char* id : {"t-a", "t-b", "t-c"}) {
    initial.push_back(Match(id, "r", "u1", 100));
  }
  ASSERT_TRUE(store->AppendMatches(initial).ok());
  std::vector<std::string> expected_initial;
  {
    std::vector<MatchRecord> sorted = initial;
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return std::pair(a.matched_at, a.match_id) >
             std::pair(b.matched_at, b.match_id);
    });
    expected_initial = Ids(sorted);
  }

  MatchFilter filter;
  filter.page_size = 10;
  std::vector<std::string> seen;
  int pages = 0;
  int inserted = 0;
  while (true) {
    absl::StatusOr<MatchPage> page = store->ListMatches(filter);
    ASSERT_TRUE(page.ok()) << page.status();
    ASSERT_LE(page->matches.size(), 10u);
    for (const MatchRecord& m : page->matches) seen.push_back(m.match_id);
    ++pages;
    if (page->next_page_token.empty()) break;
    filter.page_token = page->next_page_token;
    // Between pages: newer matches (sort before the position: never
    // shown), a replay of a row already listed (stored once), and a match
    // at the same instant as the last row listed but with a greater id
    // (also before the position).
    const MatchRecord& last = page->matches.back();
    MatchRecord same_instant = last;
    same_instant.match_id = last.match_id + "~";
    ASSERT_TRUE(store
                    ->AppendMatches({Match(absl::StrCat("newer", inserted), "r",
                                           "u1", 1000 + inserted),
                                     page->matches.front(), same_instant})
                    .ok());
    ++inserted;
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAreArray(expected_initial));

  // A fresh listing sees everything exactly once.
  filter = MatchFilter{};
  filter.page_size = 7;
  std::vector<std::string> all = Flatten(AllPages(*store, filter));
  EXPECT_EQ(all.size(), initial.size() + 2 * inserted);
  std::vector<std::string> unique = all;
  std::sort(unique.begin(), unique.end());
  EXPECT_EQ(std::unique(unique.begin(), unique.end()), unique.end());
}

TEST_P(StoreV2Test, ListMatchesShowsRowsInsertedBehindThePosition) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store
          ->AppendMatches({Match("c", "r", "u1", 30), Match("b", "r", "u1", 20),
                           Match("a", "r", "u1", 10)})
          .ok());
  MatchFilter filter;
  filter.page_size = 1;
  absl::StatusOr<MatchPage> first = store->ListMatches(filter);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Ids(first->matches), ElementsAre("c"));
  // A late match (an absence deadline of the past, say) sorts behind the
  // position, so a later page shows it.
  ASSERT_TRUE(store->AppendMatches({Match("late", "r", "u1", 15)}).ok());
  filter.page_token = first->next_page_token;
  EXPECT_THAT(Flatten(AllPages(*store, filter)), ElementsAre("b", "late", "a"));
}

TEST_P(StoreV2Test, ListMatchesPageSizeDefaultsAndCaps) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  std::vector<MatchRecord> matches;
  for (int i = 0; i < 1100; ++i) {
    matches.push_back(Match(absl::StrCat("m", i), "r", "u1", i));
  }
  ASSERT_TRUE(store->AppendMatches(matches).ok());
  MatchFilter filter;
  absl::StatusOr<MatchPage> page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->matches.size(), 50u);
  EXPECT_FALSE(page->next_page_token.empty());

  filter.page_size = 5000;
  page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->matches.size(), 1000u);
  filter.page_token = page->next_page_token;
  page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->matches.size(), 100u);
  EXPECT_TRUE(page->next_page_token.empty());

  // A page that ends exactly at the last row carries no token.
  filter = MatchFilter{};
  filter.page_size = 1000;
  filter.user_id = "u1";
  page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  filter.page_size = 100;
  filter.page_token = page->next_page_token;
  page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->matches.size(), 100u);
  EXPECT_TRUE(page->next_page_token.empty());
}

TEST_P(StoreV2Test, ListMatchesRejectsBadPageTokens) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->AppendMatches({Match("a", "r", "u1", 1), Match("b", "r", "u1", 2)})
          .ok());
  MatchFilter filter;
  filter.rule_id = "r";
  filter.page_size = 1;
  absl::StatusOr<MatchPage> page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  const std::string good = page->next_page_token;
  ASSERT_FALSE(good.empty());

  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(good, &raw));
  for (const std::string& token : {
           std::string("garbage!"),
           std::string("@@@"),
           absl::WebSafeBase64Escape("hello"),
           absl::WebSafeBase64Escape(raw.substr(0, raw.size() - 1)),
           absl::WebSafeBase64Escape(raw + "x"),
           absl::WebSafeBase64Escape("m1;abc;1:r0:1:b"),
           absl::WebSafeBase64Escape("m1;2;9:r0:1:b"),
           absl::WebSafeBase64Escape("m2" + raw.substr(2)),
       }) {
    SCOPED_TRACE(token);
    filter.page_token = token;
    absl::StatusOr<MatchPage> bad = store->ListMatches(filter);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(bad.status().message(), HasSubstr("page_token"));
  }

  // A token is bound to its filter.
  filter.page_token = good;
  filter.rule_id = "other";
  absl::StatusOr<MatchPage> other = store->ListMatches(filter);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("filter"));
  filter.rule_id = "r";
  filter.user_id = "u1";
  EXPECT_EQ(store->ListMatches(filter).status().code(),
            absl::StatusCode::kInvalidArgument);

  filter.user_id = "";
  page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Ids(page->matches), ElementsAre("a"));
}

// --- Checkpoints ---

TEST_P(StoreV2Test, CheckpointRoundTripAndOverwrite) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->has_value());

  const std::string state = std::string("state\0one", 9);
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 41, kT0, state).ok());
  ASSERT_TRUE(store
                  ->SaveCheckpoint(3, CheckpointKind::kFull, 7,
                                   kT0 + absl::Seconds(1), "s3")
                  .ok());
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 41);
  EXPECT_EQ((*loaded)->saved_at, kT0);
  EXPECT_EQ((*loaded)->state, state);

  ASSERT_TRUE(store
                  ->SaveCheckpoint(0, CheckpointKind::kFull, 99,
                                   kT0 + absl::Minutes(1), "second")
                  .ok());
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 99);
  EXPECT_EQ((*loaded)->saved_at, kT0 + absl::Minutes(1));
  EXPECT_EQ((*loaded)->state, "second");

  // Shards are independent.
  loaded = store->LoadCheckpoint(3);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 7);
  EXPECT_EQ((*loaded)->state, "s3");
  loaded = store->LoadCheckpoint(1);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->has_value());

  // An empty state is a state.
  ASSERT_TRUE(store->SaveCheckpoint(1, CheckpointKind::kFull, 0, kT0, "").ok());
  loaded = store->LoadCheckpoint(1);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->state, "");
}

TEST_F(SqliteStoreTest, CheckpointsAndMatchesSurviveAReopen) {
  {
    std::unique_ptr<Store> store = OpenOrDie(FileOptions());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(
        store->SaveCheckpoint(0, CheckpointKind::kFull, 12, kT0, "persisted")
            .ok());
    ASSERT_TRUE(store->AppendMatches({Match("m1", "r", "u1", 1)}).ok());
  }
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 12);
  EXPECT_EQ((*loaded)->state, "persisted");
  absl::StatusOr<MatchPage> page = store->ListMatches({});
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Ids(page->matches), ElementsAre("m1"));
}

// A state of `bytes` bytes that differs at every position of a part.
std::string BigState(size_t bytes, char salt) {
  std::string state(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    state[i] = static_cast<char>((i * 131 + static_cast<size_t>(salt)) % 251);
  }
  return state;
}

TEST_F(SqliteStoreTest, LargeCheckpointIsWrittenInPartsAndOldPartsGo) {
  std::unique_ptr<Store> store = OpenOrDie(RawCheckpointOptions());
  ASSERT_NE(store, nullptr);
  const std::string big = BigState((5u << 20) / 2, 'a');  // 2.5 MiB
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0, big).ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT COUNT(*) || ' ' || MAX(length(data)) FROM "
                         "engine_checkpoint_parts"),
            absl::StrCat("3 ", 1 << 20));
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 10);
  EXPECT_TRUE((*loaded)->state == big) << "the 2.5 MiB state differs";

  // The next save replaces the generation; nothing of the old one stays.
  const std::string next = BigState((3u << 20) / 2, 'b');  // 1.5 MiB
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 20, kT0, next).ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT COUNT(*) || ' ' || MIN(generation) || ' ' || "
                         "MAX(generation) FROM engine_checkpoint_parts"),
            "2 2 2");
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 20);
  EXPECT_TRUE((*loaded)->state == next) << "the 1.5 MiB state differs";
}

TEST_F(SqliteStoreTest, CheckpointWrittenInPiecesIsStoredAsItComes) {
  std::unique_ptr<Store> store = OpenOrDie(RawCheckpointOptions());
  ASSERT_NE(store, nullptr);
  const std::vector<std::string> pieces = {
      "head", BigState((3u << 20) / 2, 'p'), "", "tail"};
  int parts_before_tail = -1;
  ASSERT_TRUE(
      store
          ->WriteCheckpoint(
              0, CheckpointKind::kFull, 10, kT0,
              [&](absl::FunctionRef<absl::Status(absl::string_view)> put)
                  -> absl::Status {
                for (const std::string& piece : pieces) {
                  if (piece == "tail") {
                    // Each piece is committed as it comes.
                    parts_before_tail =
                        std::stoi(RawQueryText(FilePath(),
                                               "SELECT COUNT(*) FROM "
                                               "engine_checkpoint_parts"));
                  }
                  if (absl::Status s = put(piece); !s.ok()) return s;
                }
                return absl::OkStatus();
              })
          .ok());
  // "head", the 1.5 MiB piece cut at 1 MiB, nothing for "", "tail".
  EXPECT_EQ(parts_before_tail, 3);
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT COUNT(*) || ' ' || MAX(length(data)) FROM "
                         "engine_checkpoint_parts"),
            absl::StrCat("4 ", 1 << 20));
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_TRUE((*loaded)->state == absl::StrJoin(pieces, ""))
      << "the pieces put together differ";

  // A writer that fails half way fails the save; the checkpoint in force
  // stays, and the parts already stored go with the next save.
  absl::Status failed = store->WriteCheckpoint(
      0, CheckpointKind::kFull, 20, kT0,
      [](absl::FunctionRef<absl::Status(absl::string_view)> put) {
        if (absl::Status s = put("half"); !s.ok()) return s;
        return absl::InternalError("the engine gave up");
      });
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->last_seq, 10);
  EXPECT_TRUE((*loaded)->state == absl::StrJoin(pieces, ""));
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 30, kT0, "after").ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT group_concat(data) FROM "
                         "engine_checkpoint_parts"),
            "after");
}

TEST_F(SqliteStoreTest, UnfinishedCheckpointIsIgnoredThenDeleted) {
  std::unique_ptr<Store> store = OpenOrDie(RawCheckpointOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0, "serving").ok());
  // What a crash between the parts and the switch of the next save leaves.
  RawExec(FilePath(),
          "INSERT INTO engine_checkpoint_parts(shard, generation, part, data) "
          "VALUES (0, 2, 0, 'half'), (0, 2, 1, 'done')");
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->state, "serving");
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 30, kT0, "after").ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT group_concat(generation || ':' || data) FROM "
                         "engine_checkpoint_parts"),
            "2:after");
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->state, "after");
}

TEST_F(SqliteStoreTest, CheckpointWithAMissingPartIsDataLoss) {
  std::unique_ptr<Store> store = OpenOrDie(RawCheckpointOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0,
                                   BigState(3u << 20, 'c'))
                  .ok());
  RawExec(FilePath(), "DELETE FROM engine_checkpoint_parts WHERE part = 1");
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), HasSubstr("part 1 is missing"));
}

// Shard 0's checkpoint in force. Failing to load it, or finding none,
// fails the test (and gives an empty one).
Checkpoint CheckpointOf(Store& store) {
  absl::StatusOr<std::optional<Checkpoint>> loaded = store.LoadCheckpoint(0);
  if (!loaded.ok() || !loaded->has_value()) {
    ADD_FAILURE() << "no checkpoint loaded: " << loaded.status();
    return {};
  }
  return **std::move(loaded);
}

// `bytes` bytes that zstd cannot shrink.
std::string RandomState(size_t bytes, uint32_t seed) {
  std::string state(bytes, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (char& c : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 24);
  }
  return state;
}

// CheckpointStoredBytes() of shard 0, or -1 on error.
int64_t StoredBytes(Store& store) {
  absl::StatusOr<uint64_t> bytes = store.CheckpointStoredBytes(0);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? static_cast<int64_t>(*bytes) : -1;
}

TEST_F(SqliteStoreTest, CheckpointsAreStoredCompressed) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(StoredBytes(*store), 0);  // none saved yet
  // Repetitive, as the engine's state is: a fraction of its size is
  // stored, in one part.
  const std::string big = BigState(6u << 20, 'z');
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0, big).ok());
  const std::string stored =
      RawQueryText(FilePath(),
                   "SELECT COUNT(*) || ' ' || SUM(length(data)) FROM "
                   "engine_checkpoint_parts");
  EXPECT_THAT(stored, testing::StartsWith("1 "));
  EXPECT_LT(std::stoll(stored.substr(2)), (6 << 20) / 20) << stored;
  // Bytes zstd cannot shrink still go in parts of 1 MiB.
  const std::string noise = RandomState((5u << 20) / 2, 1);
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 11, kT0, noise).ok());
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 12, kT0, "").ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT group_concat(generation || ':' || parts || "
                         "':' || encoding) FROM engine_checkpoint_segments"),
            "1:1:1,2:3:1,3:1:1");
  EXPECT_EQ(
      RawQueryText(FilePath(),
                   "SELECT MAX(length(data)) FROM engine_checkpoint_parts "
                   "WHERE generation = 2"),
      absl::StrCat(1 << 20));
  const Checkpoint loaded = CheckpointOf(*store);
  EXPECT_EQ(loaded.last_seq, 12);
  EXPECT_TRUE(loaded.state == big) << "the 6 MiB state differs";
  ASSERT_EQ(loaded.deltas.size(), 2u);
  EXPECT_TRUE(loaded.deltas[0] == noise) << "the 2.5 MiB delta differs";
  EXPECT_EQ(loaded.deltas[1], "");

  // The stored size counts the chain in force as it is stored: the
  // compressed full one and both deltas.
  const auto sum_of_parts = [this](absl::string_view where) {
    return std::stoll(
        RawQueryText(FilePath(), absl::StrCat("SELECT SUM(length(data)) FROM "
                                              "engine_checkpoint_parts ",
                                              where)));
  };
  EXPECT_EQ(StoredBytes(*store), sum_of_parts(""));
  EXPECT_LT(StoredBytes(*store),
            static_cast<int64_t>(big.size() + noise.size()));
  // A new full one leaves the old chain out, parts not deleted yet or not.
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 13, kT0, big).ok());
  EXPECT_EQ(StoredBytes(*store), sum_of_parts("WHERE generation = 4"));
}

TEST_F(SqliteStoreTest, RawAndCompressedGenerationsLoadTogether) {
  {
    std::unique_ptr<Store> store = OpenOrDie(RawCheckpointOptions());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(
        store->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0, "raw base")
            .ok());
  }
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 11, kT0, "zstd delta")
          .ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT group_concat(generation || ':' || encoding) "
                         "FROM engine_checkpoint_segments"),
            "1:0,2:1");
  const Checkpoint loaded = CheckpointOf(*store);
  EXPECT_EQ(loaded.state, "raw base");
  EXPECT_THAT(loaded.deltas, ElementsAre("zstd delta"));
}

TEST_F(SqliteStoreTest, DamagedCompressedCheckpointIsDataLoss) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store
                  ->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0,
                                   RandomState(3u << 20, 2))
                  .ok());
  // A part overwritten: not zstd at all.
  RawExec(FilePath(),
          "UPDATE engine_checkpoint_parts SET data = zeroblob(length(data)) "
          "WHERE part = 0");
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(),
              HasSubstr("has part 0 of generation 1 damaged"));

  // The last part cut short: the frame never ends.
  ASSERT_TRUE(store
                  ->SaveCheckpoint(0, CheckpointKind::kFull, 20, kT0,
                                   RandomState((3u << 20) + 100000, 3))
                  .ok());
  RawExec(FilePath(),
          "UPDATE engine_checkpoint_parts SET data = substr(data, 1, "
          "length(data) / 2) WHERE part = 3");
  loaded = store->LoadCheckpoint(0);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(),
              HasSubstr("has generation 2 cut short"));

  // An encoding from a later build.
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 30, kT0, "later").ok());
  RawExec(FilePath(), "UPDATE engine_checkpoint_segments SET encoding = 7");
  loaded = store->LoadCheckpoint(0);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(),
              HasSubstr("in encoding 7, which this build cannot read"));
}

TEST_F(SqliteStoreTest, Version8CheckpointStillLoads) {
  ASSERT_NO_FATAL_FAILURE(CreateFileAtVersion(8));
  RawExec(FilePath(),
          "INSERT INTO engine_checkpoints(shard, last_seq, saved_us, state, "
          "generation, parts, base_generation) VALUES (0, 77, 5, '', 1, 2, 1)");
  RawExec(FilePath(),
          "INSERT INTO engine_checkpoint_segments(shard, generation, parts) "
          "VALUES (0, 1, 2)");
  RawExec(FilePath(),
          "INSERT INTO engine_checkpoint_parts(shard, generation, part, data) "
          "VALUES (0, 1, 0, x'0001'), (0, 1, 1, x'feff')");
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  const std::string raw("\x00\x01\xfe\xff", 4);
  Checkpoint loaded = CheckpointOf(*store);
  EXPECT_EQ(loaded.last_seq, 77);
  EXPECT_EQ(loaded.state, raw);
  // Deltas after the upgrade are compressed and follow it.
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 78, kT0, "v9").ok());
  loaded = CheckpointOf(*store);
  EXPECT_EQ(loaded.last_seq, 78);
  EXPECT_EQ(loaded.state, raw);
  EXPECT_THAT(loaded.deltas, ElementsAre("v9"));
}

TEST_F(SqliteStoreTest, Version4CheckpointStillLoads) {
  ASSERT_NO_FATAL_FAILURE(CreateFileAtVersion(4));
  RawExec(FilePath(),
          "INSERT INTO engine_checkpoints(shard, last_seq, saved_us, state) "
          "VALUES (0, 77, 5, x'0001feff')");
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 77);
  EXPECT_EQ((*loaded)->state, std::string("\x00\x01\xfe\xff", 4));
  // The first save after the upgrade moves it to parts.
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 78, kT0, "v5").ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT length(state) || ' ' || generation || ' ' || "
                         "parts FROM engine_checkpoints"),
            "0 1 1");
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->state, "v5");
}

TEST_P(StoreV2Test, CheckpointDeltasFollowTheFullOne) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  const absl::Status no_base =
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 5, kT0, "d0");
  EXPECT_EQ(no_base.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_base.message(), HasSubstr("needs a full checkpoint"));

  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0, "base").ok());
  ASSERT_TRUE(store
                  ->SaveCheckpoint(0, CheckpointKind::kDelta, 12,
                                   kT0 + absl::Seconds(1), "d1")
                  .ok());
  ASSERT_TRUE(store
                  ->SaveCheckpoint(0, CheckpointKind::kDelta, 15,
                                   kT0 + absl::Seconds(2), "d2")
                  .ok());
  // Another shard's chain is its own.
  ASSERT_TRUE(
      store->SaveCheckpoint(1, CheckpointKind::kFull, 3, kT0, "other").ok());
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 15);
  EXPECT_EQ((*loaded)->saved_at, kT0 + absl::Seconds(2));
  EXPECT_EQ((*loaded)->state, "base");
  EXPECT_THAT((*loaded)->deltas, ElementsAre("d1", "d2"));
  loaded = store->LoadCheckpoint(1);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->state, "other");
  EXPECT_THAT((*loaded)->deltas, IsEmpty());

  // A full save replaces the chain.
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 20, kT0, "again").ok());
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 21, kT0, "d3").ok());
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 21);
  EXPECT_EQ((*loaded)->state, "again");
  EXPECT_THAT((*loaded)->deltas, ElementsAre("d3"));
}

TEST_F(SqliteStoreTest, FullCheckpointDropsTheChainBeforeIt) {
  std::unique_ptr<Store> store = OpenOrDie(RawCheckpointOptions());
  ASSERT_NE(store, nullptr);
  const std::string big_delta = BigState((3u << 20) / 2, 'd');  // 2 parts
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0, "base").ok());
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 11, kT0, big_delta)
          .ok());
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 12, kT0, "small").ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT group_concat(generation || ':' || parts) FROM "
                         "engine_checkpoint_segments"),
            "1:1,2:2,3:1");
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  ASSERT_EQ((*loaded)->deltas.size(), 2u);
  EXPECT_TRUE((*loaded)->deltas[0] == big_delta) << "the 1.5 MiB delta differs";
  EXPECT_EQ((*loaded)->deltas[1], "small");

  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 13, kT0, "next").ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT group_concat(generation || ':' || data) FROM "
                         "engine_checkpoint_parts"),
            "4:next");
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT group_concat(generation || ':' || parts) FROM "
                         "engine_checkpoint_segments"),
            "4:1");
}

TEST_F(SqliteStoreTest, UnfinishedDeltaIsIgnoredAndAMissingOneIsDataLoss) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 10, kT0, "base").ok());
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 11, kT0, "d1").ok());
  // What a crash between the parts and the switch of a delta leaves.
  RawExec(FilePath(),
          "INSERT INTO engine_checkpoint_parts(shard, generation, part, data) "
          "VALUES (0, 3, 0, 'half')");
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 11);
  EXPECT_THAT((*loaded)->deltas, ElementsAre("d1"));
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 12, kT0, "d2").ok());
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT((*loaded)->deltas, ElementsAre("d1", "d2"));

  RawExec(FilePath(),
          "DELETE FROM engine_checkpoint_segments WHERE generation = 2");
  loaded = store->LoadCheckpoint(0);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), HasSubstr("lacks generation 2"));
}

TEST_F(SqliteStoreTest, Version6CheckpointLoadsAndTakesDeltas) {
  ASSERT_NO_FATAL_FAILURE(CreateFileAtVersion(6));
  RawExec(FilePath(),
          "INSERT INTO engine_checkpoints(shard, last_seq, saved_us, state, "
          "generation, parts) VALUES (0, 40, 5, '', 3, 2);"
          "INSERT INTO engine_checkpoint_parts(shard, generation, part, data) "
          "VALUES (0, 3, 0, 'ab'), (0, 3, 1, 'cd')");
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 40);
  EXPECT_EQ((*loaded)->state, "abcd");
  EXPECT_THAT((*loaded)->deltas, IsEmpty());
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 41, kT0, "d").ok());
  loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->state, "abcd");
  EXPECT_THAT((*loaded)->deltas, ElementsAre("d"));
}

TEST_F(SqliteStoreTest, DeltaOnAVersion4CheckpointKeepsItsState) {
  ASSERT_NO_FATAL_FAILURE(CreateFileAtVersion(4));
  RawExec(FilePath(),
          "INSERT INTO engine_checkpoints(shard, last_seq, saved_us, state) "
          "VALUES (0, 77, 5, 'in-the-row')");
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kDelta, 78, kT0, "d").ok());
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, 78);
  EXPECT_EQ((*loaded)->state, "in-the-row");
  EXPECT_THAT((*loaded)->deltas, ElementsAre("d"));
  // The state in the row counts too.
  EXPECT_EQ(StoredBytes(*store),
            10 + std::stoll(RawQueryText(
                     FilePath(),
                     "SELECT SUM(length(data)) FROM engine_checkpoint_parts")));
}

// --- LegacyMatchIdsThrough ---

TEST_P(StoreV2Test, ANewStoreHasNoLegacyMatchIds) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write(Events(1, 5)).ok());
  absl::StatusOr<int64_t> through = store->LegacyMatchIdsThrough();
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_EQ(*through, 0);
}

TEST_F(SqliteStoreTest, UpgradeKeepsTheLogsLastSeqForLegacyMatchIds) {
  ASSERT_NO_FATAL_FAILURE(CreateFileAtVersion(7));
  RawExec(FilePath(),
          "INSERT INTO events(seq, event_id, user_id, name, event_time_us, "
          "received_us, payload) VALUES (5, 'a', 'u', 'e', 1, 1, ''), "
          "(42, 'b', 'u', 'e', 2, 2, '')");
  {
    std::unique_ptr<Store> store = OpenOrDie(FileOptions());
    ASSERT_NE(store, nullptr);
    absl::StatusOr<int64_t> through = store->LegacyMatchIdsThrough();
    ASSERT_TRUE(through.ok()) << through.status();
    EXPECT_EQ(*through, 42);
    ASSERT_TRUE(store->Write(Events(1, 3)).ok());
  }
  // Fixed at the upgrade: later events and reopening leave it.
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  absl::StatusOr<int64_t> through = store->LegacyMatchIdsThrough();
  ASSERT_TRUE(through.ok()) << through.status();
  EXPECT_EQ(*through, 42);
}

// --- GetEventsBySeq ---

TEST_P(StoreV2Test, GetEventsBySeqKeepsTheOrderAskedAndSkipsMissing) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Write(Events(1, 5)).ok());
  ASSERT_TRUE(store->Write(Events(6, 8)).ok());

  const int64_t seqs[] = {7, 2, 999, 2, 0, -1, 5};
  absl::StatusOr<std::vector<EventRecord>> events = store->GetEventsBySeq(seqs);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 4u);
  const int64_t want[] = {7, 2, 2, 5};
  for (size_t i = 0; i < 4; ++i) {
    const EventRecord expected = Event(static_cast<int>(want[i]));
    EXPECT_EQ((*events)[i].seq, want[i]);
    EXPECT_EQ((*events)[i].event_id, expected.event_id);
    EXPECT_EQ((*events)[i].user_id, expected.user_id);
    EXPECT_EQ((*events)[i].name, expected.name);
    EXPECT_EQ((*events)[i].event_time, expected.event_time);
    EXPECT_EQ((*events)[i].received_at, expected.received_at);
    EXPECT_EQ((*events)[i].payload, expected.payload);
  }

  events = store->GetEventsBySeq({});
  ASSERT_TRUE(events.ok()) << events.status();
  EXPECT_THAT(*events, IsEmpty());
}

// --- ScanTraits ---

TEST_P(StoreV2Test, ScanTraitsVisitsTheLatestValueOfEveryTrait) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.now = kT0;
  batch.traits = {Trait("u2", "plan", "free", kT0),
                  Trait("u1", "plan", "pro", kT0),
                  Trait("u1", "country", "fr", kT0)};
  ASSERT_TRUE(store->Write(batch).ok());
  batch.traits = {Trait("u2", "plan", "team", kT0 + absl::Seconds(1))};
  ASSERT_TRUE(store->Write(batch).ok());

  std::vector<std::string> seen;
  ASSERT_TRUE(store
                  ->ScanTraits([&](const TraitRecord& t) {
                    seen.push_back(absl::StrCat(t.user_id, "/", t.key, "=",
                                                t.value, "@",
                                                absl::ToUnixSeconds(t.set_at)));
                  })
                  .ok());
  const int64_t t0 = absl::ToUnixSeconds(kT0);
  EXPECT_THAT(seen, ElementsAre(absl::StrCat("u1/country=fr@", t0),
                                absl::StrCat("u1/plan=pro@", t0),
                                absl::StrCat("u2/plan=team@", t0 + 1)));
}

TEST_P(StoreV2Test, ScanTraitsOfAnEmptyStoreVisitsNothing) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  int calls = 0;
  ASSERT_TRUE(store->ScanTraits([&](const TraitRecord&) { ++calls; }).ok());
  EXPECT_EQ(calls, 0);
}

// --- Threads ---

// The writing methods may be called from different threads (the ingest
// writer, the engine): they serialize, and every call commits.
TEST_P(StoreV2Test, WritingMethodsFromSeveralThreads) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kRounds = 100;
  std::atomic<int> failures{0};
  std::thread events([&] {
    int64_t last = 0;
    for (int i = 0; i < kRounds; ++i) {
      absl::StatusOr<WriteResult> r =
          store->Write(Events(3 * i + 1, 3 * i + 3));
      if (!r.ok() || r->first_event_seq != last + 1 ||
          r->last_event_seq != last + 3) {
        ++failures;
      }
      if (r.ok()) last = r->last_event_seq;
    }
  });
  std::thread matches([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (!store->AppendMatches({Match(absl::StrCat("m", i), "r", "u1", i)})
               .ok()) {
        ++failures;
      }
    }
  });
  std::thread checkpoints([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (!store
               ->SaveCheckpoint(0, CheckpointKind::kFull, i, kT0,
                                absl::StrCat("s", i))
               .ok()) {
        ++failures;
      }
      if (!store->ListMatches({}).ok()) ++failures;
    }
  });
  events.join();
  matches.join();
  checkpoints.join();
  EXPECT_EQ(failures.load(), 0);

  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, uint64_t{3 * kRounds});
  MatchFilter filter;
  filter.page_size = 1000;
  absl::StatusOr<MatchPage> page = store->ListMatches(filter);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->matches.size(), size_t{kRounds});
  absl::StatusOr<std::optional<Checkpoint>> loaded = store->LoadCheckpoint(0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->last_seq, kRounds - 1);
}

// The default implementations let a fake implement only what it uses.
TEST(StoreInterfaceTest, NewMethodsDefaultToUnimplemented) {
  class Minimal final : public Store {
   public:
    absl::StatusOr<WriteResult> Write(const WriteBatch&) override {
      return WriteResult{};
    }
    absl::Status ScanRecentEventIds(
        size_t, absl::FunctionRef<void(absl::string_view)>) override {
      return absl::OkStatus();
    }
    absl::Status ScanUsers(
        absl::FunctionRef<void(absl::string_view)>) override {
      return absl::OkStatus();
    }
    absl::Status ScanEvents(
        int64_t,
        absl::FunctionRef<void(int64_t, const EventRecord&)>) override {
      return absl::OkStatus();
    }
    absl::StatusOr<std::vector<TraitRecord>> GetTraits(
        absl::string_view) override {
      return std::vector<TraitRecord>{};
    }
    absl::StatusOr<StoreStats> GetStats() override { return StoreStats{}; }
    const std::string& path() const override { return path_; }

   private:
    std::string path_ = "minimal";
  };
  Minimal store;
  EXPECT_EQ(store.GetEventsBySeq({}).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.AppendMatches({}).code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.ListMatches({}).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.SaveCheckpoint(0, CheckpointKind::kFull, 0, kT0, "").code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.LoadCheckpoint(0).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.ScanTraits([](const TraitRecord&) {}).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.AppendDecisions({}, {}).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.CountSentDecisions({}).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.ListUndecidedMatches(1).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.ListUserDecisions("u").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.FeedDuePrompts(kT0, 1).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.NextUnfedDue().status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.ReadFeed(0, 1).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.LastFeedSeq().status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.GetPrompt("p").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.ListUserPrompts("u").status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.ListShowablePrompts("u", kT0, 1).status().code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.UpdatePromptState("p", {}, PromptState::kShown, kT0)
                .status()
                .code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_EQ(store.ExpirePrompts(kT0).status().code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace hark::store
