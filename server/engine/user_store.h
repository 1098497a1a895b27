#ifndef HARK_SERVER_ENGINE_USER_STORE_H_
#define HARK_SERVER_ENGINE_USER_STORE_H_

// The engine's per-user memory. Every user with at least one open slot owns
// exactly one block holding, packed back to back:
//
//   i64  next_due    earliest expiry of the user's records (engine-kept)
//   u32  used        bytes after these 12: id length + id + records
//   varint id length, the user id
//   the slot records (their format is the engine's business)
//
// Users are reached through a 4-byte handle (an index into a paged table of
// block pointers) interned in a hash set keyed by the id stored inside the
// block: the id is kept once, and a user costs a 4-byte set entry, an 8-byte
// table entry, 13 bytes of header and its id.
//
// Blocks come from a size-class pool (8-byte classes up to 512 bytes, carved
// from 64 KiB slabs) rather than straight from malloc, which would add an
// 8-byte chunk header and round to 16 bytes per user. A block always sits in
// the class of its current size, so it moves when it grows or shrinks past
// a class boundary. Freed blocks are reused by later users of the same class;
// slab memory is not handed back to the system until Clear() (bytes()
// counts it all, free or not).
//
// Handles of released users are reused, so holders of a handle (the
// deadline wheel) must re-check it (see next_due).
//
// Thread-compatible.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
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

  int64_t next_due() const { return Load64(p_); }
  void set_next_due(int64_t due) { Store64(p_, due); }
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

  static constexpr uint32_t kHeader = 12;
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
  // Creates an empty block (no records, next_due = kNever) if needed.
  Handle FindOrCreate(absl::string_view user);
  // Null for a released handle.
  UserBlock block(Handle h) const { return UserBlock(Slot(h)); }
  // Replaces `old_size` bytes of the record area at `offset` with `size`
  // bytes copied from `data` (which must not point into this block), moving
  // the rest of the records. May move the block.
  void Splice(Handle h, uint32_t offset, uint32_t old_size, const char* data,
              uint32_t size);
  // Frees the user's block and forgets the user.
  void Release(Handle h);
  void Clear();

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

  // Size-class allocation; `size` is the block's full size.
  char* Allocate(uint32_t size);
  void Free(char* p, uint32_t size);

  struct IdHash {
    using is_transparent = void;
    const UserStore* store;
    size_t operator()(absl::string_view id) const {
      return absl::Hash<absl::string_view>()(id);
    }
    size_t operator()(Handle h) const { return (*this)(store->block(h).id()); }
  };
  struct IdEq {
    using is_transparent = void;
    const UserStore* store;
    absl::string_view Id(absl::string_view id) const { return id; }
    absl::string_view Id(Handle h) const { return store->block(h).id(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Id(a) == Id(b);
    }
  };

  std::vector<std::unique_ptr<char*[]>> pages_;
  Handle num_handles_ = 0;
  std::vector<Handle> free_handles_;
  absl::flat_hash_set<Handle, IdHash, IdEq> index_;

  // The pool.
  std::vector<std::unique_ptr<char[]>> slabs_;
  char* slab_next_ = nullptr;
  size_t slab_left_ = 0;
  std::vector<char*> free_lists_;  // per class: intrusive singly linked
  uint64_t large_bytes_ = 0;       // malloc chunk bytes of large blocks
};

}  // namespace hark::engine::internal

#endif  // HARK_SERVER_ENGINE_USER_STORE_H_
