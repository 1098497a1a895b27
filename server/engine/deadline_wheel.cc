#include "server/engine/deadline_wheel.h"

#include <algorithm>

namespace hark::engine::internal {
namespace {

// Bytes malloc hands out for a request of `n` (glibc).
uint64_t MallocChunk(uint64_t n) {
  return n == 0 ? 0 : std::max<uint64_t>(32, (n + 8 + 15) & ~uint64_t{15});
}

}  // namespace

DeadlineWheel::DeadlineWheel() : ring_(kRing) {}

int64_t DeadlineWheel::Horizon() const {
  if (base_ == INT64_MIN) return INT64_MAX;
  return ((base_ + kRing) << kBucketShift) - 1;
}

void DeadlineWheel::Add(int64_t time, uint32_t handle) {
  const int64_t bucket = time >> kBucketShift;  // floors negative times too
  if (base_ == INT64_MIN) base_ = bucket;
  if (bucket < base_) {
    heap_.emplace_back(time, handle);
    std::push_heap(heap_.begin(), heap_.end(), Later());
    return;
  }
  // Callers clamp to Horizon(); a time beyond it would land in a bucket
  // that is drained too early, which only costs an early visit.
  std::vector<uint32_t>& entries =
      ring_[std::min(bucket, base_ + kRing - 1) & (kRing - 1)];
  const size_t capacity = entries.capacity();
  entries.push_back(handle);
  ring_capacity_ += entries.capacity() - capacity;
  ++ring_entries_;
}

void DeadlineWheel::Expire(int64_t watermark, WakeOf wake_of,
                           absl::FunctionRef<void(uint32_t)> fire) {
  if (watermark == INT64_MIN) return;
  // Buckets that start before the watermark may hold due entries.
  const int64_t last = (watermark - 1) >> kBucketShift;
  if (base_ == INT64_MIN) base_ = last + 1;
  // After a jump of more than the ring, one lap drains everything.
  const int64_t stop = std::min(last, base_ + kRing - 1);
  for (int64_t bucket = base_; bucket <= stop && ring_entries_ > 0; ++bucket) {
    std::vector<uint32_t>& entries = ring_[bucket & (kRing - 1)];
    for (uint32_t handle : entries) {
      const int64_t time = wake_of(handle);
      // Live if the user still wakes up in this bucket (or later ones
      // clamped into the ring's last bucket, which this is not).
      if (time != INT64_MAX && (time >> kBucketShift) == bucket) {
        heap_.emplace_back(time, handle);
        std::push_heap(heap_.begin(), heap_.end(), Later());
      }
    }
    ring_entries_ -= entries.size();
    ring_capacity_ -= entries.capacity();
    std::vector<uint32_t>().swap(entries);
  }
  base_ = std::max(base_, last + 1);
  while (!heap_.empty() && heap_.front().first < watermark) {
    const auto [time, handle] = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), Later());
    heap_.pop_back();
    if (wake_of(handle) == time) fire(handle);
  }
}

void DeadlineWheel::Clear() {
  for (std::vector<uint32_t>& entries : ring_) {
    std::vector<uint32_t>().swap(entries);
  }
  base_ = INT64_MIN;
  heap_.clear();
  ring_entries_ = 0;
  ring_capacity_ = 0;
}

uint64_t DeadlineWheel::bytes() const {
  // Bucket vectors: their headers, plus their arrays as malloc chunks
  // (estimated from the total capacity, with one chunk overhead per
  // non-empty bucket at most kRing).
  const uint64_t arrays = ring_capacity_ * sizeof(uint32_t);
  const uint64_t chunks = std::min<uint64_t>(ring_entries_, kRing);
  return MallocChunk(sizeof(ring_[0]) * kRing) + arrays + chunks * 16 +
         MallocChunk(heap_.capacity() * sizeof(heap_[0]));
}

}  // namespace hark::engine::internal
