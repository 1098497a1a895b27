#ifndef HARK_BENCH_BENCH_UTIL_H_
#define HARK_BENCH_BENCH_UTIL_H_

// Small helpers shared by the hark-bench modes.

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// Nearest-rank percentile `p` (0..100) of `sorted` (ascending); 0 if empty.
double Percentile(const std::vector<double>& sorted, double p);

// The flag at argv[*i] of a command's flags: "--name=value", "--name value"
// (then *i moves past the value) or a bare "--json" (value "true"). Returns
// name and value; INVALID_ARGUMENT for an argument that is not a flag or a
// flag missing its value.
absl::StatusOr<std::pair<std::string, std::string>> NextFlag(int argc,
                                                             char** argv,
                                                             int* i);

// `value` of flag --`name` as a whole number in [min, max], into `*out`;
// INVALID_ARGUMENT naming the flag and the range otherwise.
absl::Status CountFlag(absl::string_view name, absl::string_view value,
                       size_t min, size_t max, size_t* out);

}  // namespace hark::bench

#endif  // HARK_BENCH_BENCH_UTIL_H_
