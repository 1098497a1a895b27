#ifndef HARK_SERVER_ENGINE_USER_STORE_H_
#define HARK_SERVER_ENGINE_USER_STORE_H_

// The engine's per-user memory: every user with at least one open slot owns
// exactly one heap block holding a small header, its user id and its slot
// records packed back to back. Users are reached through a 4-byte handle
// (an index into a vector of block pointers) interned in a hash set keyed by
// the user id stored inside the block, so the id is kept once and a user
// costs a 4-byte set entry, an 8-byte pointer and one allocation.
//
// The store knows nothing about what records mean: the engine decides their
// sizes and contents and edits them with Splice(). A user whose last record
// is removed should be released with Release() by the engine.
//
// Handles of released users are reused, so holders of a handle (the
// deadline wheel) must re-check it (see Block::next_due).
//
// Thread-compatible.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace hark::engine::internal {

class UserStore {
 public:
  using Handle = uint32_t;
  static constexpr Handle kNoUser = ~Handle{0};
  static constexpr int64_t kNever = INT64_MAX;

  // Followed in the same allocation by `id_len` bytes of user id and then
  // the records (`used - id_len` bytes).
  struct Block {
    uint32_t cap;      // bytes available after the header
    uint32_t used;     // bytes in use after the header
    int64_t next_due;  // earliest expiry of any record (engine-maintained)
    uint32_t id_len;
    uint32_t num_records;  // engine-maintained
    char* data() { return reinterpret_cast<char*>(this + 1); }
    const char* data() const { return reinterpret_cast<const char*>(this + 1); }
    absl::string_view id() const { return absl::string_view(data(), id_len); }
    char* records() { return data() + id_len; }
    const char* records() const { return data() + id_len; }
    uint32_t records_size() const { return used - id_len; }
  };

  UserStore();
  ~UserStore();
  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  Handle Find(absl::string_view user) const;
  // Creates an empty block (no records, next_due = kNever) if needed.
  Handle FindOrCreate(absl::string_view user);
  // Null for a released handle.
  Block* block(Handle h) const { return blocks_[h]; }
  // Replaces `old_size` bytes of the record area at `offset` with `size`
  // bytes copied from `data` (which must not point into this block), moving
  // the rest of the records. Grows or shrinks the allocation as needed, so
  // pointers into the block are invalid afterwards.
  void Splice(Handle h, uint32_t offset, uint32_t old_size, const char* data,
              uint32_t size);
  // Frees the user's block and forgets the user.
  void Release(Handle h);
  void Clear();

  // Users with a block.
  size_t size() const { return index_.size(); }
  // Every handle slot, released ones included (block() is null for those).
  Handle handle_limit() const { return static_cast<Handle>(blocks_.size()); }
  // Estimated bytes allocated: the blocks with malloc's per-chunk overhead,
  // the hash set's backing array and the handle vectors.
  uint64_t bytes() const;

 private:
  struct IdHash {
    using is_transparent = void;
    const std::vector<Block*>* blocks;
    size_t operator()(absl::string_view id) const {
      return absl::Hash<absl::string_view>()(id);
    }
    size_t operator()(Handle h) const { return (*this)((*blocks)[h]->id()); }
  };
  struct IdEq {
    using is_transparent = void;
    const std::vector<Block*>* blocks;
    absl::string_view Id(absl::string_view id) const { return id; }
    absl::string_view Id(Handle h) const { return (*blocks)[h]->id(); }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Id(a) == Id(b);
    }
  };

  // Bytes malloc hands out for a request of `n` (glibc: 8 bytes of chunk
  // header, 16-byte granularity, 32-byte minimum).
  static uint64_t ChunkBytes(uint64_t n);
  // A capacity >= `need` that fills its malloc chunk.
  static uint32_t CapacityFor(uint32_t need);

  std::vector<Block*> blocks_;
  std::vector<Handle> free_;
  absl::flat_hash_set<Handle, IdHash, IdEq> index_;
  uint64_t block_bytes_ = 0;  // sum of ChunkBytes of live blocks
};

}  // namespace hark::engine::internal

#endif  // HARK_SERVER_ENGINE_USER_STORE_H_
