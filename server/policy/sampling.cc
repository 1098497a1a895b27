// SampleDraw: the deterministic per-(user, rule, version) sampling draw.
//
// The hash is fixed by this file and must never change (a change re-draws
// every user of every sampled rule):
//   1. FNV-1a 64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3)
//      over the bytes of user_id, a 0 byte, rule_id, a 0 byte,
//      rule_version;
//   2. the splitmix64 finalizer (shifts 30, 27, 31; multipliers
//      0xbf58476d1ce4e5b9, 0x94d049bb133111eb) to spread FNV's weak low
//      bits;
//   3. the top 53 bits divided by 2^53, which is exact in a double and in
//      [0, 1).
// Only unsigned 64-bit arithmetic and bytes as unsigned char: the result is
// the same on every platform, build and process.

#include <cstdint>

#include "absl/strings/string_view.h"
#include "server/policy/policy.h"

namespace hark::policy {
namespace {

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

uint64_t FnvMix(uint64_t hash, absl::string_view bytes) {
  for (const char c : bytes) {
    hash ^= static_cast<uint64_t>(static_cast<unsigned char>(c));
    hash *= kFnvPrime;
  }
  return hash;
}

uint64_t FnvZero(uint64_t hash) { return hash * kFnvPrime; }  // ^= 0 is a no-op

uint64_t SplitMix64Finalize(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

double SampleDraw(absl::string_view user_id, absl::string_view rule_id,
                  absl::string_view rule_version) {
  uint64_t hash = kFnvOffsetBasis;
  hash = FnvMix(hash, user_id);
  hash = FnvZero(hash);
  hash = FnvMix(hash, rule_id);
  hash = FnvZero(hash);
  hash = FnvMix(hash, rule_version);
  const uint64_t mixed = SplitMix64Finalize(hash);
  constexpr double kTwoToMinus53 = 1.0 / 9007199254740992.0;  // 2^-53
  return static_cast<double>(mixed >> 11) * kTwoToMinus53;
}

}  // namespace hark::policy
