#ifndef HARK_SERVER_ENGINE_CODEC_H_
#define HARK_SERVER_ENGINE_CODEC_H_

// Byte-level helpers of the engine: unaligned little-endian loads and stores
// for the packed slot records, FNV-1a for ids that must be the same in every
// process (absl::Hash is seeded per process), and a varint writer/reader for
// checkpoints.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace hark::engine::internal {

// Records and checkpoints store integers little-endian by copying host
// integers; this keeps them portable across the machines we build for.
static_assert(std::endian::native == std::endian::little,
              "the engine's record layout assumes a little-endian host");

inline uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline int64_t Load64(const char* p) {
  int64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline uint64_t LoadU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store32(char* p, uint32_t v) { std::memcpy(p, &v, sizeof(v)); }
inline void Store64(char* p, int64_t v) { std::memcpy(p, &v, sizeof(v)); }
inline void StoreU64(char* p, uint64_t v) { std::memcpy(p, &v, sizeof(v)); }

// FNV-1a, 64 bit: stable across processes, builds and machines.
class Fnv64 {
 public:
  Fnv64& Add(absl::string_view bytes) {
    for (unsigned char c : bytes) {
      h_ ^= c;
      h_ *= 1099511628211ull;
    }
    return *this;
  }
  // Strings are added with a terminator so that ("ab","c") != ("a","bc").
  Fnv64& AddField(absl::string_view bytes) {
    Add(bytes);
    return AddByte(0);
  }
  Fnv64& AddByte(unsigned char c) {
    h_ ^= c;
    h_ *= 1099511628211ull;
    return *this;
  }
  Fnv64& AddInt(int64_t v) {
    char buf[8];
    Store64(buf, v);
    return Add(absl::string_view(buf, 8));
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 14695981039346656037ull;
};

inline uint64_t Fnv64Of(absl::string_view bytes) {
  return Fnv64().Add(bytes).value();
}

// Appends varints and length-prefixed strings to a string.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<char>(v));
  }
  // Zig-zag, so that small negative numbers stay short.
  void Signed(int64_t v) {
    Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void Bytes(absl::string_view s) {
    Varint(s.size());
    out_->append(s.data(), s.size());
  }
  void Raw(absl::string_view s) { out_->append(s.data(), s.size()); }

 private:
  std::string* out_;
};

// Reads what Writer wrote. Every method returns false on truncated or
// malformed input and leaves the reader failed.
class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}
  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) return false;
      const auto byte = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool Signed(int64_t* v) {
    uint64_t u;
    if (!Varint(&u)) return false;
    *v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  bool Bytes(absl::string_view* s) {
    uint64_t n;
    if (!Varint(&n) || n > in_.size()) return false;
    *s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool Raw(size_t n, absl::string_view* s) {
    if (n > in_.size()) return false;
    *s = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  absl::string_view in_;
};

}  // namespace hark::engine::internal

#endif  // HARK_SERVER_ENGINE_CODEC_H_
