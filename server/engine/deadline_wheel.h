#ifndef HARK_SERVER_ENGINE_DEADLINE_WHEEL_H_
#define HARK_SERVER_ENGINE_DEADLINE_WHEEL_H_

// When each user next needs attention, keyed by event time and advanced by
// the watermark: absence deadlines fire and closed windows are freed.
//
// Each user has one due time (UserStore::Block::next_due, the earliest
// expiry of its records). Scheduling puts the user's 4-byte handle into a
// coarse bucket of about one second of event time; when the watermark
// reaches a bucket, its handles move, with their exact due times, into a
// small min-heap from which they pop in due order once the watermark has
// passed them. So each scheduling costs an append, the heap only holds about
// a second's worth of users, and a deadline fires as soon as the watermark
// passes it, not at a bucket boundary.
//
// Entries are never removed: when a user's due time changes or the user is
// released, its old entries become stale and are skipped when they come up
// (an entry is live only if it agrees with the user's current due time).
//
// Thread-compatible.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/functional/function_ref.h"

namespace hark::engine::internal {

class DeadlineWheel {
 public:
  // `due_of(handle)` is the handle's current due time (INT64_MAX if none).
  using DueOf = absl::FunctionRef<int64_t(uint32_t)>;

  // Schedules `handle` at `due` (micros of event time).
  void Add(int64_t due, uint32_t handle);

  // Calls `fire(handle)` for every live entry whose due time is before
  // `watermark`, in due order. `fire` may call Add() with due times at or
  // after the watermark.
  void Expire(int64_t watermark, DueOf due_of,
              absl::FunctionRef<void(uint32_t)> fire);

  void Clear();
  // Entries held, stale ones included.
  size_t entries() const { return bucket_entries_ + heap_.size(); }
  // Estimated bytes allocated.
  uint64_t bytes() const;

 private:
  static constexpr int kBucketShift = 20;  // 2^20 us, about one second

  // Min-heap on due time.
  struct Later {
    bool operator()(const std::pair<int64_t, uint32_t>& a,
                    const std::pair<int64_t, uint32_t>& b) const {
      return a > b;
    }
  };

  using Bucket = std::vector<uint32_t>;
  Bucket* BucketFor(int64_t bucket);

  // Buckets are boxed so that the cache below may point at them.
  absl::btree_map<int64_t, std::unique_ptr<Bucket>> buckets_;
  // Recently used buckets, direct-mapped: new deadlines are event time plus
  // one of a few `within`s, so a handful of buckets take most of them and a
  // hit skips the btree search.
  static constexpr int kCacheSize = 64;
  struct CacheEntry {
    int64_t bucket = INT64_MIN;
    Bucket* entries = nullptr;
  };
  CacheEntry cache_[kCacheSize];
  std::vector<std::pair<int64_t, uint32_t>> heap_;
  // Every bucket up to and including this one has been moved to the heap.
  int64_t drained_upto_ = INT64_MIN;
  size_t bucket_entries_ = 0;
  size_t bucket_capacity_ = 0;  // sum of the buckets' vector capacities
};

}  // namespace hark::engine::internal

#endif  // HARK_SERVER_ENGINE_DEADLINE_WHEEL_H_
