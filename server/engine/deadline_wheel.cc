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
  Bucket& entries = *BucketFor(bucket);
  const size_t capacity = entries.capacity();
  entries.push_back(handle);
  bucket_capacity_ += entries.capacity() - capacity;
  ++bucket_entries_;
}

DeadlineWheel::Bucket* DeadlineWheel::BucketFor(int64_t bucket) {
  CacheEntry& hit = cache_[static_cast<uint64_t>(bucket) % kCacheSize];
  if (hit.bucket == bucket) return hit.entries;
  std::unique_ptr<Bucket>& slot = buckets_[bucket];
  if (slot == nullptr) slot = std::make_unique<Bucket>();
  hit.bucket = bucket;
  hit.entries = slot.get();
  return slot.get();
}

void DeadlineWheel::Expire(int64_t watermark, DueOf due_of,
                           absl::FunctionRef<void(uint32_t)> fire) {
  if (watermark == INT64_MIN) return;
  // Buckets that start before the watermark may hold due entries.
  while (!buckets_.empty()) {
    auto it = buckets_.begin();
    const int64_t bucket = it->first;
    if (bucket > ((watermark - 1) >> kBucketShift)) break;
    for (uint32_t handle : *it->second) {
      const int64_t due = due_of(handle);
      if (due != INT64_MAX && (due >> kBucketShift) == bucket) {
        heap_.emplace_back(due, handle);
        std::push_heap(heap_.begin(), heap_.end(), Later());
      }
    }
    bucket_entries_ -= it->second->size();
    bucket_capacity_ -= it->second->capacity();
    CacheEntry& cached = cache_[static_cast<uint64_t>(bucket) % kCacheSize];
    if (cached.bucket == bucket) cached = CacheEntry();
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
  for (CacheEntry& c : cache_) c = CacheEntry();
  heap_.clear();
  drained_upto_ = INT64_MIN;
  bucket_entries_ = 0;
  bucket_capacity_ = 0;
}

uint64_t DeadlineWheel::bytes() const {
  // Per bucket: its (key, pointer) pair in a btree node with slack (~24
  // bytes) and the boxed vector (24 bytes, a 32-byte malloc chunk).
  return bucket_capacity_ * sizeof(uint32_t) + buckets_.size() * 56 +
         heap_.capacity() * sizeof(heap_[0]);
}

}  // namespace hark::engine::internal
