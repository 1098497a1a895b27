#ifndef HARK_BENCH_BENCH_UTIL_H_
#define HARK_BENCH_BENCH_UTIL_H_

// Small helpers shared by the hark-bench modes.

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/channel.h"

namespace hark::bench {

// A channel with a TCP connection of its own: without a private subchannel
// pool all channels to one address share one connection, and each caller of
// the benchmark stands for a separate backend.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address);

// Milliseconds as a fraction.
double Millis(std::chrono::steady_clock::duration d);

// 1234567 -> "1,234,567" (rounded to a whole number).
std::string Thousands(double value);

// `s` as a quoted JSON string.
std::string JsonString(absl::string_view s);

// "<prefix>-" and random hex: ids unique per run, so repeated runs against
// one --server never collide.
std::string RunId(absl::string_view prefix);

}  // namespace hark::bench

#endif  // HARK_BENCH_BENCH_UTIL_H_
