// Tests of schema version 4: responses and their tags, the review filters
// and paging, the report's figures, user deletion (with the event log's
// tombstones), and the upgrade of a version 3 file.

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
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
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr PromptState kOpen[] = {PromptState::kPending, PromptState::kDelivered,
                                 PromptState::kShown};

absl::Time At(int seconds) { return kT0 + absl::Seconds(seconds); }

TagRecord Tag(absl::string_view friction, absl::string_view source,
              double confidence, bool primary, absl::Time at = At(10)) {
  TagRecord t;
  t.friction = std::string(friction);
  t.source = std::string(source);
  t.confidence = confidence;
  t.primary = primary;
  t.tagged_at = at;
  return t;
}

TagRecord Manual(absl::string_view friction, absl::string_view by,
                 absl::string_view note, absl::Time at) {
  TagRecord t = Tag(friction, "manual", 1.0, true, at);
  t.tagged_by = std::string(by);
  t.note = std::string(note);
  return t;
}

// "friction/source/confidence[/primary]", plus who and why when set.
std::string Describe(const TagRecord& t) {
  std::string out = absl::StrCat(t.friction, "/", t.source, "/", t.confidence);
  if (t.primary) absl::StrAppend(&out, "/primary");
  if (!t.tagged_by.empty()) absl::StrAppend(&out, "/by ", t.tagged_by);
  if (!t.note.empty()) absl::StrAppend(&out, "/", t.note);
  return out;
}

std::vector<std::string> Describe(const std::vector<TagRecord>& tags) {
  std::vector<std::string> out;
  for (const TagRecord& t : tags) out.push_back(Describe(t));
  return out;
}

std::vector<std::string> Ids(const std::vector<ResponseRecord>& responses) {
  std::vector<std::string> ids;
  for (const ResponseRecord& r : responses) ids.push_back(r.response_id);
  return ids;
}

// A survey response to prompt `prompt` (whose match is "m-" + prompt),
// tagged product by a choice.
ResponseRecord Response(absl::string_view id, absl::string_view prompt,
                        absl::string_view user,
                        absl::string_view rule = "rule-a") {
  ResponseRecord r;
  r.response_id = std::string(id);
  r.prompt_id = std::string(prompt);
  r.match_id = absl::StrCat("m-", prompt);
  r.user_id = std::string(user);
  r.rule_id = std::string(rule);
  r.rule_version = "v1";
  r.definition_id = "survey-1";
  r.kind = 1;
  r.submitted_at = At(10);
  r.updated_at = At(10);
  r.tags = {Tag("product", "choice", 0.9, true)};
  r.body = absl::StrCat("body-", id, std::string(1, '\0'), "tail");
  return r;
}

// Stores a match of `rule` for `user` ("m-" + prompt_id), its sent
// decision and its pending prompt `prompt_id`, all at kT0 + `at_s`.
void AddPromptTo(Store& store, absl::string_view prompt_id,
                 absl::string_view user, absl::string_view rule = "rule-a",
                 int at_s = 0) {
  const std::string match_id = absl::StrCat("m-", prompt_id);
  MatchRecord m;
  m.match_id = match_id;
  m.rule_id = std::string(rule);
  m.rule_version = "v1";
  m.user_id = std::string(user);
  m.matched_at = At(at_s);
  m.created_at = At(at_s);
  m.context = absl::StrCat("context of ", user);
  ASSERT_TRUE(store.AppendMatches({m}).ok());
  DecisionRecord d;
  d.match_id = match_id;
  d.user_id = std::string(user);
  d.rule_id = std::string(rule);
  d.rule_version = "v1";
  d.target = "survey-1";
  d.outcome = "sent";
  d.reason = "sent";
  d.matched_at = At(at_s);
  d.decided_at = At(at_s);
  PromptRecord p;
  p.prompt_id = std::string(prompt_id);
  p.match_id = match_id;
  p.user_id = std::string(user);
  p.rule_id = std::string(rule);
  p.definition_id = "survey-1";
  p.created_at = At(at_s);
  p.due_at = At(at_s);
  p.expires_at = At(at_s) + absl::Hours(1000);
  p.body = absl::StrCat("prompt for ", user);
  absl::StatusOr<std::vector<bool>> stored = store.AppendDecisions({d}, {p});
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_THAT(*stored, ElementsAre(true));
}

// Each test runs on an in-memory database (param false) and on a file
// (param true: reads on their own connections).
class ResponsesTest : public SqliteStoreTest,
                      public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    SqliteStoreTest::SetUp();
    store_ = OpenOrDie(GetParam() ? FileOptions() : MemoryOptions());
    ASSERT_NE(store_, nullptr);
  }

  void AddPrompt(absl::string_view prompt_id, absl::string_view user,
                 absl::string_view rule = "rule-a", int at_s = 0) {
    AddPromptTo(*store_, prompt_id, user, rule, at_s);
  }

  // Adds the prompt of `r` and inserts `r`.
  ResponseRecord Answer(const ResponseRecord& r) {
    AddPrompt(r.prompt_id, r.user_id, r.rule_id);
    return Insert(r);
  }

  ResponseRecord Insert(const ResponseRecord& r) {
    absl::StatusOr<ResponseRecord> stored = store_->InsertResponse(r, kOpen);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? *stored : ResponseRecord{};
  }

  ResponseRecord Get(absl::string_view response_id) {
    absl::StatusOr<ResponseRecord> r = store_->GetResponse(response_id);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ResponseRecord{};
  }

  std::vector<std::string> List(const ResponseQuery& query,
                                int64_t before_seq = 0, size_t limit = 100) {
    absl::StatusOr<std::vector<ResponseRecord>> page =
        store_->ListResponses(query, before_seq, limit);
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? Ids(*page) : std::vector<std::string>{};
  }

  std::unique_ptr<Store> store_;
};

INSTANTIATE_TEST_SUITE_P(MemoryAndFile, ResponsesTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "File" : "Memory";
                         });

// --- InsertResponse and the reads of one response ---

TEST_P(ResponsesTest, InsertResponseRoundTripsEveryField) {
  AddPrompt("p1", "u1");
  ResponseRecord r = Response("r1", "p1", "u1");
  r.kind = 2;
  r.hypothesis = "pricing";
  r.submitted_at = At(10) + absl::Microseconds(3);
  r.updated_at = At(11);
  r.score = 7;
  r.text = "Too EXPENSIVE\nfor us";
  r.interview_status = "accepted";
  // Keys and values that JSON escapes, UTF-8, an empty value; kept in order.
  r.traits = {{"plan", "pro"},
              {"say \"hi\"", "back\\slash"},
              {"ctl\x01", "line\nbreak"},
              {"país", "España"},
              {"empty", ""}};
  r.tags = {Tag("pricing", "choice", 0.9, true, At(10)),
            Tag("product", "text", 0.25, false, At(10))};
  ResponseRecord stored = Insert(r);
  EXPECT_GT(stored.seq, 0);

  for (const ResponseRecord& got :
       {stored, Get("r1"), *store_->GetResponseByPrompt("p1")}) {
    EXPECT_EQ(got.seq, stored.seq);
    EXPECT_EQ(got.response_id, "r1");
    EXPECT_EQ(got.prompt_id, "p1");
    EXPECT_EQ(got.match_id, "m-p1");
    EXPECT_EQ(got.user_id, "u1");
    EXPECT_EQ(got.rule_id, "rule-a");
    EXPECT_EQ(got.rule_version, "v1");
    EXPECT_EQ(got.definition_id, "survey-1");
    EXPECT_EQ(got.kind, 2);
    EXPECT_EQ(got.hypothesis, "pricing");
    EXPECT_EQ(got.submitted_at, r.submitted_at);
    EXPECT_EQ(got.updated_at, At(11));
    EXPECT_EQ(got.score, 7);
    EXPECT_EQ(got.text, r.text);
    EXPECT_EQ(got.interview_status, "accepted");
    EXPECT_EQ(got.traits, r.traits);
    EXPECT_EQ(got.body, r.body);  // binary-safe
    EXPECT_THAT(Describe(got.tags),
                ElementsAre("pricing/choice/0.9/primary", "product/text/0.25"));
    EXPECT_THAT(Describe(got.tag_history),
                ElementsAre("pricing/choice/0.9/primary", "product/text/0.25"));
    ASSERT_EQ(got.tags.size(), 2u);
    EXPECT_EQ(got.tags[0].tagged_at, At(10));
  }

  // No score, no traits, no tags.
  AddPrompt("p2", "u1");
  ResponseRecord bare = Response("r2", "p2", "u1");
  bare.tags.clear();
  bare.body.clear();
  ResponseRecord bare_back = Insert(bare);
  EXPECT_GT(bare_back.seq, stored.seq);
  EXPECT_EQ(bare_back.score, std::nullopt);
  EXPECT_THAT(bare_back.traits, IsEmpty());
  EXPECT_THAT(bare_back.tags, IsEmpty());
  EXPECT_EQ(bare_back.body, "");
}

TEST_P(ResponsesTest, InsertResponseAnswersThePromptInTheSameTransaction) {
  AddPrompt("p1", "u1");
  ASSERT_TRUE(store_
                  ->UpdatePromptState("p1", {PromptState::kPending},
                                      PromptState::kDelivered, At(5))
                  .ok());
  ResponseRecord r = Response("r1", "p1", "u1");
  r.submitted_at = At(12);
  Insert(r);
  absl::StatusOr<PromptRecord> prompt = store_->GetPrompt("p1");
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_EQ(prompt->state, PromptState::kAnswered);
  EXPECT_EQ(prompt->closed_at, At(12));
  EXPECT_EQ(prompt->delivered_at, At(5));
  // An answered prompt is no longer showable nor expires.
  absl::StatusOr<std::vector<PromptRecord>> showable =
      store_->ListShowablePrompts("u1", At(20), 10);
  ASSERT_TRUE(showable.ok()) << showable.status();
  EXPECT_THAT(*showable, IsEmpty());
}

TEST_P(ResponsesTest, InsertResponseStatusCodes) {
  // NOT_FOUND naming the prompt.
  absl::StatusOr<ResponseRecord> inserted =
      store_->InsertResponse(Response("r0", "p-unknown", "u1"), kOpen);
  EXPECT_EQ(inserted.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(inserted.status().message(), HasSubstr("p-unknown"));

  // FAILED_PRECONDITION naming the prompt's state; nothing stored.
  AddPrompt("p-dismissed", "u1");
  ASSERT_TRUE(store_
                  ->UpdatePromptState("p-dismissed", {PromptState::kPending},
                                      PromptState::kDismissed, At(3))
                  .ok());
  inserted = store_->InsertResponse(
      Response("r-dismissed", "p-dismissed", "u1"), kOpen);
  EXPECT_EQ(inserted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(inserted.status().message(), HasSubstr("dismissed"));
  EXPECT_THAT(inserted.status().message(), HasSubstr("p-dismissed"));
  EXPECT_EQ(store_->GetResponseByPrompt("p-dismissed").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetPrompt("p-dismissed")->state, PromptState::kDismissed);
  // A state outside `from` is refused even if open.
  AddPrompt("p-pending", "u1");
  inserted = store_->InsertResponse(Response("r-pending", "p-pending", "u1"),
                                    {PromptState::kShown});
  EXPECT_EQ(inserted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(inserted.status().message(), HasSubstr("pending"));

  // ALREADY_EXISTS for a second response to a prompt, naming the stored
  // one, which stays as it was (the caller reads it back).
  AddPrompt("p1", "u1");
  const ResponseRecord first = Insert(Response("r1", "p1", "u1"));
  ResponseRecord again = Response("r1-again", "p1", "u1");
  again.text = "different";
  inserted = store_->InsertResponse(again, kOpen);
  EXPECT_EQ(inserted.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(inserted.status().message(), HasSubstr("\"r1\""));
  inserted = store_->InsertResponse(Response("r1", "p1", "u1"), kOpen);
  EXPECT_EQ(inserted.status().code(), absl::StatusCode::kAlreadyExists);
  absl::StatusOr<ResponseRecord> by_prompt = store_->GetResponseByPrompt("p1");
  ASSERT_TRUE(by_prompt.ok()) << by_prompt.status();
  EXPECT_EQ(by_prompt->response_id, "r1");
  EXPECT_EQ(by_prompt->seq, first.seq);
  EXPECT_EQ(by_prompt->text, "");
  EXPECT_EQ(store_->GetResponse("r1-again").status().code(),
            absl::StatusCode::kNotFound);
  // ALREADY_EXISTS for a response_id taken by another prompt; the other
  // prompt stays open.
  AddPrompt("p2", "u1");
  inserted = store_->InsertResponse(Response("r1", "p2", "u1"), kOpen);
  EXPECT_EQ(inserted.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(inserted.status().message(), HasSubstr("r1"));
  EXPECT_EQ(store_->GetPrompt("p2")->state, PromptState::kPending);

  // INVALID_ARGUMENT for records the store cannot keep.
  ResponseRecord two_primaries = Response("r2", "p2", "u1");
  two_primaries.tags.push_back(Tag("pricing", "text", 0.5, true));
  EXPECT_EQ(store_->InsertResponse(two_primaries, kOpen).status().code(),
            absl::StatusCode::kInvalidArgument);
  ResponseRecord spaced = Response("r2", "p2", "u1");
  spaced.tags[0].friction = "two words";
  EXPECT_EQ(store_->InsertResponse(spaced, kOpen).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      store_->InsertResponse(Response("", "p2", "u1"), kOpen).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetPrompt("p2")->state, PromptState::kPending);

  // Unknown ids.
  EXPECT_EQ(store_->GetResponse("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(store_->GetResponse("nope").status().message(),
              HasSubstr("nope"));
  EXPECT_EQ(store_->GetResponseByPrompt("p2").status().code(),
            absl::StatusCode::kNotFound);
}

// --- Tags ---

TEST_P(ResponsesTest, UpdateResponseReplacesTheAutomaticTags) {
  ResponseRecord r = Response("r1", "p1", "u1");
  r.kind = 2;
  r.interview_status = "accepted";
  r.tags = {Tag("pricing", "hypothesis", 0.3, true, At(10))};
  const ResponseRecord inserted = Answer(r);

  ResponseRecord later = inserted;
  later.interview_status = "completed";
  later.text = "notes: the import is confusing";
  later.score = 4;
  later.body = "new body";
  later.updated_at = At(50);
  later.submitted_at = At(99);  // not changed by an update
  later.traits = {{"plan", "free"}};
  later.tags = {Tag("product", "text", 0.7, true, At(50)),
                Tag("pricing", "hypothesis", 0.3, false, At(50))};
  absl::StatusOr<ResponseRecord> updated = store_->UpdateResponse(later);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->seq, inserted.seq);
  EXPECT_EQ(updated->interview_status, "completed");
  EXPECT_EQ(updated->text, later.text);
  EXPECT_EQ(updated->score, 4);
  EXPECT_EQ(updated->body, "new body");
  EXPECT_EQ(updated->updated_at, At(50));
  EXPECT_EQ(updated->submitted_at, At(10));
  EXPECT_THAT(updated->traits, IsEmpty());
  EXPECT_THAT(Describe(updated->tags), ElementsAre("product/text/0.7/primary",
                                                   "pricing/hypothesis/0.3"));
  EXPECT_THAT(
      Describe(Get("r1").tag_history),
      ElementsAre("pricing/hypothesis/0.3/primary", "product/text/0.7/primary",
                  "pricing/hypothesis/0.3"));

  // The filters follow the current tags.
  ResponseQuery by_friction;
  by_friction.friction = "product";
  EXPECT_THAT(List(by_friction), ElementsAre("r1"));
  by_friction.friction = "pricing";
  EXPECT_THAT(List(by_friction), IsEmpty());
  by_friction.any_tag = true;
  EXPECT_THAT(List(by_friction), ElementsAre("r1"));
  ResponseQuery by_source;
  by_source.source = "text";
  EXPECT_THAT(List(by_source), ElementsAre("r1"));

  // The same tags again (a later status tagged alike) add no history.
  later.interview_status = "completed";
  later.updated_at = At(60);
  updated = store_->UpdateResponse(later);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->updated_at, At(60));
  EXPECT_EQ(Get("r1").tag_history.size(), 3u);

  // No tags at all: none is current, the history keeps them.
  later.tags.clear();
  updated = store_->UpdateResponse(later);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_THAT(updated->tags, IsEmpty());
  EXPECT_EQ(updated->tag_history.size(), 3u);
  by_friction.friction = "product";
  by_friction.any_tag = true;
  EXPECT_THAT(List(by_friction), IsEmpty());

  ResponseRecord unknown = Response("nope", "p1", "u1");
  EXPECT_EQ(store_->UpdateResponse(unknown).status().code(),
            absl::StatusCode::kNotFound);
  later.tags = {Manual("process", "alice", "", At(70))};
  EXPECT_EQ(store_->UpdateResponse(later).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ResponsesTest, ManualTagStaysPrimaryThroughUpdates) {
  ResponseRecord r = Response("r1", "p1", "u1");
  r.tags = {Tag("pricing", "choice", 0.9, true, At(10)),
            Tag("product", "text", 0.4, false, At(10))};
  Answer(r);

  absl::StatusOr<ResponseRecord> tagged = store_->AddManualTag(
      "r1", Manual("process", "alice", "billing flow, not price", At(20)));
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  EXPECT_THAT(Describe(tagged->tags),
              ElementsAre("process/manual/1/primary/by alice/billing flow, "
                          "not price",
                          "pricing/choice/0.9", "product/text/0.4"));
  ResponseQuery query;
  query.friction = "process";
  EXPECT_THAT(List(query), ElementsAre("r1"));
  query.friction = "pricing";
  EXPECT_THAT(List(query), IsEmpty());
  ResponseQuery manual;
  manual.source = "manual";
  EXPECT_THAT(List(manual), ElementsAre("r1"));

  // New automatic tags replace the old ones as secondary tags.
  ResponseRecord later = Get("r1");
  later.updated_at = At(30);
  later.tags = {Tag("perception", "text", 0.8, true, At(30))};
  absl::StatusOr<ResponseRecord> updated = store_->UpdateResponse(later);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_THAT(Describe(updated->tags),
              ElementsAre("process/manual/1/primary/by alice/billing flow, "
                          "not price",
                          "perception/text/0.8"));
  // Stored as secondary: the history says so.
  EXPECT_THAT(Describe(updated->tag_history),
              ElementsAre("pricing/choice/0.9/primary", "product/text/0.4",
                          "process/manual/1/primary/by alice/billing flow, "
                          "not price",
                          "perception/text/0.8"));
  query.friction = "process";
  EXPECT_THAT(List(query), ElementsAre("r1"));
  query.friction = "perception";
  EXPECT_THAT(List(query), IsEmpty());
  query.any_tag = true;
  EXPECT_THAT(List(query), ElementsAre("r1"));
}

TEST_P(ResponsesTest, ManualTagHistoryKeepsWhoWhenAndWhyOldestFirst) {
  Answer(Response("r1", "p1", "u1"));
  ASSERT_TRUE(
      store_->AddManualTag("r1", Manual("pricing", "alice", "asked", At(20)))
          .ok());
  absl::StatusOr<ResponseRecord> tagged = store_->AddManualTag(
      "r1", Manual("process", "bob", "it was the checkout", At(30)));
  ASSERT_TRUE(tagged.ok()) << tagged.status();
  // Only the latest manual tag is current; the automatic one stays.
  EXPECT_THAT(Describe(tagged->tags),
              ElementsAre("process/manual/1/primary/by bob/it was the checkout",
                          "product/choice/0.9"));
  const ResponseRecord got = Get("r1");
  EXPECT_THAT(
      Describe(got.tag_history),
      ElementsAre("product/choice/0.9/primary",
                  "pricing/manual/1/primary/by alice/asked",
                  "process/manual/1/primary/by bob/it was the checkout"));
  ASSERT_EQ(got.tag_history.size(), 3u);
  EXPECT_EQ(got.tag_history[1].tagged_at, At(20));
  EXPECT_EQ(got.tag_history[2].tagged_at, At(30));
  // GetResponseByPrompt has the history too; ListResponses does not.
  EXPECT_EQ(store_->GetResponseByPrompt("p1")->tag_history.size(), 3u);
  absl::StatusOr<std::vector<ResponseRecord>> page =
      store_->ListResponses({}, 0, 10);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 1u);
  EXPECT_THAT((*page)[0].tag_history, IsEmpty());
  EXPECT_EQ((*page)[0].tags.size(), 2u);
  // Re-tagging does not change when the response last changed.
  EXPECT_EQ(got.updated_at, At(10));

  EXPECT_EQ(store_->AddManualTag("nope", Manual("process", "bob", "", At(40)))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AddManualTag("r1", Tag("process", "text", 1, true))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Get("r1").tag_history.size(), 3u);
}

// --- ListResponses ---

class ListResponsesTest : public ResponsesTest {
 protected:
  void SetUp() override {
    ResponsesTest::SetUp();
    // r1..r8, inserted in this order (seq ascending).
    auto make = [](int i, absl::string_view user, absl::string_view rule) {
      ResponseRecord r =
          Response(absl::StrCat("r", i), absl::StrCat("p", i), user, rule);
      r.submitted_at = At(100 * i);
      return r;
    };
    ResponseRecord r1 = make(1, "u1", "rule-a");
    r1.tags = {Tag("pricing", "choice", 0.9, true),
               Tag("product", "text", 0.4, false)};
    r1.score = 9;
    r1.traits = {{"plan", "pro"}, {"seats", "3"}};
    r1.text = "The PRICE is too high";
    ResponseRecord r2 = make(2, "u2", "rule-a");
    r2.tags = {Tag("product", "text", 0.6, true)};
    r2.score = 3;
    r2.traits = {{"plan", "free"}};
    r2.text = "import keeps failing";
    ResponseRecord r3 = make(3, "u1", "rule-b");
    r3.definition_id = "survey-2";
    r3.tags = {Tag("process", "hypothesis", 0.3, true)};
    r3.traits = {{"plan", "pro"}, {"say \"hi\"", "x"}};
    ResponseRecord r4 = make(4, "u3", "rule-b");
    r4.tags = {Tag("pricing", "text", 0.5, true),
               Tag("perception", "text", 0.5, false)};
    r4.score = 0;
    r4.text = "price";
    ResponseRecord r5 = make(5, "u2", "rule-a");
    r5.tags = {Tag("perception", "choice", 0.9, true)};
    r5.score = 10;
    r5.traits = {{"plan", ""}};
    ResponseRecord r6 = make(6, "u3", "rule-a");
    r6.tags = {Tag("unknown", "hypothesis", 0, true)};
    r6.text = "Prices and prICING";
    r6.traits = {{"plan", "Pro"}};
    for (const ResponseRecord& r : {r1, r2, r3, r4, r5, r6}) Answer(r);
  }
};

INSTANTIATE_TEST_SUITE_P(MemoryAndFile, ListResponsesTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "File" : "Memory";
                         });

TEST_P(ListResponsesTest, EachFilter) {
  EXPECT_THAT(List({}), ElementsAre("r6", "r5", "r4", "r3", "r2", "r1"));

  ResponseQuery q;
  q.friction = "pricing";
  EXPECT_THAT(List(q), ElementsAre("r4", "r1"));
  q.friction = "product";
  EXPECT_THAT(List(q), ElementsAre("r2"));
  q.any_tag = true;
  EXPECT_THAT(List(q), ElementsAre("r2", "r1"));
  q.friction = "perception";
  EXPECT_THAT(List(q), ElementsAre("r5", "r4"));
  q.friction = "price";  // a whole friction type, not a part of one
  EXPECT_THAT(List(q), IsEmpty());

  q = {};
  q.source = "choice";
  EXPECT_THAT(List(q), ElementsAre("r5", "r1"));
  q.source = "hypothesis";
  EXPECT_THAT(List(q), ElementsAre("r6", "r3"));

  q = {};
  q.rule_id = "rule-b";
  EXPECT_THAT(List(q), ElementsAre("r4", "r3"));
  q = {};
  q.definition_id = "survey-2";
  EXPECT_THAT(List(q), ElementsAre("r3"));
  q = {};
  q.user_id = "u2";
  EXPECT_THAT(List(q), ElementsAre("r5", "r2"));
  q.user_id = "nobody";
  EXPECT_THAT(List(q), IsEmpty());

  // submitted_at in [from, to).
  q = {};
  q.from = At(200);
  EXPECT_THAT(List(q), ElementsAre("r6", "r5", "r4", "r3", "r2"));
  q.to = At(400);
  EXPECT_THAT(List(q), ElementsAre("r3", "r2"));
  q.from.reset();
  EXPECT_THAT(List(q), ElementsAre("r3", "r2", "r1"));
  q.from = At(201);
  q.to = At(200);
  EXPECT_THAT(List(q), IsEmpty());

  // A trait at match time: exact value, case-sensitive, empty included.
  q = {};
  q.trait_key = "plan";
  q.trait_value = "pro";
  EXPECT_THAT(List(q), ElementsAre("r3", "r1"));
  q.trait_value = "";
  EXPECT_THAT(List(q), ElementsAre("r5"));
  q.trait_key = "seats";
  q.trait_value = "3";
  EXPECT_THAT(List(q), ElementsAre("r1"));
  q.trait_key = "say \"hi\"";  // a key JSON escapes
  q.trait_value = "x";
  EXPECT_THAT(List(q), ElementsAre("r3"));
  q.trait_key = "missing";
  q.trait_value = "";
  EXPECT_THAT(List(q), IsEmpty());

  // Score bounds, inclusive; no score never matches a bound.
  q = {};
  q.min_score = 3;
  EXPECT_THAT(List(q), ElementsAre("r5", "r2", "r1"));
  q.max_score = 9;
  EXPECT_THAT(List(q), ElementsAre("r2", "r1"));
  q.min_score.reset();
  EXPECT_THAT(List(q), ElementsAre("r4", "r2", "r1"));
  q.max_score = 0;
  EXPECT_THAT(List(q), ElementsAre("r4"));

  // Case-insensitive (ASCII) substring.
  q = {};
  q.text_contains = "pRiC";
  EXPECT_THAT(List(q), ElementsAre("r6", "r4", "r1"));
  q.text_contains = "pricing";
  EXPECT_THAT(List(q), ElementsAre("r6"));
  q.text_contains = "%";  // no pattern characters
  EXPECT_THAT(List(q), IsEmpty());

  // Several filters at once.
  q = {};
  q.rule_id = "rule-a";
  q.user_id = "u2";
  q.min_score = 5;
  EXPECT_THAT(List(q), ElementsAre("r5"));
  q = {};
  q.friction = "pricing";
  q.text_contains = "price";
  q.from = At(150);
  EXPECT_THAT(List(q), ElementsAre("r4"));
}

TEST_P(ListResponsesTest, PagesBySeqNewestFirst) {
  absl::StatusOr<std::vector<ResponseRecord>> page =
      store_->ListResponses({}, 0, 2);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(Ids(*page), ElementsAre("r6", "r5"));
  EXPECT_GT((*page)[0].seq, (*page)[1].seq);
  EXPECT_THAT(List({}, (*page)[1].seq, 3), ElementsAre("r4", "r3", "r2"));
  EXPECT_THAT(List({}, 1, 10), IsEmpty());
  EXPECT_THAT(List({}, 0, 0), IsEmpty());
  ResponseQuery q;
  q.rule_id = "rule-a";
  EXPECT_THAT(List(q, (*page)[1].seq, 10), ElementsAre("r2", "r1"));
  EXPECT_EQ(store_->ListResponses({}, -1, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ResponsesTest, PagingWhileResponsesArriveNeverSkipsNorRepeats) {
  int next = 0;
  auto add = [&](int n) {
    for (int i = 0; i < n; ++i, ++next) {
      Answer(Response(absl::StrCat("r", next), absl::StrCat("p", next), "u1"));
    }
  };
  add(10);
  std::vector<std::string> seen;
  int64_t before = 0;
  while (true) {
    absl::StatusOr<std::vector<ResponseRecord>> page =
        store_->ListResponses({}, before, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    for (const ResponseRecord& r : *page) seen.push_back(r.response_id);
    before = page->back().seq;
    add(2);  // newer than every page boundary
  }
  EXPECT_THAT(seen, ElementsAre("r9", "r8", "r7", "r6", "r5", "r4", "r3", "r2",
                                "r1", "r0"));
}

TEST_P(ResponsesTest, PagingUnderConcurrentInsertsSeesEachResponseOnce) {
  for (int i = 0; i < 40; ++i) {
    AddPrompt(absl::StrCat("p", i), "u1");
    if (i < 20)
      Insert(Response(absl::StrCat("r", i), absl::StrCat("p", i), "u1"));
  }
  std::atomic<int> failures{0};
  std::thread writer([&] {
    for (int i = 20; i < 40; ++i) {
      if (!store_
               ->InsertResponse(
                   Response(absl::StrCat("r", i), absl::StrCat("p", i), "u1"),
                   kOpen)
               .ok()) {
        ++failures;
      }
    }
  });
  std::vector<int64_t> seqs;
  std::set<std::string> ids;
  int64_t before = 0;
  while (true) {
    absl::StatusOr<std::vector<ResponseRecord>> page =
        store_->ListResponses({}, before, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    if (page->empty()) break;
    for (const ResponseRecord& r : *page) {
      seqs.push_back(r.seq);
      EXPECT_TRUE(ids.insert(r.response_id).second) << r.response_id;
    }
    before = page->back().seq;
  }
  writer.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_TRUE(std::is_sorted(seqs.rbegin(), seqs.rend()));
  // Every response stored before the first page was read is seen.
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(ids.contains(absl::StrCat("r", i)));
}

// ListResponses() with a time range and no equality filter bounds its walk
// with LocateTimeRange(): exact bounds below 20,000 responses in range, a
// walk from the boundary for a larger range that is recent, a start at
// the range's largest seq for a larger old one. Checked against a plain
// scan on 30,000 responses whose times mostly follow their seq, with some
// far off (old times at large seqs, recent ones at small seqs).
TEST_F(SqliteStoreTest, ListResponsesByTimeMatchesAPlainScan) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  const int64_t base = absl::ToUnixMicros(kT0);
  RawExec(FilePath(),
          absl::StrCat(
              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
              "WHERE i < 30000) "
              "INSERT INTO responses(response_id, prompt_id, match_id, "
              "user_id, rule_id, rule_version, definition_id, kind, "
              "hypothesis, submitted_us, updated_us, score, text, "
              "interview_status, traits, friction, source, frictions, body) "
              "SELECT 'r' || i, 'p' || i, 'm' || i, 'u' || (i % 97), 'rule', "
              "'v1', 'survey', 1, '', ",
              base,
              " + 1000000 * CASE WHEN i % 1000 = 7 THEN i % 50 "
              "WHEN i % 1000 = 8 THEN 40000 - i % 50 "
              "ELSE i + (i * 7919) % 60 END, 0, i % 11, "
              "CASE WHEN i % 3 = 0 THEN 'needle' ELSE 'hay' END, '', '{}', "
              "'product', 'choice', ' product ', x'' FROM n"));
  struct Range {
    std::optional<int> from_s;
    std::optional<int> to_s;
    bool needle;
  };
  const Range ranges[] = {
      {1000, 2000, false},           // small and old
      {29000, std::nullopt, false},  // small and recent
      {std::nullopt, 25000, false},  // large and old
      {2000, std::nullopt, false},   // large and recent
      {3000, 28000, true},           // large and old, with another filter
      {50000, 60000, false},         // empty
      {0, 30, false},                // only the far-off old times
      {std::nullopt, std::nullopt, true},
  };
  for (const Range& range : ranges) {
    ResponseQuery q;
    std::string where = "WHERE 1";
    if (range.from_s.has_value()) {
      q.from = At(*range.from_s);
      absl::StrAppend(&where, " AND submitted_us >= ",
                      base + int64_t{1000000} * *range.from_s);
    }
    if (range.to_s.has_value()) {
      q.to = At(*range.to_s);
      absl::StrAppend(&where, " AND submitted_us < ",
                      base + int64_t{1000000} * *range.to_s);
    }
    if (range.needle) {
      q.text_contains = "NEEDLE";
      absl::StrAppend(&where, " AND text = 'needle'");
    }
    // The expected order, from a scan that uses no index.
    std::vector<std::string> want;
    {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(FilePath().c_str(), &db), SQLITE_OK);
      sqlite3_stmt* stmt = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(
                    db,
                    absl::StrCat("SELECT response_id FROM responses NOT "
                                 "INDEXED ",
                                 where, " ORDER BY seq DESC")
                        .c_str(),
                    -1, &stmt, nullptr),
                SQLITE_OK);
      while (sqlite3_step(stmt) == SQLITE_ROW) {
        want.emplace_back(
            reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
      }
      sqlite3_finalize(stmt);
      sqlite3_close(db);
    }
    // Paged in pages of 997, and a first page of 5.
    std::vector<std::string> got;
    int64_t before = 0;
    while (true) {
      absl::StatusOr<std::vector<ResponseRecord>> page =
          store->ListResponses(q, before, 997);
      ASSERT_TRUE(page.ok()) << page.status();
      for (const ResponseRecord& r : *page) got.push_back(r.response_id);
      if (page->size() < 997) break;
      before = page->back().seq;
    }
    EXPECT_EQ(got, want) << where;
    absl::StatusOr<std::vector<ResponseRecord>> first =
        store->ListResponses(q, 0, 5);
    ASSERT_TRUE(first.ok()) << first.status();
    want.resize(std::min<size_t>(want.size(), 5));
    EXPECT_EQ(Ids(*first), want) << where;
  }
}

// --- Report ---

// Two rules: rule-a (hypothesis pricing) with 4 matches, 3 sent and 1
// cooldown decision, prompts pa1 (delivered, shown, answered: pricing),
// pa2 (answered while pending: product) and pa3 (delivered, dismissed);
// rule-b (no hypothesis) with 1 match, sent, prompt pb1 answered (process)
// a week later. Times: kT0 is Thursday 2026-01-01 00:00 UTC; the first
// Monday after it is kT0 + 4 days.
class ReportTest : public ResponsesTest {
 protected:
  static constexpr int kDay = 24 * 3600;
  static constexpr int kMonday = 4 * kDay;

  void SetUp() override {
    ResponsesTest::SetUp();
    AddPrompt("pa1", "u1", "rule-a", kMonday);
    AddPrompt("pa2", "u2", "rule-a", kMonday + 1);
    AddPrompt("pa3", "u3", "rule-a", kMonday + 2);
    AddPrompt("pb1", "u1", "rule-b", kMonday + 7 * kDay);
    // A suppressed decision: a match without prompt.
    MatchRecord m;
    m.match_id = "m-cool";
    m.rule_id = "rule-a";
    m.user_id = "u4";
    m.matched_at = At(kMonday + 3);
    m.created_at = At(kMonday + 3);
    ASSERT_TRUE(store_->AppendMatches({m}).ok());
    DecisionRecord d;
    d.match_id = "m-cool";
    d.user_id = "u4";
    d.rule_id = "rule-a";
    d.outcome = "cooldown";
    d.matched_at = At(kMonday + 3);
    d.decided_at = At(kMonday + 3);
    ASSERT_TRUE(store_->AppendDecisions({d}, {}).ok());

    Move("pa1", PromptState::kPending, PromptState::kDelivered);
    Move("pa1", PromptState::kDelivered, PromptState::kShown);
    Move("pa3", PromptState::kPending, PromptState::kDelivered);
    Move("pa3", PromptState::kDelivered, PromptState::kDismissed);

    ResponseRecord a1 = Response("ra1", "pa1", "u1", "rule-a");
    a1.hypothesis = "pricing";
    a1.tags = {Tag("pricing", "choice", 0.9, true)};
    a1.submitted_at = At(kMonday);  // the first instant of the week
    Insert(a1);
    ResponseRecord a2 = Response("ra2", "pa2", "u2", "rule-a");
    a2.hypothesis = "pricing";
    a2.tags = {Tag("product", "text", 0.6, true),
               Tag("pricing", "hypothesis", 0.3, false)};
    a2.submitted_at = At(kMonday + 7 * kDay - 1);  // its last second
    Insert(a2);
    ResponseRecord b1 = Response("rb1", "pb1", "u1", "rule-b");
    b1.tags = {Tag("process", "choice", 0.9, true)};
    b1.submitted_at = At(kMonday + 7 * kDay);  // the next week
    Insert(b1);
  }

  void Move(absl::string_view prompt, PromptState from, PromptState to) {
    absl::StatusOr<PromptRecord> p =
        store_->UpdatePromptState(prompt, {from}, to, At(kMonday + 5));
    ASSERT_TRUE(p.ok()) << p.status();
    ASSERT_EQ(p->state, to);
  }

  ReportData Report(const ResponseQuery& query) {
    absl::StatusOr<ReportData> report = store_->GetReportData(query);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *report : ReportData{};
  }

  std::vector<std::string> RuleUsers(const ResponseQuery& query) {
    std::vector<std::string> out;
    absl::Status status =
        store_->ScanRuleUsers(query, [&](const RuleUserRecord& r) {
          out.push_back(
              absl::StrCat(r.rule_id, " ", r.user_id, " ",
                           absl::ToInt64Seconds(r.first_matched_at - kT0),
                           r.responded ? " responded" : ""));
        });
    EXPECT_TRUE(status.ok()) << status;
    return out;
  }
};

INSTANTIATE_TEST_SUITE_P(MemoryAndFile, ReportTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "File" : "Memory";
                         });

TEST_P(ReportTest, FiguresByRuleAndWeek) {
  const ReportData report = Report({});
  ASSERT_EQ(report.rules.size(), 2u);
  const RuleReportData& a = report.rules[0];
  EXPECT_EQ(a.rule_id, "rule-a");
  EXPECT_EQ(a.matches, 4);
  EXPECT_THAT(a.decisions, ElementsAre(Pair("cooldown", 1), Pair("sent", 3)));
  EXPECT_EQ(a.delivered, 2);  // pa1, pa3
  EXPECT_EQ(a.shown, 1);      // pa1
  EXPECT_EQ(a.answered, 2);   // pa1, pa2
  EXPECT_THAT(a.friction, ElementsAre(Pair("pricing", 1), Pair("product", 1)));
  EXPECT_EQ(a.with_hypothesis, 2);
  EXPECT_EQ(a.hypothesis_mismatches, 1);  // ra2: product, not pricing
  const RuleReportData& b = report.rules[1];
  EXPECT_EQ(b.rule_id, "rule-b");
  EXPECT_EQ(b.matches, 1);
  EXPECT_THAT(b.decisions, ElementsAre(Pair("sent", 1)));
  EXPECT_EQ(b.delivered, 0);
  EXPECT_EQ(b.shown, 0);
  EXPECT_EQ(b.answered, 1);
  EXPECT_THAT(b.friction, ElementsAre(Pair("process", 1)));
  EXPECT_EQ(b.with_hypothesis, 0);
  EXPECT_EQ(b.hypothesis_mismatches, 0);

  ASSERT_EQ(report.trend.size(), 2u);
  EXPECT_EQ(
      report.trend[0].week_start,
      absl::FromCivil(absl::CivilSecond(2026, 1, 5), absl::UTCTimeZone()));
  EXPECT_THAT(report.trend[0].friction,
              ElementsAre(Pair("pricing", 1), Pair("product", 1)));
  EXPECT_EQ(
      report.trend[1].week_start,
      absl::FromCivil(absl::CivilSecond(2026, 1, 12), absl::UTCTimeZone()));
  EXPECT_THAT(report.trend[1].friction, ElementsAre(Pair("process", 1)));
}

TEST_P(ReportTest, FiltersApplyAsDocumented) {
  // A rule.
  ResponseQuery q;
  q.rule_id = "rule-b";
  ReportData report = Report(q);
  ASSERT_EQ(report.rules.size(), 1u);
  EXPECT_EQ(report.rules[0].rule_id, "rule-b");
  EXPECT_EQ(report.rules[0].matches, 1);
  ASSERT_EQ(report.trend.size(), 1u);

  // A time range: the second week. Matches, decisions and prompts by their
  // own times (matched_at, decided_at, created_at), responses by
  // submitted_at.
  q = {};
  q.from = At(kMonday + 7 * kDay);
  q.to = At(kMonday + 14 * kDay);
  report = Report(q);
  ASSERT_EQ(report.rules.size(), 1u);
  EXPECT_EQ(report.rules[0].rule_id, "rule-b");
  EXPECT_EQ(report.rules[0].matches, 1);
  EXPECT_EQ(report.rules[0].answered, 1);
  ASSERT_EQ(report.trend.size(), 1u);
  // The first week, to its last microsecond: every rule-a figure, no
  // rule-b one.
  q.from = At(kMonday);
  q.to = At(kMonday + 7 * kDay);
  report = Report(q);
  ASSERT_EQ(report.rules.size(), 1u);
  EXPECT_EQ(report.rules[0].rule_id, "rule-a");
  EXPECT_EQ(report.rules[0].matches, 4);
  EXPECT_EQ(report.rules[0].answered, 2);
  EXPECT_EQ(report.rules[0].with_hypothesis, 2);
  // Only the rule-a prompts created from its second second on.
  q.from = At(kMonday + 1);
  report = Report(q);
  ASSERT_EQ(report.rules.size(), 1u);
  EXPECT_EQ(report.rules[0].matches, 3);
  EXPECT_EQ(report.rules[0].delivered, 1);  // pa3
  EXPECT_EQ(report.rules[0].answered, 1);   // pa2
  EXPECT_THAT(report.rules[0].friction, ElementsAre(Pair("product", 1)));

  // A response filter changes the response figures only.
  q = {};
  q.friction = "product";
  report = Report(q);
  ASSERT_EQ(report.rules.size(), 2u);
  EXPECT_EQ(report.rules[0].matches, 4);
  EXPECT_THAT(report.rules[0].friction, ElementsAre(Pair("product", 1)));
  EXPECT_EQ(report.rules[0].with_hypothesis, 1);
  EXPECT_EQ(report.rules[0].hypothesis_mismatches, 1);
  EXPECT_THAT(report.rules[1].friction, IsEmpty());
  ASSERT_EQ(report.trend.size(), 1u);
  q.user_id = "u2";  // not a column of the report's index: same figures
  report = Report(q);
  EXPECT_THAT(report.rules[0].friction, ElementsAre(Pair("product", 1)));
  q = {};
  q.any_tag = true;
  q.friction = "pricing";
  report = Report(q);
  EXPECT_THAT(report.rules[0].friction,
              ElementsAre(Pair("pricing", 1), Pair("product", 1)));

  // Nothing at all.
  q = {};
  q.rule_id = "rule-z";
  report = Report(q);
  EXPECT_THAT(report.rules, IsEmpty());
  EXPECT_THAT(report.trend, IsEmpty());
}

TEST_P(ReportTest, ScanRuleUsersByRuleThenUser) {
  // u1 matched rule-a twice: the first match counts.
  AddPrompt("pa4", "u1", "rule-a", kMonday - 10);
  EXPECT_THAT(
      RuleUsers({}),
      ElementsAre(
          absl::StrCat("rule-a u1 ", kMonday - 10, " responded"),
          absl::StrCat("rule-a u2 ", kMonday + 1, " responded"),
          absl::StrCat("rule-a u3 ", kMonday + 2),
          absl::StrCat("rule-a u4 ", kMonday + 3),
          absl::StrCat("rule-b u1 ", kMonday + 7 * kDay, " responded")));
  ResponseQuery q;
  q.rule_id = "rule-b";
  EXPECT_THAT(RuleUsers(q),
              ElementsAre(absl::StrCat("rule-b u1 ", kMonday + 7 * kDay,
                                       " responded")));
  // The time range selects matches; a response outside it still counts.
  q = {};
  q.from = At(kMonday);
  q.to = At(kMonday + 3);
  EXPECT_THAT(RuleUsers(q),
              ElementsAre(absl::StrCat("rule-a u1 ", kMonday, " responded"),
                          absl::StrCat("rule-a u2 ", kMonday + 1, " responded"),
                          absl::StrCat("rule-a u3 ", kMonday + 2)));
  q.rule_id = "rule-z";
  EXPECT_THAT(RuleUsers(q), IsEmpty());
}

// --- ScanEventsNamed ---

TEST_P(ResponsesTest, ScanEventsNamedInLogOrder) {
  WriteBatch batch;
  for (int i = 0; i < 9; ++i) {
    EventRecord e = Event(i, absl::StrCat("u", i % 2));
    e.event_time = At(100 - i);  // log order, not time order
    batch.events.push_back(e);
  }
  batch.now = kT0;
  ASSERT_TRUE(store_->Write(batch).ok());
  std::vector<std::string> seen;
  ASSERT_TRUE(
      store_
          ->ScanEventsNamed("name1",
                            [&](absl::string_view user, absl::Time t) {
                              seen.push_back(absl::StrCat(
                                  user, "@", absl::ToInt64Seconds(t - kT0)));
                            })
          .ok());
  EXPECT_THAT(seen, ElementsAre("u1@99", "u0@96", "u1@93"));
  seen.clear();
  ASSERT_TRUE(store_
                  ->ScanEventsNamed("none",
                                    [&](absl::string_view user, absl::Time) {
                                      seen.emplace_back(user);
                                    })
                  .ok());
  EXPECT_THAT(seen, IsEmpty());
}

// --- DeleteUser ---

// Every (table, column) of the database whose value contains `needle`,
// found by a query over sqlite_master and each table's columns, so that a
// table added later is covered without changing the test.
std::vector<std::string> TablesMentioning(const std::string& path,
                                          absl::string_view needle) {
  std::vector<std::string> found;
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  std::vector<std::pair<std::string, std::string>> columns;
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db,
                               "SELECT m.name, c.name FROM sqlite_master m, "
                               "pragma_table_info(m.name) c "
                               "WHERE m.type = 'table' ORDER BY 1, 2",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    columns.emplace_back(
        reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)),
        reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)));
  }
  sqlite3_finalize(stmt);
  EXPECT_GT(columns.size(), 30u);
  for (const auto& [table, column] : columns) {
    const std::string sql =
        absl::StrCat("SELECT COUNT(*) FROM \"", table, "\" WHERE instr(CAST(\"",
                     column, "\" AS BLOB), CAST(?1 AS BLOB)) > 0");
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr),
              SQLITE_OK)
        << sql;
    sqlite3_bind_text(stmt, 1, needle.data(), static_cast<int>(needle.size()),
                      SQLITE_TRANSIENT);
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int64(stmt, 0) > 0) {
      found.push_back(absl::StrCat(table, ".", column));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return found;
}

std::map<std::string, int64_t> RowCounts(const std::string& path) {
  std::map<std::string, int64_t> counts;
  for (const char* table : {"events", "traits", "users", "matches", "decisions",
                            "prompts", "responses", "response_tags"}) {
    const std::string n =
        RawQueryText(path, absl::StrCat("SELECT COUNT(*) FROM ", table));
    counts[table] = std::stoll(n);
  }
  return counts;
}

// Stores rows of `user` in every table; its id also appears inside the
// opaque payloads, contexts and bodies.
void AddEverything(Store& store, const std::string& user, int first_event,
                   ResponseRecord* response_out = nullptr) {
  WriteBatch batch;
  for (int i = first_event; i < first_event + 3; ++i) {
    EventRecord e = Event(i, user);
    e.payload = absl::StrCat("event of ", user);
    batch.events.push_back(e);
  }
  batch.traits = {Trait(user, "plan", absl::StrCat("plan of ", user), kT0)};
  batch.new_users = {user};
  batch.now = kT0;
  ASSERT_TRUE(store.Write(batch).ok());
  for (int i = 0; i < 2; ++i) {
    const std::string prompt = absl::StrCat("prompt-", i, "-", user);
    AddPromptTo(store, prompt, user);
  }
  ResponseRecord r = Response(absl::StrCat("response-", user),
                              absl::StrCat("prompt-0-", user), user);
  r.traits = {{"owner", user}};
  r.body = absl::StrCat("answers of ", user);
  absl::StatusOr<ResponseRecord> stored = store.InsertResponse(r, kOpen);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(store
                  .AddManualTag(r.response_id,
                                Manual("process", "alice", "re-tagged", At(30)))
                  .ok());
  if (response_out != nullptr) *response_out = *stored;
}

TEST_F(SqliteStoreTest, DeleteUserRemovesEveryRowAboutTheUser) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  AddEverything(*store, "kept-user", 0);
  AddEverything(*store, "other", 100);
  // The newest events, response and feed position.
  AddEverything(*store, "doomed", 200);
  ASSERT_TRUE(
      store->SaveCheckpoint(0, CheckpointKind::kFull, 9, kT0, "engine state")
          .ok());
  absl::StatusOr<std::vector<PromptRecord>> fed =
      store->FeedDuePrompts(At(0), 100);
  ASSERT_TRUE(fed.ok()) << fed.status();
  ASSERT_EQ(fed->size(), 3u);  // the unanswered prompt of each user

  const std::map<std::string, int64_t> before = RowCounts(FilePath());
  const std::vector<std::string> kept =
      TablesMentioning(FilePath(), "kept-user");
  // The check finds the user in every table the user has rows in.
  ASSERT_THAT(TablesMentioning(FilePath(), "doomed"),
              ::testing::IsSupersetOf({"events.user_id", "traits.user_id",
                                       "users.user_id", "matches.user_id",
                                       "decisions.user_id", "prompts.user_id",
                                       "responses.user_id", "events.payload",
                                       "responses.body", "responses.traits"}));

  absl::StatusOr<std::map<std::string, int64_t>> removed =
      store->DeleteUser("doomed");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(
      *removed,
      ElementsAre(Pair("decisions", 2), Pair("events", 3), Pair("matches", 2),
                  Pair("prompts", 2), Pair("response_tags", 2),
                  Pair("responses", 1), Pair("traits", 1), Pair("users", 1)));
  EXPECT_THAT(TablesMentioning(FilePath(), "doomed"), IsEmpty());
  // Tags are about the user through their response: none is left behind.
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT COUNT(*) FROM response_tags WHERE "
                         "response_seq NOT IN (SELECT seq FROM responses)"),
            "0");
  // Other users keep every row; the log gained the tombstone that keeps
  // the deleted events' seqs from being given again.
  const std::map<std::string, int64_t> after = RowCounts(FilePath());
  for (const auto& [table, count] : before) {
    EXPECT_EQ(after.at(table),
              count - removed->at(table) + (table == "events" ? 1 : 0))
        << table;
  }
  EXPECT_EQ(TablesMentioning(FilePath(), "kept-user"), kept);
  // The engine's checkpoint is not the store's to change.
  absl::StatusOr<std::optional<Checkpoint>> checkpoint =
      store->LoadCheckpoint(0);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  ASSERT_TRUE(checkpoint->has_value());
  EXPECT_EQ((*checkpoint)->state, "engine state");
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 6u);
  EXPECT_EQ(stats->users, 2u);
  EXPECT_THAT(Users(*store), ElementsAre("kept-user", "other"));
  // Feed positions keep growing.
  absl::StatusOr<int64_t> last = store->LastFeedSeq();
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(*last, 3);
  AddPromptTo(*store, "prompt-new", "kept-user");
  fed = store->FeedDuePrompts(At(0), 100);
  ASSERT_TRUE(fed.ok()) << fed.status();
  ASSERT_EQ(fed->size(), 1u);
  EXPECT_EQ((*fed)[0].feed_seq, 4);

  // Again, or an unknown user: every table, nothing removed.
  removed = store->DeleteUser("doomed");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(
      *removed,
      ElementsAre(Pair("decisions", 0), Pair("events", 0), Pair("matches", 0),
                  Pair("prompts", 0), Pair("response_tags", 0),
                  Pair("responses", 0), Pair("traits", 0), Pair("users", 0)));
  EXPECT_EQ(store->DeleteUser("").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, DeletingTheNewestEventsNeverReusesTheirSeqs) {
  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  WriteBatch batch = Events(1, 3);  // u1: seqs 1..3
  batch.events.push_back(Event(4, "u2"));
  batch.events.push_back(Event(5, "u2"));  // u2: seqs 4, 5
  batch.new_users = {"u1", "u2"};
  ASSERT_TRUE(store->Write(batch).ok());

  absl::StatusOr<std::map<std::string, int64_t>> removed =
      store->DeleteUser("u2");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->at("events"), 2);
  // A tombstone holds seq 5, and no read shows it.
  EXPECT_EQ(RawQueryText(FilePath(), "SELECT MAX(seq) FROM events"), "5");
  EXPECT_EQ(
      RawQueryText(FilePath(), "SELECT COUNT(*) FROM events WHERE seq = 5"),
      "1");
  auto seqs_after = [&](int64_t after) {
    std::vector<int64_t> seqs;
    EXPECT_TRUE(store
                    ->ScanEvents(after,
                                 [&](int64_t seq, const EventRecord& e) {
                                   EXPECT_FALSE(e.event_id.empty());
                                   seqs.push_back(seq);
                                 })
                    .ok());
    return seqs;
  };
  EXPECT_THAT(seqs_after(0), ElementsAre(1, 2, 3));
  absl::StatusOr<std::vector<EventRecord>> by_seq =
      store->GetEventsBySeq({5, 3, 4});
  ASSERT_TRUE(by_seq.ok()) << by_seq.status();
  ASSERT_EQ(by_seq->size(), 1u);
  EXPECT_EQ((*by_seq)[0].event_id, "e3");
  EXPECT_THAT(RecentIds(*store, 2), ElementsAre("e2", "e3"));
  EXPECT_THAT(RecentIds(*store, 10), ElementsAre("e1", "e2", "e3"));
  std::vector<std::string> named;
  ASSERT_TRUE(
      store
          ->ScanEventsNamed("", [&](absl::string_view user,
                                    absl::Time) { named.emplace_back(user); })
          .ok());
  EXPECT_THAT(named, IsEmpty());
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 3u);
  EXPECT_EQ(stats->users, 1u);

  // The next append continues after the deleted events, also after a
  // reopen.
  WriteBatch next;
  next.events = {Event(6, "u3")};
  absl::StatusOr<WriteResult> written = store->Write(next);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->first_event_seq, 6);
  store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  next.events = {Event(7, "u3")};
  written = store->Write(next);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->first_event_seq, 7);
  EXPECT_THAT(seqs_after(3), ElementsAre(6, 7));

  // Deleting events in the middle leaves no tombstone; deleting the newest
  // again leaves one at the new end.
  ASSERT_TRUE(store->DeleteUser("u1").ok());
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT COUNT(*) FROM events WHERE event_id = ''"),
            "1");
  removed = store->DeleteUser("u3");
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->at("events"), 2);
  EXPECT_EQ(RawQueryText(FilePath(),
                         "SELECT group_concat(seq) FROM events "
                         "WHERE event_id = ''"),
            "5,7");
  EXPECT_THAT(seqs_after(0), IsEmpty());
  EXPECT_THAT(RecentIds(*store, 10), IsEmpty());
  stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 0u);
  next.events = {Event(8, "u4")};
  written = store->Write(next);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->first_event_seq, 8);
  EXPECT_THAT(RecentIds(*store, 10), ElementsAre("e8"));
}

TEST_F(SqliteStoreTest, WriteRefusesAnEventWithoutId) {
  std::unique_ptr<Store> store = OpenOrDie(MemoryOptions());
  ASSERT_NE(store, nullptr);
  WriteBatch batch = Events(1, 2);
  batch.events[1].event_id.clear();
  batch.new_users = {"u1"};
  absl::StatusOr<WriteResult> written = store->Write(batch);
  EXPECT_EQ(written.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(written.status().message(), HasSubstr("event_id"));
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 0u);
  EXPECT_EQ(stats->users, 0u);
}

TEST_P(ResponsesTest, ResponseSeqsAreNotReusedAfterDeletion) {
  const ResponseRecord r1 = Answer(Response("r1", "p1", "u1"));
  const ResponseRecord r2 = Answer(Response("r2", "p2", "u2"));
  ASSERT_TRUE(store_->DeleteUser("u2").ok());
  const ResponseRecord r3 = Answer(Response("r3", "p3", "u3"));
  EXPECT_GT(r3.seq, r2.seq);
  // A client holding r2's seq as its page boundary sees r1 next, not r3.
  EXPECT_THAT(List({}, r2.seq), ElementsAre("r1"));
  EXPECT_GT(r2.seq, r1.seq);
}

// A match deleted while the orchestrator decided it gets no decision.
TEST_P(ResponsesTest, DecisionsOfADeletedUsersMatchesAreSkipped) {
  MatchRecord m;
  m.match_id = "m-late";
  m.rule_id = "rule-a";
  m.user_id = "u5";
  m.matched_at = At(1);
  m.created_at = At(1);
  ASSERT_TRUE(store_->AppendMatches({m}).ok());
  ASSERT_TRUE(store_->DeleteUser("u5").ok());
  DecisionRecord d;
  d.match_id = "m-late";
  d.user_id = "u5";
  d.rule_id = "rule-a";
  d.outcome = "sent";
  PromptRecord p;
  p.prompt_id = "p-late";
  p.match_id = "m-late";
  p.user_id = "u5";
  absl::StatusOr<std::vector<bool>> stored = store_->AppendDecisions({d}, {p});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_THAT(*stored, ElementsAre(false));
  absl::StatusOr<std::vector<DecisionRecord>> decisions =
      store_->ListUserDecisions("u5");
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  EXPECT_THAT(*decisions, IsEmpty());
  EXPECT_EQ(store_->GetPrompt("p-late").status().code(),
            absl::StatusCode::kNotFound);
}

// --- Migration ---

TEST_F(SqliteStoreTest, UpgradesAVersion3FileAndFeedsItsDeliveredPrompts) {
  // A file exactly as a version 3 Hark left it: p-delivered was delivered
  // by GetPrompts() before it was fed, which version 3 never fed.
  ASSERT_NO_FATAL_FAILURE(CreateFileAtVersion(3));
  ASSERT_EQ(RawQueryText(FilePath(), "PRAGMA user_version"), "3");
  const int64_t t0 = absl::ToUnixMicros(kT0);
  RawExec(
      FilePath(),
      absl::StrCat(
          "INSERT INTO events(event_id, user_id, name, event_time_us, "
          "received_us, payload) VALUES ('e1', 'u1', 'a', 1, 2, x'00');"
          "INSERT INTO users(user_id, first_seen_us) VALUES ('u1', 1);"
          "UPDATE store_counters SET value = 1 WHERE name IN ('events', "
          "'users');"
          "INSERT INTO matches(match_id, rule_id, rule_version, user_id, "
          "group_key, matched_at_us, at_deadline, created_us, context) VALUES "
          "('m1', 'r', 'v1', 'u1', '', 10, 0, 11, x'01'), "
          "('m2', 'r', 'v1', 'u1', '', 10, 0, 11, x'01'), "
          "('m3', 'r', 'v1', 'u1', '', 10, 0, 11, x'01');"
          "INSERT INTO decisions(match_id, user_id, rule_id, rule_version, "
          "kind, target, outcome, reason, matched_at_us, decided_at_us) "
          "VALUES ('m1', 'u1', 'r', 'v1', 1, 's', 'sent', '', 10, 12), "
          "('m2', 'u1', 'r', 'v1', 1, 's', 'sent', '', 10, 12), "
          "('m3', 'u1', 'r', 'v1', 1, 's', 'sent', '', 10, 12);"
          "INSERT INTO prompts(prompt_id, match_id, user_id, kind, rule_id, "
          "definition_id, priority, created_us, due_us, expires_us, state, "
          "delivered_us, shown_us, closed_us, feed_seq, body) VALUES "
          "('p-fed', 'm1', 'u1', 1, 'r', 's', 0, ",
          t0, ", ", t0, ", ", t0 + 3600000000,
          ", 2, 13, NULL, NULL, 1, x'02'), "
          "('p-delivered', 'm2', 'u1', 1, 'r', 's', 0, ",
          t0, ", ", t0, ", ", t0 + 3600000000,
          ", 2, 14, NULL, NULL, NULL, x'03'), "
          "('p-pending', 'm3', 'u1', 1, 'r', 's', 0, ",
          t0, ", ", t0 + 1, ", ", t0 + 3600000000,
          ", 1, NULL, NULL, NULL, NULL, x'04');"
          "UPDATE store_counters SET value = 1 WHERE name = 'feed_seq';"));

  std::unique_ptr<Store> store = OpenOrDie(FileOptions());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(RawQueryText(FilePath(), "PRAGMA user_version"),
            absl::StrCat(internal::LatestSchemaVersion()));
  absl::StatusOr<StoreStats> stats = store->GetStats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->events, 1u);
  EXPECT_EQ(stats->users, 1u);
  absl::StatusOr<std::optional<absl::Time>> next = store->NextUnfedDue();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, kT0);
  absl::StatusOr<std::vector<PromptRecord>> fed =
      store->FeedDuePrompts(kT0 + absl::Seconds(1), 10);
  ASSERT_TRUE(fed.ok()) << fed.status();
  ASSERT_EQ(fed->size(), 2u);
  EXPECT_EQ((*fed)[0].prompt_id, "p-delivered");
  EXPECT_EQ((*fed)[0].feed_seq, 2);
  EXPECT_EQ((*fed)[0].state, PromptState::kDelivered);
  EXPECT_EQ((*fed)[1].prompt_id, "p-pending");
  EXPECT_EQ((*fed)[1].feed_seq, 3);
  absl::StatusOr<PromptRecord> old = store->GetPrompt("p-fed");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->feed_seq, 1);
  EXPECT_EQ(old->body, "\x02");

  // The new tables work on the old prompts.
  ResponseRecord r = Response("r1", "p-delivered", "u1", "r");
  r.match_id = "m2";
  absl::StatusOr<ResponseRecord> inserted = store->InsertResponse(r, kOpen);
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(inserted->seq, 1);
  EXPECT_EQ(store->GetPrompt("p-delivered")->state, PromptState::kAnswered);
  store.reset();

  // An upgraded file has exactly the schema of a fresh one.
  ASSERT_NE(OpenOrDie(StoreOptions{FilePath("fresh.db")}), nullptr);
  EXPECT_THAT(SchemaOf(FilePath()),
              ElementsAreArray(SchemaOf(FilePath("fresh.db"))));
  EXPECT_THAT(SchemaOf(FilePath()),
              ::testing::Contains(HasSubstr("state IN (1, 2, 3)")));
}

}  // namespace
}  // namespace hark::store
