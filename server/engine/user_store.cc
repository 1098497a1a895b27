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

// Blocks are accessed with memcpy only, so 4-byte classes are fine and waste
// less than malloc's 16.
constexpr uint32_t kGranule = 4;
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

constexpr uint64_t kEmpty = 0;
constexpr uint64_t kDeleted = 1;
constexpr int kTagShift = 48;
constexpr uint64_t kPointerMask = (uint64_t{1} << kTagShift) - 1;

uint64_t SlotValue(const char* block, uint64_t hash) {
  const auto ptr = reinterpret_cast<uintptr_t>(block);
  // User-space addresses fit in 47 bits on x86-64 and in 48 on arm64.
  if ((ptr & ~kPointerMask) != 0) std::abort();
  return (hash >> kTagShift << kTagShift) | ptr;
}

char* SlotPointer(uint64_t slot) {
  return reinterpret_cast<char*>(slot & kPointerMask);
}

}  // namespace

char* UserStore::Index::Find(absl::string_view id, uint64_t hash) const {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  const uint64_t tag = hash >> kTagShift;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const uint64_t slot = slots_[i];
    if (slot == kEmpty) return nullptr;
    if (slot != kDeleted && (slot >> kTagShift) == tag &&
        UserBlock(SlotPointer(slot)).id() == id) {
      return SlotPointer(slot);
    }
  }
}

size_t UserStore::Index::SlotOf(const char* block, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  const uint64_t want = SlotValue(block, hash);
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    if (slots_[i] == want) return i;
    if (slots_[i] == kEmpty) std::abort();  // the caller's bug: not indexed
  }
}

void UserStore::Index::Insert(char* block, uint64_t hash) {
  // At most 7/8 of the slots used or deleted. Slots are 8 bytes, eight to
  // a cache line, so even long probe runs cost about one miss.
  if ((size_ + deleted_ + 1) * 8 > slots_.size() * 7) {
    Rehash((size_ + 1) * 16 > slots_.size() * 7 ? slots_.size() * 2
                                                : slots_.size());
  }
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i] != kEmpty && slots_[i] != kDeleted) i = (i + 1) & mask;
  if (slots_[i] == kDeleted) --deleted_;
  slots_[i] = SlotValue(block, hash);
  ++size_;
}

void UserStore::Index::Replace(const char* old_block, char* block,
                               uint64_t hash) {
  slots_[SlotOf(old_block, hash)] = SlotValue(block, hash);
}

void UserStore::Index::Erase(const char* block, uint64_t hash) {
  slots_[SlotOf(block, hash)] = kDeleted;
  --size_;
  ++deleted_;
}

void UserStore::Index::Rehash(size_t capacity) {
  capacity = std::max<size_t>(capacity, 16);
  std::vector<uint64_t> old(capacity, kEmpty);
  old.swap(slots_);
  const size_t mask = capacity - 1;
  for (uint64_t slot : old) {
    if (slot == kEmpty || slot == kDeleted) continue;
    const uint64_t hash = HashOf(UserBlock(SlotPointer(slot)).id());
    size_t i = hash & mask;
    while (slots_[i] != kEmpty) i = (i + 1) & mask;
    slots_[i] = slot;
  }
  deleted_ = 0;
}

void UserStore::Index::Clear() {
  std::vector<uint64_t>().swap(slots_);
  size_ = 0;
  deleted_ = 0;
}

UserStore::UserStore() : free_lists_(kMaxPooled / kGranule + 1, nullptr) {}

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
  const char* p = index_.Find(user, Index::HashOf(user));
  if (p == nullptr) return kNoUser;
  const Handle h = UserBlock(const_cast<char*>(p)).handle();
  // The caller goes on with block(h); start loading its table entry.
  __builtin_prefetch(&Slot(h));
  return h;
}

UserStore::Handle UserStore::FindOrCreate(absl::string_view user) {
  const uint64_t hash = Index::HashOf(user);
  if (const char* p = index_.Find(user, hash)) {
    return UserBlock(const_cast<char*>(p)).handle();
  }
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
    if ((h >> 6) >= changed_bits_.size()) {
      changed_bits_.push_back(0);
      created_bits_.push_back(0);
    }
  }
  MarkChanged(h);
  created_bits_[h >> 6] |= uint64_t{1} << (h & 63);
  Store32(p + 12, h);
  Slot(h) = p;
  index_.Insert(p, hash);
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
  MarkChanged(h);
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
  index_.Replace(p, q, Index::HashOf(UserBlock(q).id()));
  Free(p, UserBlock::kHeader + used);
  Slot(h) = q;
}

void UserStore::Release(Handle h) {
  char* p = Slot(h);
  if (p == nullptr) return;
  const absl::string_view id = UserBlock(p).id();
  MarkChanged(h);
  uint64_t& created = created_bits_[h >> 6];
  const uint64_t bit = uint64_t{1} << (h & 63);
  if ((created & bit) == 0) {
    Writer(&released_ids_).Bytes(id);
    ++released_;
  }
  created &= ~bit;
  index_.Erase(p, Index::HashOf(id));
  Free(p, UserBlock::kHeader + UserBlock(p).used());
  Slot(h) = nullptr;
  free_handles_.push_back(h);
}

void UserStore::Clear() {
  index_.Clear();
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
  changed_bits_.clear();
  created_bits_.clear();
  changed_.clear();
  released_ids_.clear();
  released_ = 0;
}

void UserStore::ClearChanges() {
  for (const Handle h : changed_) {
    changed_bits_[h >> 6] = 0;
    created_bits_[h >> 6] = 0;
  }
  changed_.clear();
  released_ids_.clear();
  released_ = 0;
}

uint64_t UserStore::bytes() const {
  return slabs_.size() * MallocChunk(kSlabBytes) + large_bytes_ +
         index_.capacity() * sizeof(uint64_t) +
         pages_.size() * MallocChunk(sizeof(char*) << kPageBits) +
         pages_.capacity() * sizeof(pages_[0]) +
         free_handles_.capacity() * sizeof(Handle) +
         (changed_bits_.capacity() + created_bits_.capacity()) *
             sizeof(uint64_t) +
         changed_.capacity() * sizeof(Handle) + released_ids_.capacity();
}

}  // namespace hark::engine::internal
