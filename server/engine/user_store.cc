#include "server/engine/user_store.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
// Free pool memory is poisoned so that AddressSanitizer still catches uses
// of a block after it moved or was released.
#define HARK_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define HARK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define HARK_POISON(p, n) ((void)(p), (void)(n))
#define HARK_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace hark::engine::internal {
namespace {

constexpr uint32_t kGranule = 8;
constexpr uint32_t kMaxPooled = 512;
constexpr size_t kSlabBytes = 64 * 1024;
// Blocks above the pool's range are rare (users with dozens of open
// slots); they come from malloc in steps of this many bytes.
constexpr uint32_t kLargeStep = 256;

// The allocation size of a block of `n` bytes: the pool class, or the
// malloc request for large blocks.
uint32_t AllocSize(uint32_t n) {
  if (n <= kMaxPooled)
    return std::max(16u, (n + kGranule - 1) & ~(kGranule - 1));
  return (n + kLargeStep - 1) & ~(kLargeStep - 1);
}

// Bytes malloc hands out for a request of `n` (glibc: 8 bytes of chunk
// header, 16-byte granularity).
uint64_t MallocChunk(uint64_t n) {
  return std::max<uint64_t>(32, (n + 8 + 15) & ~uint64_t{15});
}

uint32_t VarintLen(uint32_t v) {
  uint32_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Out of memory ends the process, as it would in any std container.
void* CheckedMalloc(size_t n) {
  void* p = std::malloc(n);
  if (p == nullptr) std::abort();
  return p;
}

}  // namespace

UserStore::UserStore()
    : index_(0, IdHash{this}, IdEq{this}),
      free_lists_(kMaxPooled / kGranule + 1, nullptr) {}

UserStore::~UserStore() { Clear(); }

char* UserStore::Allocate(uint32_t size) {
  const uint32_t alloc = AllocSize(size);
  if (alloc > kMaxPooled) {
    large_bytes_ += MallocChunk(alloc);
    return static_cast<char*>(CheckedMalloc(alloc));
  }
  char*& head = free_lists_[alloc / kGranule];
  if (head != nullptr) {
    char* p = head;
    HARK_UNPOISON(p, alloc);
    std::memcpy(&head, p, sizeof(char*));
    return p;
  }
  if (slab_left_ < alloc) {
    // The slab's tail (less than one block) is left unused.
    slabs_.emplace_back(new char[kSlabBytes]);
    slab_next_ = slabs_.back().get();
    slab_left_ = kSlabBytes;
    HARK_POISON(slab_next_, kSlabBytes);
  }
  char* p = slab_next_;
  slab_next_ += alloc;
  slab_left_ -= alloc;
  HARK_UNPOISON(p, alloc);
  return p;
}

void UserStore::Free(char* p, uint32_t size) {
  const uint32_t alloc = AllocSize(size);
  if (alloc > kMaxPooled) {
    large_bytes_ -= MallocChunk(alloc);
    std::free(p);
    return;
  }
  char*& head = free_lists_[alloc / kGranule];
  std::memcpy(p, &head, sizeof(char*));
  head = p;
  HARK_POISON(p, alloc);
}

UserStore::Handle UserStore::Find(absl::string_view user) const {
  auto it = index_.find(user);
  return it == index_.end() ? kNoUser : *it;
}

UserStore::Handle UserStore::FindOrCreate(absl::string_view user) {
  auto it = index_.find(user);
  if (it != index_.end()) return *it;
  const auto id_len = static_cast<uint32_t>(user.size());
  const uint32_t used = VarintLen(id_len) + id_len;
  char* p = Allocate(UserBlock::kHeader + used);
  Store64(p, kNever);
  Store32(p + 8, used);
  char* at = p + UserBlock::kHeader;
  uint32_t v = id_len;
  while (v >= 0x80) {
    *at++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *at++ = static_cast<char>(v);
  std::memcpy(at, user.data(), id_len);

  Handle h;
  if (!free_handles_.empty()) {
    h = free_handles_.back();
    free_handles_.pop_back();
  } else {
    h = num_handles_++;
    if ((h >> kPageBits) >= pages_.size()) {
      pages_.emplace_back(new char*[size_t{1} << kPageBits]());
    }
  }
  Slot(h) = p;
  index_.insert(h);
  return h;
}

void UserStore::Splice(Handle h, uint32_t offset, uint32_t old_size,
                       const char* data, uint32_t size) {
  char* p = Slot(h);
  UserBlock b(p);
  const uint32_t used = b.used();
  const uint32_t new_used = used - old_size + size;
  const uint32_t head = static_cast<uint32_t>(b.records() - p) + offset;
  const uint32_t tail = UserBlock::kHeader + used - head - old_size;
  if (AllocSize(UserBlock::kHeader + new_used) ==
      AllocSize(UserBlock::kHeader + used)) {
    std::memmove(p + head + size, p + head + old_size, tail);
    if (size > 0) std::memcpy(p + head, data, size);
    Store32(p + 8, new_used);
    return;
  }
  char* q = Allocate(UserBlock::kHeader + new_used);
  std::memcpy(q, p, head);
  if (size > 0) std::memcpy(q + head, data, size);
  std::memcpy(q + head + size, p + head + old_size, tail);
  Store32(q + 8, new_used);
  Free(p, UserBlock::kHeader + used);
  Slot(h) = q;
}

void UserStore::Release(Handle h) {
  char* p = Slot(h);
  if (p == nullptr) return;
  index_.erase(h);
  Free(p, UserBlock::kHeader + UserBlock(p).used());
  Slot(h) = nullptr;
  free_handles_.push_back(h);
}

void UserStore::Clear() {
  index_.clear();
  for (Handle h = 0; h < num_handles_; ++h) {
    char* p = Slot(h);
    if (p != nullptr) {
      const uint32_t alloc =
          AllocSize(UserBlock::kHeader + UserBlock(p).used());
      if (alloc > kMaxPooled) std::free(p);
    }
  }
  pages_.clear();
  num_handles_ = 0;
  free_handles_.clear();
  for (auto& slab : slabs_) HARK_UNPOISON(slab.get(), kSlabBytes);
  slabs_.clear();
  slab_next_ = nullptr;
  slab_left_ = 0;
  std::fill(free_lists_.begin(), free_lists_.end(), nullptr);
  large_bytes_ = 0;
}

uint64_t UserStore::bytes() const {
  // flat_hash_set: one control byte plus one 4-byte slot per bucket.
  return slabs_.size() * MallocChunk(kSlabBytes) + large_bytes_ +
         index_.capacity() * (sizeof(Handle) + 1) +
         pages_.size() * MallocChunk(sizeof(char*) << kPageBits) +
         pages_.capacity() * sizeof(pages_[0]) +
         free_handles_.capacity() * sizeof(Handle);
}

}  // namespace hark::engine::internal
