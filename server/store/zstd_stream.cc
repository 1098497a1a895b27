#include "server/store/zstd_stream.h"

#include <zstd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "hark/status_macros.h"

namespace hark::store::internal {
namespace {

// Output is produced into `out` in steps of this many bytes.
constexpr size_t kOutStep = 256 << 10;

}  // namespace

PartCompressor::PartCompressor(size_t part_bytes, int level)
    : cctx_(ZSTD_createCCtx()), part_(std::max<size_t>(part_bytes, 1), '\0') {
  if (cctx_ != nullptr) {
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
  }
}

PartCompressor::~PartCompressor() { ZSTD_freeCCtx(cctx_); }

absl::Status PartCompressor::Add(absl::string_view data, Emit emit) {
  return Run(data, /*end=*/false, emit);
}

absl::Status PartCompressor::Finish(Emit emit) {
  RETURN_IF_ERROR(Run("", /*end=*/true, emit));
  if (filled_ == 0) return absl::OkStatus();
  const absl::string_view last(part_.data(), filled_);
  filled_ = 0;
  return emit(last);
}

absl::Status PartCompressor::Run(absl::string_view in, bool end, Emit emit) {
  if (cctx_ == nullptr) {
    return absl::ResourceExhaustedError("zstd: no memory for a compressor");
  }
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  for (;;) {
    ZSTD_outBuffer output{part_.data(), part_.size(), filled_};
    const size_t left = ZSTD_compressStream2(
        cctx_, &output, &input, end ? ZSTD_e_end : ZSTD_e_continue);
    filled_ = output.pos;
    if (ZSTD_isError(left)) {
      return absl::InternalError(
          absl::StrCat("zstd compression failed: ", ZSTD_getErrorName(left)));
    }
    if (filled_ == part_.size()) {
      filled_ = 0;
      RETURN_IF_ERROR(emit(part_));
    }
    if (end ? left == 0 : input.pos == input.size) return absl::OkStatus();
  }
}

PartDecompressor::PartDecompressor() : dctx_(ZSTD_createDCtx()) {}

PartDecompressor::~PartDecompressor() { ZSTD_freeDCtx(dctx_); }

absl::Status PartDecompressor::Add(absl::string_view part, std::string* out) {
  if (dctx_ == nullptr) {
    return absl::ResourceExhaustedError("zstd: no memory for a decompressor");
  }
  ZSTD_inBuffer input{part.data(), part.size(), 0};
  // Also go on while the last step filled its output: zstd may hold more.
  bool full = false;
  while (input.pos < input.size || full) {
    if (ended_) {
      return absl::DataLossError(
          "compressed bytes go on past the end of the compressed data");
    }
    const size_t at = out->size();
    out->resize(at + kOutStep);
    ZSTD_outBuffer output{out->data() + at, kOutStep, 0};
    const size_t next = ZSTD_decompressStream(dctx_, &output, &input);
    out->resize(at + output.pos);
    if (ZSTD_isError(next)) {
      return absl::DataLossError(absl::StrCat(
          "the compressed bytes are damaged (", ZSTD_getErrorName(next), ")"));
    }
    // 0: the frame is complete, checksum checked, everything flushed.
    ended_ = next == 0;
    full = !ended_ && output.pos == kOutStep;
  }
  return absl::OkStatus();
}

absl::Status PartDecompressor::Finish() const {
  if (ended_) return absl::OkStatus();
  return absl::DataLossError("the compressed data ends before its end mark");
}

}  // namespace hark::store::internal
