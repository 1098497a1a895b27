#ifndef HARK_BENCH_LATENCY_H_
#define HARK_BENCH_LATENCY_H_

// `hark-bench latency`: trigger latency (issue 4). How long after the event
// that completes a match (or after an absence deadline) the prompt is
// visible through Prompts.GetPrompts and Prompts.WatchPrompts, while the
// ingest load runs at a fraction of its maximum rate. See LatencyUsage().

#include <sys/types.h>

#include <functional>
#include <string>

namespace hark::bench {

// What main() lends the latency mode: the default harkd and the cleanup a
// SIGINT/SIGTERM of the benchmark must do.
struct LatencyHooks {
  std::string default_harkd;
  // Called when a harkd was started in `dir` (or only `dir` exists:
  // pid -1), so that a signal stops harkd and removes the folder.
  std::function<void(pid_t pid, const std::string& dir)> on_resources;
  // Runs `fn` (which stops harkd and removes the folder) under the lock the
  // signal handler takes, then forgets the resources.
  std::function<void(const std::function<void()>& fn)> release;
};

// The help text of the latency mode.
std::string LatencyUsage(const std::string& default_harkd);

// Parses argv[2...] (argv[1] is "latency") and runs the benchmark. Exit
// status: 0 if every probe was accepted and its prompt seen on both
// channels, 1 on any error, 2 on bad usage (after printing it).
int LatencyMain(int argc, char** argv, const LatencyHooks& hooks);

}  // namespace hark::bench

#endif  // HARK_BENCH_LATENCY_H_
