#ifndef HARK_SERVER_INGEST_DEDUP_WINDOW_H_
#define HARK_SERVER_INGEST_DEDUP_WINDOW_H_

// In-memory duplicate detection over the most recent event ids.
//
// Bound: the window remembers the last `capacity` distinct ids inserted, in
// FIFO order (an id's position is set by its first insertion; seeing it
// again does not refresh it). An event whose id was inserted more than
// `capacity` distinct ids ago is no longer recognised and is stored again.
// The ingestor rebuilds the window at start from the newest `capacity` ids of
// the event log, so the bound holds across restarts. The event log itself has
// no index on event ids because a random-key index costs 10x in write
// throughput (see DESIGN.md, "Storage").
//
// Ids are kept as 128-bit fingerprints made of two independent 64-bit hashes:
// absl::Hash (seeded per process) and std::hash (libstdc++: MurmurHash2-64A,
// a different algorithm). Salting absl::HashOf would not do: for strings
// over 16 bytes abseil hashes the bytes once with its per-process seed and
// only mixes the salt in afterwards, so a collision of that inner hash would
// collide under every salt. With independent halves, the probability that a
// new id falsely matches one of n remembered ids is about n / 2^128; for the
// default n = 4M (2^22) and 10^12 (2^40) ids ingested over a lifetime the
// chance of even one false DUPLICATE is about 2^-66. (Even if the halves were
// fully correlated it would be n / 2^64, about 2^-42 per id.)
//
// Memory: 16 bytes per id in the ring plus 19-39 bytes per id in the hash
// set (17-byte slots at a load factor of 7/16..7/8), roughly 50 bytes per id:
// about 210 MB for the default 4M window. The ring grows with use up to
// `capacity`; nothing is reserved up front.
//
// Thread-compatible: the ingestor touches it only from its writer thread
// (and from Start(), before that thread exists).

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace hark::ingest {

class DedupWindow {
 public:
  // A 128-bit fingerprint of an event id.
  struct Key {
    uint64_t hi = 0;
    uint64_t lo = 0;

    friend bool operator==(const Key& a, const Key& b) {
      return a.hi == b.hi && a.lo == b.lo;
    }
    friend bool operator!=(const Key& a, const Key& b) { return !(a == b); }
    // `lo` is already a well-mixed hash of the id; the set mixes it again.
    template <typename H>
    friend H AbslHashValue(H h, const Key& key) {
      return H::combine(std::move(h), key.lo);
    }
  };

  // The fingerprint of `id`. Deterministic within a process only (absl::Hash
  // is seeded per process), which suffices: the window is never persisted.
  static Key KeyOf(absl::string_view id);

  // `capacity` 0 is allowed and remembers nothing.
  explicit DedupWindow(size_t capacity);

  DedupWindow(const DedupWindow&) = delete;
  DedupWindow& operator=(const DedupWindow&) = delete;

  // Remembers `key`, evicting the oldest remembered key if the window is
  // full. Returns false (and changes nothing) if `key` is already present.
  bool Insert(const Key& key);
  bool Insert(absl::string_view id) { return Insert(KeyOf(id)); }

  bool Contains(const Key& key) const { return set_.contains(key); }
  bool Contains(absl::string_view id) const { return Contains(KeyOf(id)); }

  // How many keys are remembered (at most capacity()).
  size_t size() const { return set_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  absl::flat_hash_set<Key> set_;
  // The remembered keys in insertion order, as a ring once it is full:
  // ring_[next_] is then the oldest key, overwritten by the next insertion.
  std::vector<Key> ring_;
  size_t next_ = 0;
};

}  // namespace hark::ingest

#endif  // HARK_SERVER_INGEST_DEDUP_WINDOW_H_
