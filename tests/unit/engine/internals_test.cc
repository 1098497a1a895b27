// The engine's building blocks: the per-user block store, the deadline
// wheel and the checkpoint codec.

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine/codec.h"
#include "server/engine/deadline_wheel.h"
#include "server/engine/user_store.h"

namespace hark::engine::internal {
namespace {

using ::testing::ElementsAre;

TEST(UserStore, RecordsGrowShrinkAndMoveAcrossSizeClasses) {
  UserStore store;
  const std::string long_id(300, 'x');  // a two-byte id length
  const UserStore::Handle a = store.FindOrCreate("alice");
  const UserStore::Handle b = store.FindOrCreate(long_id);
  EXPECT_NE(a, b);
  EXPECT_EQ(store.FindOrCreate("alice"), a);
  EXPECT_EQ(store.Find(long_id), b);
  EXPECT_EQ(store.Find("carol"), UserStore::kNoUser);
  EXPECT_EQ(store.block(a).id(), "alice");
  EXPECT_EQ(store.block(b).id(), long_id);
  EXPECT_TRUE(store.block(a).empty());
  EXPECT_EQ(store.block(a).wake(), UserStore::kNever);
  store.block(a).set_wake(42);

  // A reference model of alice's record bytes, through small, pooled and
  // large (malloc) sizes and back.
  std::string model;
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    const uint32_t size = static_cast<uint32_t>(model.size());
    const uint32_t offset = size == 0 ? 0 : rng() % (size + 1);
    const uint32_t old_size = offset == size ? 0 : rng() % (size - offset + 1);
    const bool grow = i < 1000;
    std::string data(grow ? rng() % 40 : rng() % 8,
                     static_cast<char>('a' + i % 26));
    store.Splice(a, offset, old_size, data.data(),
                 static_cast<uint32_t>(data.size()));
    model.replace(offset, old_size, data);
    ASSERT_EQ(
        std::string(store.block(a).records(), store.block(a).records_size()),
        model)
        << i;
    ASSERT_EQ(store.block(a).id(), "alice");
    ASSERT_EQ(store.block(a).wake(), 42);
  }
  EXPECT_EQ(store.Find("alice"), a);
  EXPECT_EQ(store.block(b).id(), long_id);

  store.Release(a);
  EXPECT_FALSE(store.block(a));
  EXPECT_EQ(store.Find("alice"), UserStore::kNoUser);
  EXPECT_EQ(store.size(), 1u);
  // Handles are reused.
  EXPECT_EQ(store.FindOrCreate("dave"), a);
  EXPECT_EQ(store.block(a).id(), "dave");
  EXPECT_GT(store.bytes(), 0u);
  store.Clear();
  EXPECT_EQ(store.size(), 0u);
  EXPECT_EQ(store.Find("dave"), UserStore::kNoUser);
}

TEST(UserStore, ManyUsers) {
  UserStore store;
  std::vector<UserStore::Handle> handles;
  for (int i = 0; i < 20000; ++i) {
    handles.push_back(store.FindOrCreate("user_" + std::to_string(i)));
    const std::string rec(i % 50, static_cast<char>(i));
    store.Splice(handles.back(), 0, 0, rec.data(),
                 static_cast<uint32_t>(rec.size()));
  }
  for (int i = 0; i < 20000; i += 2) store.Release(handles[i]);
  EXPECT_EQ(store.size(), 10000u);
  for (int i = 1; i < 20000; i += 2) {
    const UserStore::Handle h = store.Find("user_" + std::to_string(i));
    ASSERT_EQ(h, handles[i]);
    ASSERT_EQ(store.block(h).records_size(), static_cast<uint32_t>(i % 50));
  }
}

TEST(DeadlineWheel, FiresInDueOrderOnlyOnceTheWatermarkPasses) {
  DeadlineWheel wheel;
  std::map<uint32_t, int64_t> due = {
      {1, 5'000'000}, {2, 1'000'000}, {3, 1'000'001}, {4, 90'000'000}};
  for (const auto& [h, t] : due) wheel.Add(t, h);
  auto due_of = [&](uint32_t h) {
    auto it = due.find(h);
    return it == due.end() ? INT64_MAX : it->second;
  };
  std::vector<uint32_t> fired;
  auto fire = [&](uint32_t h) {
    fired.push_back(h);
    due.erase(h);
  };
  wheel.Expire(1'000'000, due_of, fire);  // due 1'000'000 is not < 1'000'000
  EXPECT_THAT(fired, ElementsAre());
  wheel.Expire(1'000'002, due_of, fire);
  EXPECT_THAT(fired, ElementsAre(2, 3));
  // Moved later: the old entry is stale.
  due[1] = 7'000'000;
  wheel.Add(7'000'000, 1);
  wheel.Expire(6'000'000, due_of, fire);
  EXPECT_THAT(fired, ElementsAre(2, 3));
  // Added below the drained range: goes straight to the heap.
  due[5] = 6'500'000;
  wheel.Add(6'500'000, 5);
  wheel.Expire(100'000'000, due_of, fire);
  EXPECT_THAT(fired, ElementsAre(2, 3, 5, 1, 4));
  EXPECT_EQ(wheel.entries(), 0u);
}

TEST(DeadlineWheel, FireMayReschedule) {
  DeadlineWheel wheel;
  int64_t due = 10;
  wheel.Add(due, 0);
  int fired = 0;
  for (int64_t w = 0; w < 100'000'000; w += 999'999) {
    wheel.Expire(
        w, [&](uint32_t) { return due; },
        [&](uint32_t h) {
          ++fired;
          due = w + 3'000'000;
          wheel.Add(due, h);
        });
  }
  EXPECT_GT(fired, 20);
  EXPECT_LT(fired, 40);
}

TEST(DeadlineWheel, FarWakeUpsAreClampedToTheHorizon) {
  DeadlineWheel wheel;
  EXPECT_EQ(wheel.Horizon(), INT64_MAX);
  auto never = [](uint32_t) { return INT64_MAX; };
  wheel.Expire(1'000'000, never, [](uint32_t) {});
  const int64_t horizon = wheel.Horizon();
  EXPECT_GT(horizon, 4000LL * 1'000'000);  // a little over an hour ahead
  EXPECT_LT(horizon, 5000LL * 1'000'000);
  // A user due in 14 days is scheduled at the horizon and visited then.
  int64_t wake = horizon;
  wheel.Add(wake, 7);
  std::vector<int64_t> visits;
  auto wake_of = [&](uint32_t) { return wake; };
  const int64_t due = 14LL * 86400 * 1'000'000;
  auto fire = [&](uint32_t h) {
    EXPECT_EQ(h, 7u);
    visits.push_back(wake);
    if (wake == due) {
      wake = INT64_MAX;  // done
      return;
    }
    wake = std::min(due, wheel.Horizon());
    wheel.Add(wake, h);
  };
  for (int64_t w = 0; w <= 15LL * 86400 * 1'000'000; w += 60'000'000) {
    wheel.Expire(w, wake_of, fire);
  }
  // About one visit per ring span (71 minutes) over 14 days, then the
  // last at 14 days exactly.
  EXPECT_GT(visits.size(), 250u);
  EXPECT_LT(visits.size(), 300u);
  EXPECT_EQ(visits.back(), due);
  EXPECT_EQ(wheel.entries(), 0u);
  EXPECT_LT(wheel.bytes(), 200'000u);
}

TEST(Codec, VarintsAndStrings) {
  std::string buf;
  Writer w(&buf);
  w.Varint(0);
  w.Varint(300);
  w.Varint(UINT64_MAX);
  w.Signed(-1);
  w.Signed(INT64_MIN);
  w.Signed(INT64_MAX);
  w.Bytes("hello");
  Reader r(buf);
  uint64_t u;
  int64_t s;
  absl::string_view str;
  ASSERT_TRUE(r.Varint(&u));
  EXPECT_EQ(u, 0u);
  ASSERT_TRUE(r.Varint(&u));
  EXPECT_EQ(u, 300u);
  ASSERT_TRUE(r.Varint(&u));
  EXPECT_EQ(u, UINT64_MAX);
  ASSERT_TRUE(r.Signed(&s));
  EXPECT_EQ(s, -1);
  ASSERT_TRUE(r.Signed(&s));
  EXPECT_EQ(s, INT64_MIN);
  ASSERT_TRUE(r.Signed(&s));
  EXPECT_EQ(s, INT64_MAX);
  ASSERT_TRUE(r.Bytes(&str));
  EXPECT_EQ(str, "hello");
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(r.Varint(&u));
}

TEST(Codec, FnvIsStable) {
  // FNV-1a 64 reference values.
  EXPECT_EQ(Fnv64Of(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv64Of("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv64Of("foobar"), 0x85944171f73967e8ull);
}

}  // namespace
}  // namespace hark::engine::internal
