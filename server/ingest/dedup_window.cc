#include "server/ingest/dedup_window.h"

#include <functional>
#include <string_view>

#include "absl/hash/hash.h"

namespace hark::ingest {

// The collision estimate in dedup_window.h assumes two 64-bit halves.
static_assert(sizeof(size_t) == 8, "DedupWindow needs 64-bit hashes");

DedupWindow::Key DedupWindow::KeyOf(absl::string_view id) {
  Key key;
  key.lo = static_cast<uint64_t>(absl::Hash<absl::string_view>{}(id));
  key.hi = static_cast<uint64_t>(
      std::hash<std::string_view>{}(std::string_view(id.data(), id.size())));
  return key;
}

DedupWindow::DedupWindow(size_t capacity) : capacity_(capacity) {}

bool DedupWindow::Insert(const Key& key) {
  if (capacity_ == 0) return true;
  if (!set_.insert(key).second) return false;
  if (ring_.size() < capacity_) {
    ring_.push_back(key);
    return true;
  }
  set_.erase(ring_[next_]);
  ring_[next_] = key;
  next_ = (next_ + 1) % capacity_;
  return true;
}

}  // namespace hark::ingest
