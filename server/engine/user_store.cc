#include "server/engine/user_store.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace hark::engine::internal {
namespace {

// Out of memory ends the process, as it would in any std container.
void* CheckedRealloc(void* p, size_t n) {
  void* q = std::realloc(p, n);
  if (q == nullptr) std::abort();
  return q;
}

}  // namespace

UserStore::UserStore() : index_(0, IdHash{&blocks_}, IdEq{&blocks_}) {}

UserStore::~UserStore() { Clear(); }

uint64_t UserStore::ChunkBytes(uint64_t n) {
  return std::max<uint64_t>(32, (n + 8 + 15) & ~uint64_t{15});
}

uint32_t UserStore::CapacityFor(uint32_t need) {
  const uint64_t chunk = ChunkBytes(sizeof(Block) + uint64_t{need});
  return static_cast<uint32_t>(chunk - 8 - sizeof(Block));
}

UserStore::Handle UserStore::Find(absl::string_view user) const {
  auto it = index_.find(user);
  return it == index_.end() ? kNoUser : *it;
}

UserStore::Handle UserStore::FindOrCreate(absl::string_view user) {
  auto it = index_.find(user);
  if (it != index_.end()) return *it;
  const auto id_len = static_cast<uint32_t>(user.size());
  // Room for the id and a small first record, so that the common case (a
  // new user gets one slot) allocates once.
  const uint32_t cap = CapacityFor(id_len + 24);
  void* mem = CheckedRealloc(nullptr, sizeof(Block) + cap);
  auto* b = new (mem) Block{cap, id_len, kNever, id_len, 0};
  std::memcpy(b->data(), user.data(), id_len);
  block_bytes_ += ChunkBytes(sizeof(Block) + cap);
  Handle h;
  if (!free_.empty()) {
    h = free_.back();
    free_.pop_back();
    blocks_[h] = b;
  } else {
    h = static_cast<Handle>(blocks_.size());
    blocks_.push_back(b);
  }
  index_.insert(h);
  return h;
}

void UserStore::Splice(Handle h, uint32_t offset, uint32_t old_size,
                       const char* data, uint32_t size) {
  Block* b = blocks_[h];
  const uint32_t used = b->used - old_size + size;
  if (used > b->cap || (b->cap > 96 && used < b->cap / 2)) {
    // Grow with a little slack above 64 bytes (users with many slots keep
    // changing size), shrink when less than half is used.
    const uint32_t cap = CapacityFor(used > 64 ? used + used / 8 : used);
    const uint64_t old_chunk = ChunkBytes(sizeof(Block) + b->cap);
    if (used < b->used) {
      // Shrinking: move the tail first, while the bytes still exist.
      char* at = b->records() + offset;
      std::memmove(at + size, at + old_size,
                   b->records_size() - offset - old_size);
      std::memcpy(at, data, size);
      b->used = used;
      b = static_cast<Block*>(CheckedRealloc(b, sizeof(Block) + cap));
      b->cap = cap;
      blocks_[h] = b;
      block_bytes_ += ChunkBytes(sizeof(Block) + cap);
      block_bytes_ -= old_chunk;
      return;
    }
    b = static_cast<Block*>(CheckedRealloc(b, sizeof(Block) + cap));
    b->cap = cap;
    blocks_[h] = b;
    block_bytes_ += ChunkBytes(sizeof(Block) + cap);
    block_bytes_ -= old_chunk;
  }
  char* at = b->records() + offset;
  std::memmove(at + size, at + old_size, b->records_size() - offset - old_size);
  std::memcpy(at, data, size);
  b->used = used;
}

void UserStore::Release(Handle h) {
  Block* b = blocks_[h];
  if (b == nullptr) return;
  index_.erase(h);
  block_bytes_ -= ChunkBytes(sizeof(Block) + b->cap);
  std::free(b);
  blocks_[h] = nullptr;
  free_.push_back(h);
}

void UserStore::Clear() {
  index_.clear();
  for (Block* b : blocks_) std::free(b);
  blocks_.clear();
  free_.clear();
  block_bytes_ = 0;
}

uint64_t UserStore::bytes() const {
  // flat_hash_set: one control byte plus one slot per bucket.
  return block_bytes_ + index_.capacity() * (sizeof(Handle) + 1) +
         blocks_.capacity() * sizeof(Block*) +
         free_.capacity() * sizeof(Handle);
}

}  // namespace hark::engine::internal
