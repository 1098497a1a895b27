// Tests of the streaming zstd parts (server/store/zstd_stream.h).

#include "server/store/zstd_stream.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hark::store::internal {
namespace {

using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Compresses `pieces` in parts of `part_bytes`.
std::vector<std::string> Compress(const std::vector<std::string>& pieces,
                                  size_t part_bytes) {
  std::vector<std::string> parts;
  auto emit = [&](absl::string_view part) {
    parts.emplace_back(part);
    return absl::OkStatus();
  };
  PartCompressor compressor(part_bytes);
  for (const std::string& piece : pieces) {
    EXPECT_TRUE(compressor.Add(piece, emit).ok());
  }
  EXPECT_TRUE(compressor.Finish(emit).ok());
  return parts;
}

// What `parts` decompress to, or the first error.
absl::StatusOr<std::string> Decompress(const std::vector<std::string>& parts) {
  PartDecompressor decompressor;
  std::string out;
  for (const std::string& part : parts) {
    if (absl::Status s = decompressor.Add(part, &out); !s.ok()) return s;
  }
  if (absl::Status s = decompressor.Finish(); !s.ok()) return s;
  return out;
}

// Text with some repetition, as the engine's state has.
std::string Sample(size_t bytes) {
  std::string s;
  for (uint64_t i = 0; s.size() < bytes; ++i) {
    s += "user-" + std::to_string(i * 7919 % 1000) + ":" +
         std::to_string(i * i % 97) + ";";
  }
  s.resize(bytes);
  return s;
}

TEST(ZstdStreamTest, RoundTripsAcrossManySmallParts) {
  const std::vector<std::string> pieces = {Sample(300000), "", "x",
                                           Sample(70000)};
  const std::vector<std::string> parts = Compress(pieces, 64);
  ASSERT_GT(parts.size(), 10u);
  // Every part but the last is exactly full.
  EXPECT_THAT(std::vector<std::string>(parts.begin(), parts.end() - 1),
              Each(SizeIs(64)));
  EXPECT_LE(parts.back().size(), 64u);
  absl::StatusOr<std::string> out = Decompress(parts);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(*out == absl::StrJoin(pieces, "")) << "the bytes differ";
}

TEST(ZstdStreamTest, EmptyInputIsOneShortPart) {
  const std::vector<std::string> parts = Compress({}, 1 << 20);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_LT(parts[0].size(), 32u);
  absl::StatusOr<std::string> out = Decompress(parts);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "");
}

TEST(ZstdStreamTest, RepetitiveBytesShrink) {
  // 1 MiB: the frame ends as the decompressor's last output step fills.
  const std::string sample = Sample(1 << 20);
  const std::vector<std::string> parts = Compress({sample}, 1 << 20);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_LT(parts[0].size(), (1u << 20) / 4);
  absl::StatusOr<std::string> out = Decompress(parts);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(*out == sample) << "the bytes differ";
}

TEST(ZstdStreamTest, DamageIsDataLoss) {
  std::vector<std::string> parts = Compress({Sample(200000)}, 4096);
  ASSERT_GT(parts.size(), 2u);

  // A flipped bit: the block no longer decodes, or the checksum fails.
  std::vector<std::string> flipped = parts;
  flipped[1][100] ^= 0x10;
  absl::StatusOr<std::string> out = Decompress(flipped);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(out.status().message(), HasSubstr("damaged"));

  // The last part missing: the frame never ends.
  std::vector<std::string> cut = parts;
  cut.pop_back();
  out = Decompress(cut);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(out.status().message(), HasSubstr("ends before its end mark"));

  // Bytes after the frame.
  std::vector<std::string> longer = parts;
  longer.push_back("more");
  out = Decompress(longer);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(out.status().message(), HasSubstr("past the end"));

  // Not zstd at all.
  out = Decompress({std::string(100, '\0')});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kDataLoss);
}

TEST(ZstdStreamTest, AnEmitErrorStopsTheStream) {
  PartCompressor compressor(16);
  int emitted = 0;
  auto failing = [&](absl::string_view) {
    ++emitted;
    return absl::UnavailableError("disk busy");
  };
  absl::Status s = compressor.Add(Sample(1 << 20), failing);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(emitted, 1);
}

}  // namespace
}  // namespace hark::store::internal
