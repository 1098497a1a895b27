#include "server/ingest/dedup_window.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hark::ingest {
namespace {

TEST(DedupWindow, InsertReportsPresence) {
  DedupWindow window(10);
  EXPECT_TRUE(window.Insert("a"));
  EXPECT_TRUE(window.Insert("b"));
  EXPECT_FALSE(window.Insert("a"));
  EXPECT_TRUE(window.Contains("b"));
  EXPECT_FALSE(window.Contains("c"));
  EXPECT_EQ(window.size(), 2u);
  EXPECT_EQ(window.capacity(), 10u);
}

TEST(DedupWindow, EvictsOldestFirst) {
  DedupWindow window(3);
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(window.Insert(id));
  ASSERT_TRUE(window.Insert("d"));  // evicts "a"
  EXPECT_EQ(window.size(), 3u);
  EXPECT_FALSE(window.Contains("a"));
  EXPECT_TRUE(window.Contains("b"));
  EXPECT_TRUE(window.Contains("d"));
  ASSERT_TRUE(window.Insert("e"));  // evicts "b"
  EXPECT_FALSE(window.Contains("b"));
  EXPECT_TRUE(window.Contains("c"));
  // An evicted id is new again, and takes the newest position.
  EXPECT_TRUE(window.Insert("a"));  // evicts "c"
  EXPECT_FALSE(window.Contains("c"));
  EXPECT_TRUE(window.Contains("d"));
  EXPECT_TRUE(window.Contains("e"));
  EXPECT_TRUE(window.Contains("a"));
}

TEST(DedupWindow, DuplicateInsertDoesNotRefreshPosition) {
  DedupWindow window(2);
  ASSERT_TRUE(window.Insert("a"));
  ASSERT_TRUE(window.Insert("b"));
  ASSERT_FALSE(window.Insert("a"));
  ASSERT_TRUE(window.Insert("c"));  // still evicts "a", the oldest insertion
  EXPECT_FALSE(window.Contains("a"));
  EXPECT_TRUE(window.Contains("b"));
}

TEST(DedupWindow, KeepsExactlyTheLastCapacityIdsOverManyWraps) {
  constexpr int kCapacity = 100;
  DedupWindow window(kCapacity);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(window.Insert(absl::StrCat("id-", i)));
    ASSERT_LE(window.size(), static_cast<size_t>(kCapacity));
  }
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(window.Contains(absl::StrCat("id-", i)), i >= 1000 - kCapacity)
        << i;
  }
}

TEST(DedupWindow, ZeroCapacityRemembersNothing) {
  DedupWindow window(0);
  EXPECT_TRUE(window.Insert("a"));
  EXPECT_TRUE(window.Insert("a"));
  EXPECT_EQ(window.size(), 0u);
}

TEST(DedupWindow, KeysDifferForDistinctIdsAndHalvesDiffer) {
  absl::flat_hash_set<uint64_t> hi, lo;
  for (int i = 0; i < 10000; ++i) {
    const std::string id = absl::StrCat("evt-", i, "-with-a-longer-suffix");
    DedupWindow::Key key = DedupWindow::KeyOf(id);
    EXPECT_EQ(key, DedupWindow::KeyOf(id));
    EXPECT_NE(key.hi, key.lo);
    hi.insert(key.hi);
    lo.insert(key.lo);
  }
  EXPECT_EQ(hi.size(), 10000u);
  EXPECT_EQ(lo.size(), 10000u);
}

}  // namespace
}  // namespace hark::ingest
