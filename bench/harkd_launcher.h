#ifndef HARK_BENCH_HARKD_LAUNCHER_H_
#define HARK_BENCH_HARKD_LAUNCHER_H_

// Runs a private harkd for a benchmark: a fresh temporary folder for its
// database and keys, 127.0.0.1 and a port the kernel picks, readiness
// reported through a pipe (--ready-fd), SIGTERM at the end.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hark::bench {

// A fresh folder under the system's temporary directory; removed (with
// everything in it) by the destructor. Owns nothing else.
class TempDir {
 public:
  static absl::StatusOr<std::unique_ptr<TempDir>> Create();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// CPU time used so far by one thread of a process.
struct ThreadCpu {
  pid_t tid = 0;
  std::string name;
  double seconds = 0;
};

class HarkdLauncher {
 public:
  // Starts `harkd_path` on a database in `dir` with --log-level=warn (its
  // warnings and errors go to this process's stderr) plus `extra_flags`, and
  // waits (at most 60 s) until it reports its port. `dir` must outlive the
  // launcher.
  static absl::StatusOr<std::unique_ptr<HarkdLauncher>> Start(
      const std::string& harkd_path, const std::string& dir,
      const std::vector<std::string>& extra_flags);

  // Stop() if still running.
  ~HarkdLauncher();

  // SIGTERM (harkd commits what is queued and exits 0), waits up to 30 s,
  // then SIGKILL. Returns an error if harkd did not exit 0 by itself.
  // Idempotent.
  absl::Status Stop();

  pid_t pid() const { return pid_; }
  // "127.0.0.1:<port>".
  const std::string& address() const { return address_; }
  // The key of `role` ("ingest", "admin", ...) from the hark-cli.keys file
  // harkd writes on its first start.
  absl::StatusOr<std::string> Key(const std::string& role) const;

  // Per-thread CPU time of harkd so far, from /proc/<pid>/task. Empty if
  // harkd is not running or /proc is not readable.
  std::vector<ThreadCpu> ThreadCpuTimes() const;

 private:
  HarkdLauncher(pid_t pid, std::string dir, std::string address)
      : pid_(pid), dir_(std::move(dir)), address_(std::move(address)) {}
  pid_t pid_;
  std::string dir_;
  std::string address_;
};

// CPU time (user + system) this process has used so far, all threads.
double SelfCpuSeconds();

}  // namespace hark::bench

#endif  // HARK_BENCH_HARKD_LAUNCHER_H_
