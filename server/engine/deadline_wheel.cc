#include "server/engine/deadline_wheel.h"

#include <algorithm>

namespace hark::engine::internal {

void DeadlineWheel::Add(int64_t due, uint32_t handle) {
  const int64_t bucket = due >> kBucketShift;  // floors negative times too
  if (bucket <= drained_upto_) {
    heap_.emplace_back(due, handle);
    std::push_heap(heap_.begin(), heap_.end(), Later());
    return;
  }
  std::vector<uint32_t>& entries = buckets_[bucket];
  const size_t capacity = entries.capacity();
  entries.push_back(handle);
  bucket_capacity_ += entries.capacity() - capacity;
  ++bucket_entries_;
}

void DeadlineWheel::Expire(int64_t watermark, DueOf due_of,
                           absl::FunctionRef<void(uint32_t)> fire) {
  if (watermark == INT64_MIN) return;
  // Buckets that start before the watermark may hold due entries.
  while (!buckets_.empty()) {
    auto it = buckets_.begin();
    const int64_t bucket = it->first;
    if (bucket > ((watermark - 1) >> kBucketShift)) break;
    for (uint32_t handle : it->second) {
      const int64_t due = due_of(handle);
      if (due != INT64_MAX && (due >> kBucketShift) == bucket) {
        heap_.emplace_back(due, handle);
        std::push_heap(heap_.begin(), heap_.end(), Later());
      }
    }
    bucket_entries_ -= it->second.size();
    bucket_capacity_ -= it->second.capacity();
    buckets_.erase(it);
  }
  drained_upto_ = std::max(drained_upto_, (watermark - 1) >> kBucketShift);
  while (!heap_.empty() && heap_.front().first < watermark) {
    const auto [due, handle] = heap_.front();
    std::pop_heap(heap_.begin(), heap_.end(), Later());
    heap_.pop_back();
    if (due_of(handle) == due) fire(handle);
  }
}

void DeadlineWheel::Clear() {
  buckets_.clear();
  heap_.clear();
  drained_upto_ = INT64_MIN;
  bucket_entries_ = 0;
  bucket_capacity_ = 0;
}

uint64_t DeadlineWheel::bytes() const {
  // A btree_map node holds up to ~8 (key, vector) pairs of 32 bytes plus a
  // header; count 48 bytes per bucket.
  return bucket_capacity_ * sizeof(uint32_t) + buckets_.size() * 48 +
         heap_.capacity() * sizeof(heap_[0]);
}

}  // namespace hark::engine::internal
