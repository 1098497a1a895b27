#ifndef HARK_SERVER_ENGINE_USER_STORE_H_
#define HARK_SERVER_ENGINE_USER_STORE_H_

// The engine's per-user memory. Every user with at least one open slot owns
// exactly one block holding, packed back to back:
//
//   i64  wake        when the user next needs a visit: at or before the
//                    earliest expiry of its records (engine-kept)
//   u32  used        bytes after these 16: id length + id + records
//   u32  handle      the user's handle
//   varint id length, the user id
//   the slot records (their format is the engine's business)
//
// A user is found by id through an open-addressing index whose 8-byte
// slots hold the block pointer and 16 bits of the id's hash, so a lookup
// costs about two cache misses (index slot, block) on a large population.
// The id is kept once, in the block. Holders that need a stable name for a
// user (the deadline wheel) use its 4-byte handle, an index into a paged
// table of block pointers. A user costs ~11 bytes of index, 8 of handle
// table, 17 of header and its id.
//
// Blocks come from a size-class pool (4-byte classes up to 512 bytes, carved
// from 64 KiB slabs) rather than straight from malloc, which would add an
// 8-byte chunk header and round to 16 bytes per user. A block always sits in
// the class of its current size, so it moves when it grows or shrinks past
// a class boundary. Freed blocks are reused by later users of the same class;
// slab memory is not handed back to the system until Clear() (bytes()
// counts it all, free or not).
//
// Handles of released users are reused, so holders of a handle (the
// deadline wheel) must re-check it (see wake).
//
// Changes are tracked for incremental checkpoints: every handle whose user
// was created, spliced or released since ClearChanges() is listed once in
// changed(), and the ids of released users that existed at the last
// ClearChanges() are kept in released_ids() (a user created and released
// in between left nothing to forget). Two bits per handle.
//
// Thread-compatible.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "server/engine/codec.h"

namespace hark::engine::internal {

// A view of one user's block; invalidated by Splice() and Release().
class UserBlock {
 public:
  UserBlock() = default;
  explicit UserBlock(char* p) : p_(p) {}
  explicit operator bool() const { return p_ != nullptr; }

  int64_t wake() const { return Load64(p_); }
  void set_wake(int64_t time) { Store64(p_, time); }
  absl::string_view id() const {
    uint32_t len;
    const char* at = IdStart(&len);
    return absl::string_view(at, len);
  }
  char* records() const {
    uint32_t len;
    return const_cast<char*>(IdStart(&len)) + len;
  }
  uint32_t records_size() const {
    return static_cast<uint32_t>(p_ + kHeader + used() - records());
  }
  bool empty() const { return records_size() == 0; }

  static constexpr uint32_t kHeader = 16;
  uint32_t handle() const { return Load32(p_ + 12); }
  uint32_t used() const { return Load32(p_ + 8); }

 private:
  const char* IdStart(uint32_t* len) const {
    const char* at = p_ + kHeader;
    uint32_t v = 0;
    for (int shift = 0;; shift += 7) {
      const auto byte = static_cast<unsigned char>(*at++);
      v |= static_cast<uint32_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) break;
    }
    *len = v;
    return at;
  }

  char* p_ = nullptr;
};

class UserStore {
 public:
  using Handle = uint32_t;
  static constexpr Handle kNoUser = ~Handle{0};
  static constexpr int64_t kNever = INT64_MAX;

  UserStore();
  ~UserStore();
  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  Handle Find(absl::string_view user) const;
  // Creates an empty block (no records, wake = kNever) if needed.
  Handle FindOrCreate(absl::string_view user);
  // Null for a released handle.
  UserBlock block(Handle h) const { return UserBlock(Slot(h)); }
  // Starts loading h's block into the cache (a scan over all users, which
  // would otherwise wait for memory at every block, asks a few ahead).
  void Prefetch(Handle h) const {
    if (const char* p = Slot(h)) {
      __builtin_prefetch(p);
      __builtin_prefetch(p + 64);
    }
  }
  // Replaces `old_size` bytes of the record area at `offset` with `size`
  // bytes copied from `data` (which must not point into this block), moving
  // the rest of the records. May move the block.
  void Splice(Handle h, uint32_t offset, uint32_t old_size, const char* data,
              uint32_t size);
  // Frees the user's block and forgets the user.
  void Release(Handle h);
  // Forgets every user, and the changes.
  void Clear();

  // Handles changed since ClearChanges(), each once, in the order of their
  // first change; block() is null for those released since.
  const std::vector<Handle>& changed() const { return changed_; }
  // The ids of users released since ClearChanges() that were there at
  // that call, each as a varint length and the bytes; `released()` of them.
  absl::string_view released_ids() const { return released_ids_; }
  uint64_t released() const { return released_; }
  // Starts tracking afresh: nothing has changed.
  void ClearChanges();

  // Users with a block.
  size_t size() const { return index_.size(); }
  // Every handle, released ones included (block() is null for those).
  Handle handle_limit() const { return num_handles_; }
  // Estimated bytes allocated: pool slabs (in use or free), blocks too big
  // for the pool with malloc's overhead, the hash set and handle tables.
  uint64_t bytes() const;

 private:
  static constexpr uint32_t kPageBits = 12;  // handles per table page: 4096

  char*& Slot(Handle h) const {
    return pages_[h >> kPageBits][h & ((1u << kPageBits) - 1)];
  }

  void MarkChanged(Handle h) {
    uint64_t& word = changed_bits_[h >> 6];
    const uint64_t bit = uint64_t{1} << (h & 63);
    if ((word & bit) == 0) {
      word |= bit;
      changed_.push_back(h);
    }
  }

  // Size-class allocation; `size` is the block's full size.
  char* Allocate(uint32_t size);
  void Free(char* p, uint32_t size);

  // Block pointers by user id: linear probing over slots of
  // (16 bits of hash << 48 | pointer); 0 is empty, 1 a deleted slot.
  class Index {
   public:
    static uint64_t HashOf(absl::string_view id) {
      return absl::Hash<absl::string_view>()(id);
    }
    char* Find(absl::string_view id, uint64_t hash) const;
    // `block` holds an id not in the index.
    void Insert(char* block, uint64_t hash);
    void Replace(const char* old_block, char* block, uint64_t hash);
    void Erase(const char* block, uint64_t hash);
    void Clear();
    size_t size() const { return size_; }
    size_t capacity() const { return slots_.size(); }

   private:
    size_t SlotOf(const char* block, uint64_t hash) const;
    void Rehash(size_t capacity);

    std::vector<uint64_t> slots_;
    size_t size_ = 0;
    size_t deleted_ = 0;
  };

  std::vector<std::unique_ptr<char*[]>> pages_;
  Handle num_handles_ = 0;
  std::vector<Handle> free_handles_;
  Index index_;

  // Change tracking, by handle: changed since ClearChanges(), and created
  // since (a handle in both sets is in changed_).
  std::vector<uint64_t> changed_bits_;
  std::vector<uint64_t> created_bits_;
  std::vector<Handle> changed_;
  std::string released_ids_;
  uint64_t released_ = 0;

  // The pool.
  std::vector<std::unique_ptr<char[]>> slabs_;
  char* slab_next_ = nullptr;
  size_t slab_left_ = 0;
  std::vector<char*> free_lists_;  // per class: intrusive singly linked
  uint64_t large_bytes_ = 0;       // malloc chunk bytes of large blocks
};

}  // namespace hark::engine::internal

#endif  // HARK_SERVER_ENGINE_USER_STORE_H_
