#ifndef HARK_BENCH_REVIEW_H_
#define HARK_BENCH_REVIEW_H_

// `hark-bench review`: the review API (issue 5) over a large database.
// Review.ListResponses pages under ten filters, first pages and deep pages,
// and Review.GetReport, against a harkd serving a database seeded with
// responses to the shipped rules (bench/review_seed.h). See ReviewUsage().

#include <string>

#include "bench/latency.h"

namespace hark::bench {

// What main() lends the command: the default harkd and the cleanup a
// SIGINT/SIGTERM must do (the same hooks as the latency command's).
using ReviewHooks = LatencyHooks;

// The help text of the review command.
std::string ReviewUsage(const std::string& default_harkd);

// Parses argv[2...] (argv[1] is "review") and runs the benchmark. Exit
// status: 0 if every call succeeded and returned only rows matching its
// filter (whether or not the targets were met), 1 otherwise, 2 on bad
// usage (after printing it).
int ReviewMain(int argc, char** argv, const ReviewHooks& hooks);

}  // namespace hark::bench

#endif  // HARK_BENCH_REVIEW_H_
