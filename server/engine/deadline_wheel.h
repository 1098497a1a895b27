#ifndef HARK_SERVER_ENGINE_DEADLINE_WHEEL_H_
#define HARK_SERVER_ENGINE_DEADLINE_WHEEL_H_

// When each user next needs attention, keyed by event time and advanced by
// the watermark: absence deadlines fire and closed windows are freed.
//
// Each user has one wake-up time (UserBlock::wake: at or before the earliest
// expiry of its records). Scheduling appends the user's 4-byte handle to a
// ring of 4096 buckets of 2^20 us (about 1 s; the ring spans ~71 minutes
// from the watermark). When the watermark reaches a bucket, its handles
// move, with their exact times, into a small min-heap from which they pop
// in time order once the watermark has passed them. So scheduling is an
// append, the heap holds about a second's worth of users, and a deadline
// fires as soon as the watermark passes it, not at a bucket boundary.
//
// Wake-ups further ahead than the ring are clamped to its end (Horizon()):
// such a user is visited early, finds nothing due and is scheduled again.
// This bounds both the number of buckets and how long stale entries live.
//
// Entries are never removed: when a user's wake-up time changes or the user
// is released, its old entries become stale and are skipped when they come
// up (an entry is live only if it agrees with the user's current wake-up
// time). Stale entries live at most one ring span.
//
// Thread-compatible.

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"

namespace hark::engine::internal {

class DeadlineWheel {
 public:
  // `wake_of(handle)` is the handle's current wake-up time (INT64_MAX if
  // none).
  using WakeOf = absl::FunctionRef<int64_t(uint32_t)>;

  DeadlineWheel();

  // The latest time Add() accepts; later wake-ups must be clamped to it.
  int64_t Horizon() const;

  // Schedules `handle` at `time` (micros of event time, <= Horizon()).
  void Add(int64_t time, uint32_t handle);

  // Calls `fire(handle)` for every live entry whose time is before
  // `watermark`, in time order. `fire` may call Add() with times at or after
  // the watermark.
  void Expire(int64_t watermark, WakeOf wake_of,
              absl::FunctionRef<void(uint32_t)> fire);

  void Clear();
  // Entries held, stale ones included.
  size_t entries() const { return ring_entries_ + heap_.size(); }
  // Estimated bytes allocated.
  uint64_t bytes() const;

 private:
  static constexpr int kBucketShift = 20;  // 2^20 us, about one second
  static constexpr int64_t kRing = 4096;   // buckets

  // Min-heap on time.
  struct Later {
    bool operator()(const std::pair<int64_t, uint32_t>& a,
                    const std::pair<int64_t, uint32_t>& b) const {
      return a > b;
    }
  };

  std::vector<std::vector<uint32_t>> ring_;
  // The first bucket not yet moved to the heap: the ring holds buckets
  // [base_, base_ + kRing). Unset until the first Add() or Expire().
  int64_t base_ = INT64_MIN;
  std::vector<std::pair<int64_t, uint32_t>> heap_;
  size_t ring_entries_ = 0;
  size_t ring_capacity_ = 0;  // sum of the buckets' vector capacities
};

}  // namespace hark::engine::internal

#endif  // HARK_SERVER_ENGINE_DEADLINE_WHEEL_H_
