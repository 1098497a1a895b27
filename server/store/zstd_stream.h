#ifndef HARK_SERVER_STORE_ZSTD_STREAM_H_
#define HARK_SERVER_STORE_ZSTD_STREAM_H_

// Streaming zstd compression for large blobs the store keeps in parts
// (engine checkpoints): one zstd frame, with a checksum, cut into parts of
// a fixed size as it is produced, and put back together part by part. The
// caller never holds the whole blob compressed, nor a second copy of it.

#include <cstddef>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace hark::store::internal {

// Compresses what Add() is given into one frame, handing it on in parts of
// exactly `part_bytes` (the last one of Finish() may be shorter).
class PartCompressor {
 public:
  using Emit = absl::FunctionRef<absl::Status(absl::string_view part)>;

  // zstd level 1: a checkpoint of the engine shrinks ~9 times at ~400 MB/s,
  // about what writing the bytes it saves would cost.
  explicit PartCompressor(size_t part_bytes, int level = 1);
  ~PartCompressor();
  PartCompressor(const PartCompressor&) = delete;
  PartCompressor& operator=(const PartCompressor&) = delete;

  // Compresses `data`, emitting each part that fills up. Stops at the first
  // error of `emit` and returns it; INTERNAL if zstd fails.
  absl::Status Add(absl::string_view data, Emit emit);
  // Ends the frame and emits what is left (at least one part in all, even
  // for empty input). The compressor is spent afterwards.
  absl::Status Finish(Emit emit);

 private:
  // Runs the stream until `in` is consumed (or, ending, the frame is done).
  absl::Status Run(absl::string_view in, bool end, Emit emit);

  ZSTD_CCtx_s* const cctx_;
  std::string part_;
  size_t filled_ = 0;
};

// Reads back what a PartCompressor wrote, part by part.
class PartDecompressor {
 public:
  PartDecompressor();
  ~PartDecompressor();
  PartDecompressor(const PartDecompressor&) = delete;
  PartDecompressor& operator=(const PartDecompressor&) = delete;

  // Appends what `part` decompresses to to `*out`. DATA_LOSS if the bytes
  // are not zstd, fail their checksum, or go on past the end of the frame.
  absl::Status Add(absl::string_view part, std::string* out);
  // DATA_LOSS unless the frame ended with the last part.
  absl::Status Finish() const;

 private:
  ZSTD_DCtx_s* const dctx_;
  bool ended_ = false;
};

}  // namespace hark::store::internal

#endif  // HARK_SERVER_STORE_ZSTD_STREAM_H_
