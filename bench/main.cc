// hark-bench: load generator and baselines for Hark. See `hark-bench --help`.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/harkd_launcher.h"
#include "bench/latency.h"
#include "bench/load.h"
#include "bench/review.h"
#include "bench/workload.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "hark/v1/admin.grpc.pb.h"
#include "hark/v1/rules.grpc.pb.h"
#include "server/store/baseline.h"
#include "server/store/store.h"

namespace {

using hark::bench::JsonString;
using hark::bench::RunId;
using hark::bench::Thousands;

constexpr char kUsage[] = R"(hark-bench - load generator and baselines for Hark

Usage: hark-bench ingest [flags]
       hark-bench latency [flags]   (trigger latency; see 'hark-bench latency --help')
       hark-bench review [flags]    (review API; see 'hark-bench review --help')

Measures how many events per second harkd acknowledges (ACCEPTED, i.e.
committed to its SQLite event log), with N concurrent callers sending
pre-generated batches, first as TrackEvents calls (unary), then over one
StreamEvents stream per caller (stream). In the same run it measures the
SQLite ceiling: the same events appended straight into a fresh SQLite file
(same table, WAL, same durability, one transaction per batch) with no
server in between, and reports harkd's rate as a fraction of it.

By default it starts its own harkd on 127.0.0.1 (a port the kernel picks)
with a fresh temporary folder, reads the ingest key harkd writes there,
stops harkd with SIGTERM at the end and removes the folder. A mode's timed
section then ends only when that harkd's engine has also matched every
acknowledged event and stored the matches (one Rules.ListMatches call,
which answers once it has caught up), so rules loaded with
--harkd-flag=--rules=DIR are timed in full and none of their work spills
into the next mode.

Target:
  --harkd=PATH          harkd binary to start. Default: the harkd built
                        beside hark-bench (%s)
  --harkd-flag=FLAG     Extra flag for the started harkd, e.g.
                        --harkd-flag=--queue-events=200000. Repeatable.
  --server=HOST:PORT    Load a running server instead of starting one.
                        Its events stay there (ids are unique per run).
  --key=KEY             API key (role ingest or admin) for --server.
  --durability=normal|full
                        Durability of the started harkd and of the SQLite
                        ceiling: normal = synchronous=NORMAL (survives a
                        process crash), full = fsync per commit.
                        Default: normal. With --server only the ceiling
                        uses it; make it match the server's.

Load:
  --mode=unary|stream|both
                        Which API to load. Default: both (unary first).
  --events=N            Events per mode. Default: 1000000
  --users=N             Distinct user ids the events of one mode are
                        spread over; each mode has its own users
                        (user-N, stream-user-N), as both cover the same
                        hour. Default: 100000
  --batch=N             Events per TrackEvents call or stream batch,
                        1 to 1000 (the server's limit). Default: 500
  --callers=N           Concurrent callers, each a thread with its own
                        connection (unary: callers take the next unsent
                        batch; stream: one stream each). Default: 4
  --window=N            Stream mode: batches a stream may have sent but not
                        seen acknowledged. Default: 8
  --seed=N              Seeds users, event names and property values.
                        Default: 1

Events: %s; each with 2-3 typed properties (error: code, severity, path),
a context (session, platform, app version), a unique id and a timestamp in
the last hour. All requests are built before the clock starts.

Figures per mode: acknowledged (ACCEPTED) events per second of wall time;
latency p50/p99/p99.9 per TrackEvents call (send to answer, including any
RESOURCE_EXHAUSTED retries) or, for streams, per batch from Write() to its
ack; total time; CPU used by hark-bench and by harkd (and harkd's busiest
threads) during the timed section. Every event not answered ACCEPTED, an
ack out of order or with the wrong sequence number, and a failed call are
counted as errors, and the first few are printed.

What rules cost:
  --compare-rules=DIR   Instead of one harkd, rounds of two, each started
                        fresh and loaded the same way: one without rules,
                        then one with --rules=DIR. Reports both rates per
                        mode and round, the ratio (with rules / without)
                        and its median over the rounds, harkd's CPU per
                        million events, and whether the median meets
                        Hark's target of 0.70. Not with --server.
  --rounds=N            Rounds of --compare-rules, 1 to 100. A single pair
                        moves by several per cent on a small shared
                        machine; quote the median. Default: 3

Baseline:
  --ceiling=on|off      Measure the SQLite ceiling (once, before any
                        harkd). Default: on

Output:
  --json                Print the results as one JSON object on stdout.
  --progress=auto|on|off
                        A progress line on stderr. Default: auto (on when
                        stderr is a terminal).
  --help                Show this help.

Exit status: 0 if every event was ACCEPTED, 1 on any error, 2 on bad usage.
)";

enum class Mode { kUnary, kStream, kBoth };

struct Flags {
  std::string harkd;
  std::vector<std::string> harkd_flags;
  std::string server;
  std::string key;
  hark::store::Durability durability = hark::store::Durability::kNormal;
  Mode mode = Mode::kBoth;
  size_t events = 1000000;
  size_t users = 100000;
  size_t batch = 500;
  size_t callers = 4;
  size_t window = 8;
  uint64_t seed = 1;
  bool ceiling = true;
  bool json = false;
  bool progress = false;
  std::string compare_rules;
  size_t rounds = 3;
};

// The harkd built by the same build tree, found through the path CMake
// compiled in, else beside this binary (build/bench/../server/harkd).
std::string DefaultHarkd() {
#ifdef HARK_BENCH_HARKD_PATH
  if (access(HARK_BENCH_HARKD_PATH, X_OK) == 0) return HARK_BENCH_HARKD_PATH;
#endif
  std::error_code ec;
  const std::filesystem::path self =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const char* rel : {"harkd", "../server/harkd"}) {
      const std::filesystem::path p = self.parent_path() / rel;
      if (access(p.c_str(), X_OK) == 0) return p.lexically_normal().string();
    }
  }
#ifdef HARK_BENCH_HARKD_PATH
  return HARK_BENCH_HARKD_PATH;
#else
  return "harkd";
#endif
}

std::string EventMixText() {
  std::vector<std::string> parts;
  for (const hark::bench::EventKind& kind : hark::bench::EventMix()) {
    parts.push_back(absl::StrCat(kind.name, " ", kind.percent, "%"));
  }
  return absl::StrJoin(parts, ", ");
}

void PrintUsage() {
  std::string text = absl::StrFormat(kUsage, DefaultHarkd(), EventMixText());
  std::cout << text;
}

[[noreturn]] void UsageError(const std::string& message) {
  std::cerr << "hark-bench: " << message
            << "\nRun 'hark-bench --help' for usage.\n";
  std::exit(2);
}

size_t ParseCount(const std::string& name, const std::string& value, size_t min,
                  size_t max) {
  uint64_t v;
  if (!absl::SimpleAtoi(value, &v) || v < min || v > max) {
    UsageError(absl::StrCat("--", name, " must be a number from ", min, " to ",
                            max, ", not '", value, "'"));
  }
  return static_cast<size_t>(v);
}

Flags ParseFlags(int argc, char** argv) {
  if (argc < 2)
    UsageError("no command; the commands are 'ingest', 'latency' and 'review'");
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    PrintUsage();
    std::exit(0);
  }
  if (command != "ingest") {
    UsageError("unknown command '" + command +
               "'; the commands are 'ingest', 'latency' and 'review'");
  }
  Flags flags;
  bool rounds_given = false;
  flags.progress = isatty(STDERR_FILENO) == 1;
  flags.harkd = DefaultHarkd();
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintUsage();
      std::exit(0);
    }
    if (!absl::StartsWith(arg, "--")) UsageError("unexpected argument " + arg);
    std::string name = arg.substr(2), value;
    const bool boolean = name == "json";
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (boolean) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      UsageError("flag --" + name + " needs a value");
    }
    if (name == "harkd") {
      flags.harkd = value;
    } else if (name == "harkd-flag") {
      flags.harkd_flags.push_back(value);
    } else if (name == "server") {
      flags.server = value;
    } else if (name == "key") {
      flags.key = value;
    } else if (name == "durability") {
      if (value == "normal") {
        flags.durability = hark::store::Durability::kNormal;
      } else if (value == "full") {
        flags.durability = hark::store::Durability::kFull;
      } else {
        UsageError("--durability must be 'normal' or 'full'");
      }
    } else if (name == "mode") {
      if (value == "unary") {
        flags.mode = Mode::kUnary;
      } else if (value == "stream") {
        flags.mode = Mode::kStream;
      } else if (value == "both") {
        flags.mode = Mode::kBoth;
      } else {
        UsageError("--mode must be unary, stream or both");
      }
    } else if (name == "events") {
      flags.events = ParseCount(name, value, 1, 1000000000);
    } else if (name == "users") {
      flags.users = ParseCount(name, value, 1, 1000000000);
    } else if (name == "batch") {
      flags.batch = ParseCount(name, value, 1, 1000);
    } else if (name == "callers") {
      flags.callers = ParseCount(name, value, 1, 1024);
    } else if (name == "window") {
      flags.window = ParseCount(name, value, 1, 1024);
    } else if (name == "seed") {
      if (!absl::SimpleAtoi(value, &flags.seed)) {
        UsageError("--seed must be a number");
      }
    } else if (name == "compare-rules") {
      if (value.empty()) UsageError("--compare-rules needs a rules folder");
      flags.compare_rules = value;
    } else if (name == "rounds") {
      flags.rounds = ParseCount(name, value, 1, 100);
      rounds_given = true;
    } else if (name == "ceiling") {
      if (value != "on" && value != "off") {
        UsageError("--ceiling must be on or off");
      }
      flags.ceiling = value == "on";
    } else if (name == "json") {
      if (value != "true" && value != "false") {
        UsageError("--json takes no value");
      }
      flags.json = value == "true";
    } else if (name == "progress") {
      if (value == "on") {
        flags.progress = true;
      } else if (value == "off") {
        flags.progress = false;
      } else if (value != "auto") {
        UsageError("--progress must be auto, on or off");
      }
    } else {
      UsageError("unknown flag --" + name);
    }
  }
  if (!flags.server.empty() && flags.key.empty()) {
    UsageError("--server needs --key (an ingest or admin API key)");
  }
  if (!flags.compare_rules.empty()) {
    if (!flags.server.empty()) {
      UsageError(
          "--compare-rules starts its own harkd for each run; it cannot load "
          "--server");
    }
    for (const std::string& f : flags.harkd_flags) {
      if (absl::StartsWith(f, "--rules")) {
        UsageError(
            "--compare-rules=DIR passes --rules=DIR itself (and no rules to "
            "the harkd it compares with); drop --harkd-flag=" +
            f);
      }
    }
  } else if (rounds_given) {
    UsageError("--rounds is for --compare-rules");
  }
  if (flags.server.empty() && !flags.key.empty()) {
    UsageError(
        "--key is only for --server; a started harkd's key is read "
        "from its folder");
  }
  return flags;
}

// What a SIGINT/SIGTERM of the benchmark must undo: the harkd it started and
// the temporary folder. main() holds `mu` while it cleans up itself, so the
// signal thread either does all of it or finds it done.
struct Cleanup {
  absl::Mutex mu;
  pid_t harkd_pid ABSL_GUARDED_BY(mu) = -1;
  std::string dir ABSL_GUARDED_BY(mu);
};

Cleanup& GetCleanup() {
  static Cleanup* const cleanup = new Cleanup;
  return *cleanup;
}

// Blocks SIGINT/SIGTERM/SIGHUP in every thread (call before any thread
// starts) and takes them on one thread that stops harkd, removes the folder
// and exits 130.
void StartSignalThread() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    Cleanup& cleanup = GetCleanup();
    cleanup.mu.Lock();
    if (cleanup.harkd_pid > 0) {
      kill(cleanup.harkd_pid, SIGTERM);
      int status;
      for (int i = 0; i < 1500; ++i) {
        if (waitpid(cleanup.harkd_pid, &status, WNOHANG) != 0) break;
        usleep(20000);
      }
      kill(cleanup.harkd_pid, SIGKILL);
      waitpid(cleanup.harkd_pid, &status, 0);
    }
    if (!cleanup.dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(cleanup.dir, ec);
    }
    std::fprintf(stderr, "\nhark-bench: interrupted; harkd stopped\n");
    _exit(130);
  }).detach();
}

// CPU used during one mode's timed section.
struct CpuUse {
  double client_seconds = 0;
  double server_seconds = 0;
  // harkd threads by CPU seconds, busiest first (empty with --server).
  std::vector<hark::bench::ThreadCpu> server_threads;
  pid_t server_pid = -1;
};

struct ModeReport {
  hark::bench::LoadResult load;
  CpuUse cpu;
};

// Samples CPU counters at the start and end of a timed section.
class CpuProbe {
 public:
  explicit CpuProbe(const hark::bench::HarkdLauncher* harkd) : harkd_(harkd) {}
  void Start() {
    client_ = hark::bench::SelfCpuSeconds();
    if (harkd_ != nullptr) server_ = harkd_->ThreadCpuTimes();
  }
  CpuUse Stop() const {
    CpuUse use;
    use.client_seconds = hark::bench::SelfCpuSeconds() - client_;
    if (harkd_ == nullptr) return use;
    use.server_pid = harkd_->pid();
    for (hark::bench::ThreadCpu t : harkd_->ThreadCpuTimes()) {
      for (const hark::bench::ThreadCpu& before : server_) {
        if (before.tid == t.tid) t.seconds -= before.seconds;
      }
      use.server_seconds += t.seconds;
      use.server_threads.push_back(std::move(t));
    }
    std::sort(
        use.server_threads.begin(), use.server_threads.end(),
        [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    return use;
  }

 private:
  const hark::bench::HarkdLauncher* const harkd_;
  double client_ = 0;
  std::vector<hark::bench::ThreadCpu> server_;
};

void PrintText(const Flags& flags, const std::string& target,
               const std::vector<ModeReport>& modes,
               const std::optional<double>& ceiling,
               const std::string& ceiling_error,
               const std::vector<std::string>& notes) {
  std::printf(
      "hark-bench ingest: %s events per mode, %s users, batches of %zu, %zu "
      "callers, stream window %zu\n",
      Thousands(static_cast<double>(flags.events)).c_str(),
      Thousands(static_cast<double>(flags.users)).c_str(), flags.batch,
      flags.callers, flags.window);
  std::printf("target: %s\n\n", target.c_str());
  std::printf("%-7s %12s %9s %9s %9s %8s %10s %7s %9s\n", "mode", "events/s",
              "p50 ms", "p99 ms", "p99.9 ms", "total s", "accepted", "errors",
              "/ceiling");
  for (const ModeReport& m : modes) {
    const auto& l = m.load;
    std::string ratio = "-";
    if (ceiling.has_value() && *ceiling > 0) {
      ratio = absl::StrFormat("%.2f", l.events_per_second() / *ceiling);
    }
    std::printf("%-7s %12s %9.2f %9.2f %9.2f %8.2f %10s %7s %9s\n",
                l.mode.c_str(), Thousands(l.events_per_second()).c_str(),
                l.LatencyPercentile(50), l.LatencyPercentile(99),
                l.LatencyPercentile(99.9), absl::ToDoubleSeconds(l.elapsed),
                Thousands(static_cast<double>(l.accepted)).c_str(),
                Thousands(static_cast<double>(l.errors())).c_str(),
                ratio.c_str());
  }
  if (ceiling.has_value()) {
    std::printf(
        "%-7s %12s   (same events straight into a fresh SQLite file: WAL, "
        "synchronous=%s, one transaction per %zu)\n",
        "sqlite", Thousands(*ceiling).c_str(),
        flags.durability == hark::store::Durability::kFull ? "FULL" : "NORMAL",
        flags.batch);
  } else if (!ceiling_error.empty()) {
    std::printf("sqlite ceiling not measured: %s\n", ceiling_error.c_str());
  }
  std::printf(
      "\nLatency: unary = one TrackEvents call, send to answer; stream = one "
      "batch, Write() to its ack.\n");
  std::string waits;
  for (const ModeReport& m : modes) {
    if (!m.load.processed_wait.has_value()) continue;
    absl::StrAppendFormat(&waits, "%s%s %.1f ms", waits.empty() ? "" : ", ",
                          m.load.mode,
                          absl::ToDoubleMilliseconds(*m.load.processed_wait));
  }
  if (!waits.empty()) {
    std::printf(
        "Timed section: until harkd's engine had matched every acknowledged "
        "event and stored the matches (after the last ack: %s).\n",
        waits.c_str());
  }

  std::printf("\nCPU during the timed section (cores = CPU s / wall s):\n");
  for (const ModeReport& m : modes) {
    const double wall = std::max(absl::ToDoubleSeconds(m.load.elapsed), 1e-9);
    std::string line =
        absl::StrFormat("  %-7s hark-bench %.2f cores", m.load.mode,
                        m.cpu.client_seconds / wall);
    if (!m.cpu.server_threads.empty()) {
      absl::StrAppendFormat(&line, ", harkd %.2f cores; harkd threads:",
                            m.cpu.server_seconds / wall);
      const auto& threads = m.cpu.server_threads;
      for (size_t i = 0; i < threads.size() && i < 6; ++i) {
        if (threads[i].seconds / wall < 0.01) break;
        absl::StrAppendFormat(
            &line, "%s %s[%d]%s %.2f", i == 0 ? "" : ",", threads[i].name,
            threads[i].tid, threads[i].tid == m.cpu.server_pid ? "(main)" : "",
            threads[i].seconds / wall);
      }
    }
    std::printf("%s\n", line.c_str());
  }
  if (modes.size() > 0) {
    bool any = false;
    for (const ModeReport& m : modes) {
      const auto& l = m.load;
      if (l.errors() == 0 && l.retries == 0) continue;
      if (!any) std::printf("\nProblems:\n");
      any = true;
      std::printf(
          "  %s: %s duplicate, %s rejected, %s unanswered, %s protocol "
          "errors, %s RESOURCE_EXHAUSTED retries\n",
          l.mode.c_str(), Thousands(static_cast<double>(l.duplicates)).c_str(),
          Thousands(static_cast<double>(l.rejected)).c_str(),
          Thousands(static_cast<double>(l.unanswered)).c_str(),
          Thousands(static_cast<double>(l.protocol_errors)).c_str(),
          Thousands(static_cast<double>(l.retries)).c_str());
      for (const std::string& s : l.error_samples) {
        std::printf("    %s\n", s.c_str());
      }
    }
  }
  for (const std::string& note : notes) std::printf("\n%s\n", note.c_str());
}

// The "config" member of the JSON output, with its trailing comma.
std::string ConfigJson(const Flags& flags, const std::string& target) {
  std::string out;
  absl::StrAppendFormat(
      &out,
      "\"config\":{\"events\":%zu,\"users\":%zu,\"batch\":%zu,\"callers\":%zu,"
      "\"window\":%zu,\"seed\":%d,\"durability\":\"%s\",\"target\":%s",
      flags.events, flags.users, flags.batch, flags.callers, flags.window,
      flags.seed,
      flags.durability == hark::store::Durability::kFull ? "full" : "normal",
      JsonString(target));
  if (!flags.compare_rules.empty()) {
    absl::StrAppendFormat(&out, ",\"compare_rules\":%s,\"rounds\":%zu",
                          JsonString(flags.compare_rules), flags.rounds);
  }
  out += "},";
  return out;
}

std::string NotesJson(const std::vector<std::string>& notes) {
  std::string out = "[";
  for (size_t i = 0; i < notes.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonString(notes[i]));
  }
  return out + "]";
}

// The modes as a JSON array.
std::string ModesJson(const std::vector<ModeReport>& modes,
                      const std::optional<double>& ceiling) {
  std::string out = "[";
  for (size_t i = 0; i < modes.size(); ++i) {
    const auto& l = modes[i].load;
    const auto& cpu = modes[i].cpu;
    const double wall = std::max(absl::ToDoubleSeconds(l.elapsed), 1e-9);
    if (i > 0) out += ",";
    absl::StrAppendFormat(
        &out,
        "{\"mode\":\"%s\",\"events_per_second\":%.1f,\"seconds\":%.3f,"
        "\"latency_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p99_9\":%.3f,"
        "\"max\":%.3f},\"calls\":%zu,\"accepted\":%d,\"duplicates\":%d,"
        "\"rejected\":%d,\"unanswered\":%d,\"protocol_errors\":%d,"
        "\"retries\":%d,\"client_cpu_cores\":%.3f,\"server_cpu_cores\":%.3f",
        l.mode, l.events_per_second(), wall, l.LatencyPercentile(50),
        l.LatencyPercentile(99), l.LatencyPercentile(99.9),
        l.LatencyPercentile(100), l.latencies_ms.size(), l.accepted,
        l.duplicates, l.rejected, l.unanswered, l.protocol_errors, l.retries,
        cpu.client_seconds / wall, cpu.server_seconds / wall);
    if (l.processed_wait.has_value()) {
      absl::StrAppendFormat(&out, ",\"processed_wait_seconds\":%.4f",
                            absl::ToDoubleSeconds(*l.processed_wait));
    }
    if (ceiling.has_value() && *ceiling > 0) {
      absl::StrAppendFormat(&out, ",\"ratio_to_ceiling\":%.4f",
                            l.events_per_second() / *ceiling);
    }
    // The busiest harkd threads; the unnamed "harkd" thread that is not
    // the main thread is the ingest writer.
    out += ",\"server_threads\":[";
    for (size_t t = 0; t < cpu.server_threads.size() && t < 8; ++t) {
      const auto& thread = cpu.server_threads[t];
      absl::StrAppendFormat(&out,
                            "%s{\"tid\":%d,\"name\":%s,\"main\":%s,"
                            "\"cores\":%.3f}",
                            t == 0 ? "" : ",", thread.tid,
                            JsonString(thread.name),
                            thread.tid == cpu.server_pid ? "true" : "false",
                            thread.seconds / wall);
    }
    out += "],\"error_samples\":[";
    for (size_t e = 0; e < l.error_samples.size(); ++e) {
      absl::StrAppend(&out, e == 0 ? "" : ",", JsonString(l.error_samples[e]));
    }
    out += "]}";
  }
  return out + "]";
}

// The ceiling members of the JSON output, with a trailing comma.
std::string CeilingJson(const std::optional<double>& ceiling,
                        const std::string& ceiling_error) {
  if (ceiling.has_value()) {
    return absl::StrFormat("\"ceiling_events_per_second\":%.1f,", *ceiling);
  }
  return absl::StrCat("\"ceiling_events_per_second\":null,",
                      "\"ceiling_error\":", JsonString(ceiling_error), ",");
}

void PrintJson(const Flags& flags, const std::string& target,
               const std::vector<ModeReport>& modes,
               const std::optional<double>& ceiling,
               const std::string& ceiling_error,
               const std::vector<std::string>& notes) {
  const std::string out = absl::StrCat("{", ConfigJson(flags, target),
                                       "\"modes\":", ModesJson(modes, ceiling),
                                       ",", CeilingJson(ceiling, ceiling_error),
                                       "\"notes\":", NotesJson(notes), "}\n");
  std::fputs(out.c_str(), stdout);
}

// Appends the workload straight into a fresh SQLite file in `dir`.
absl::StatusOr<double> MeasureCeiling(const Flags& flags,
                                      hark::bench::WorkloadOptions workload,
                                      const std::string& dir) {
  const std::vector<hark::store::EventRecord> records =
      hark::bench::MakeEventRecords(workload);
  const std::string path = dir + "/ceiling.db";
  absl::StatusOr<double> rate = hark::store::MeasureAppendCeiling(
      path, records, flags.batch, flags.durability);
  // Free the disk (and its dirty page cache) before harkd is measured.
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::remove(path + suffix, ec);
  }
  return rate;
}

// A call to a started harkd with its admin key, given `deadline`.
void AdminCall(grpc::ClientContext* context, const std::string& admin_key,
               std::chrono::seconds deadline) {
  context->AddMetadata("authorization", "Bearer " + admin_key);
  context->set_deadline(std::chrono::system_clock::now() + deadline);
}

// A started harkd's Admin.GetStats: how many events it stored (a check that
// acknowledged means stored) and how many rules it serves.
absl::StatusOr<hark::v1::GetStatsResponse> ServerStats(
    const std::string& address, const std::string& admin_key) {
  auto stub = hark::v1::Admin::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  AdminCall(&context, admin_key, std::chrono::seconds(30));
  hark::v1::GetStatsResponse response;
  grpc::Status status =
      stub->GetStats(&context, hark::v1::GetStatsRequest(), &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("GetStats failed: ", status.error_message()));
  }
  return response;
}

// Returns once a started harkd's engine has matched every event it
// acknowledged and stored the matches: Rules.ListMatches answers only then
// (read-your-writes), so one call with the smallest page is the barrier.
absl::Status EngineCaughtUp(const std::string& address,
                            const std::string& admin_key) {
  auto stub = hark::v1::Rules::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  AdminCall(&context, admin_key, std::chrono::minutes(5));
  hark::v1::ListMatchesRequest request;
  request.set_page_size(1);
  hark::v1::ListMatchesResponse response;
  grpc::Status status = stub->ListMatches(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("Rules.ListMatches failed: ", status.error_message()));
  }
  return absl::OkStatus();
}

// One measurement of ingest: against a harkd started here with
// `harkd_flags` (in a fresh folder, stopped and removed at the end), or
// against --server.
struct IngestRun {
  std::string target;
  std::vector<ModeReport> reports;
  std::vector<std::string> notes;
  int exit_code = 0;
  // Set once the started harkd's stats at the end were read and its
  // stored count matched the events ACCEPTED: the rules it served.
  std::optional<uint32_t> rules;
};

hark::bench::WorkloadOptions WorkloadOf(const Flags& flags) {
  hark::bench::WorkloadOptions workload;
  workload.events = flags.events;
  workload.users = flags.users;
  workload.batch = flags.batch;
  workload.seed = flags.seed;
  workload.now = absl::Now();
  return workload;
}

// `label` prefixes the progress lines ("" for none).
IngestRun MeasureIngest(const Flags& flags,
                        const std::vector<std::string>& harkd_flags,
                        const std::string& label) {
  IngestRun run;
  auto status_line = [&](const std::string& text) {
    if (flags.progress) {
      std::fprintf(stderr, "\r\033[K%s%s", text.empty() ? "" : label.c_str(),
                   text.c_str());
    }
  };
  auto dir_or = hark::bench::TempDir::Create();
  if (!dir_or.ok()) {
    run.notes.push_back(std::string(dir_or.status().message()));
    run.exit_code = 1;
    return run;
  }
  std::unique_ptr<hark::bench::TempDir> dir = *std::move(dir_or);
  {
    absl::MutexLock lock(&GetCleanup().mu);
    GetCleanup().dir = dir->path();
  }

  std::unique_ptr<hark::bench::HarkdLauncher> harkd;
  hark::bench::LoadOptions load;
  load.callers = flags.callers;
  load.window = flags.window;
  load.progress = flags.progress;
  std::string admin_key;
  auto fail = [&](absl::string_view message) {
    run.notes.push_back(std::string(message));
    run.exit_code = 1;
  };
  if (flags.server.empty()) {
    std::vector<std::string> extra = harkd_flags;
    extra.push_back(flags.durability == hark::store::Durability::kFull
                        ? "--durability=full"
                        : "--durability=normal");
    status_line("starting harkd...");
    auto started =
        hark::bench::HarkdLauncher::Start(flags.harkd, dir->path(), extra);
    if (!started.ok()) {
      status_line("");
      fail(started.status().message());
      return run;
    }
    harkd = *std::move(started);
    {
      absl::MutexLock lock(&GetCleanup().mu);
      GetCleanup().harkd_pid = harkd->pid();
    }
    auto key = harkd->Key("ingest");
    if (!key.ok()) fail(key.status().message());
    load.key = key.value_or("");
    admin_key = harkd->Key("admin").value_or("");
    if (!admin_key.empty()) {
      load.wait_processed = [address = harkd->address(), admin_key] {
        return EngineCaughtUp(address, admin_key);
      };
    }
    load.address = harkd->address();
    run.target = absl::StrCat(
        "harkd started by hark-bench (", flags.harkd, ") on ", harkd->address(),
        ", durability ",
        flags.durability == hark::store::Durability::kFull ? "full" : "normal",
        ", database in ", dir->path());
  } else {
    load.address = flags.server;
    load.key = flags.key;
    run.target = absl::StrCat("running server ", flags.server);
  }

  hark::bench::WorkloadOptions workload = WorkloadOf(flags);
  const std::string run_id = RunId("bench");
  CpuProbe probe(harkd.get());
  ModeReport current;
  load.on_start = [&] { probe.Start(); };
  load.on_stop = [&] { current.cpu = probe.Stop(); };
  for (Mode mode : {Mode::kUnary, Mode::kStream}) {
    if (run.exit_code != 0) break;
    if (flags.mode != Mode::kBoth && flags.mode != mode) continue;
    absl::StatusOr<hark::bench::LoadResult> result;
    if (mode == Mode::kUnary) {
      status_line("unary: generating requests...");
      workload.id_prefix = run_id + "-u";
      workload.user_prefix = "user-";
      const auto requests = hark::bench::MakeTrackRequests(workload);
      status_line("");
      result = hark::bench::RunUnary(load, requests);
    } else {
      status_line("stream: generating batches...");
      workload.id_prefix = run_id + "-s";
      workload.user_prefix = "stream-user-";
      const auto batches =
          hark::bench::MakeStreamBatches(workload, flags.callers);
      status_line("");
      result = hark::bench::RunStream(load, batches);
    }
    if (!result.ok()) {
      fail(absl::StrCat(mode == Mode::kUnary ? "unary" : "stream",
                        " not run: ", result.status().message()));
      break;
    }
    current.load = *std::move(result);
    if (current.load.errors() > 0) run.exit_code = 1;
    run.reports.push_back(std::move(current));
    current = ModeReport();
  }
  status_line("");

  if (harkd != nullptr && !admin_key.empty() && !run.reports.empty()) {
    uint64_t accepted = 0;
    for (const ModeReport& m : run.reports) accepted += m.load.accepted;
    auto stats = ServerStats(harkd->address(), admin_key);
    if (!stats.ok()) {
      run.notes.push_back(absl::StrCat("Could not check the stored count: ",
                                       stats.status().message()));
    } else if (stats->events_stored() != accepted) {
      fail(absl::StrCat("MISMATCH: harkd reports ", stats->events_stored(),
                        " events stored, ", accepted,
                        " were acknowledged as ACCEPTED"));
    } else {
      run.rules = stats->engine().rules();
    }
  }

  // Held through the cleanup so that a signal now waits for it.
  absl::MutexLock lock(&GetCleanup().mu);
  if (harkd != nullptr) {
    absl::Status stopped = harkd->Stop();
    if (!stopped.ok()) {
      fail(absl::StrCat("harkd did not stop cleanly: ", stopped.message()));
    }
    harkd.reset();
    GetCleanup().harkd_pid = -1;
  }
  dir.reset();
  GetCleanup().dir.clear();
  return run;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The mode's report in `run`, or null if it did not run.
const ModeReport* FindMode(const IngestRun& run, absl::string_view mode) {
  for (const ModeReport& m : run.reports) {
    if (m.load.mode == mode) return &m;
  }
  return nullptr;
}

// CPU seconds per million acknowledged events: harkd's in all, or one
// thread's (by name) when `thread` is not empty.
double CpuPerMillion(const ModeReport& m, absl::string_view thread) {
  double seconds = thread.empty() ? m.cpu.server_seconds : 0;
  if (!thread.empty()) {
    for (const hark::bench::ThreadCpu& t : m.cpu.server_threads) {
      if (t.name == thread) seconds += t.seconds;
    }
  }
  return seconds * 1e6 / std::max<double>(1, m.load.accepted);
}

// The rules' cost measured with --compare-rules: rounds of a harkd without
// rules then one with them, and the ratio of their rates per mode.
struct Round {
  IngestRun without_rules;
  IngestRun with_rules;
};

// One mode over the rounds where both runs measured it: the ratios of
// their rates (with rules / without) and CPU per million events.
struct ModeComparison {
  std::vector<double> ratios;
  std::vector<double> engine;  // the hark-engine thread, with rules
  std::vector<double> harkd_none;
  std::vector<double> harkd_rules;
};

// The round's rate of `mode` with rules over its rate without, if both
// runs measured it.
std::optional<double> RoundRatio(const Round& r, absl::string_view mode) {
  const ModeReport* a = FindMode(r.without_rules, mode);
  const ModeReport* b = FindMode(r.with_rules, mode);
  if (a == nullptr || b == nullptr || a->load.events_per_second() <= 0) {
    return std::nullopt;
  }
  return b->load.events_per_second() / a->load.events_per_second();
}

ModeComparison Compare(const std::vector<Round>& rounds,
                       absl::string_view mode) {
  ModeComparison c;
  for (const Round& r : rounds) {
    const std::optional<double> ratio = RoundRatio(r, mode);
    if (!ratio.has_value()) continue;
    const ModeReport& a = *FindMode(r.without_rules, mode);
    const ModeReport& b = *FindMode(r.with_rules, mode);
    c.ratios.push_back(*ratio);
    c.engine.push_back(CpuPerMillion(b, "hark-engine"));
    c.harkd_none.push_back(CpuPerMillion(a, ""));
    c.harkd_rules.push_back(CpuPerMillion(b, ""));
  }
  return c;
}

// Hark's target for ingest with 100 rules loaded (BENCHMARKS.md).
constexpr double kRulesTarget = 0.70;

void PrintComparisonText(const Flags& flags, const std::vector<Round>& rounds,
                         bool failed, const std::optional<double>& ceiling,
                         const std::vector<std::string>& notes) {
  std::printf(
      "hark-bench ingest --compare-rules=%s: %s events per mode, %s users, "
      "batches of %zu, %zu callers, stream window %zu\n",
      flags.compare_rules.c_str(),
      Thousands(static_cast<double>(flags.events)).c_str(),
      Thousands(static_cast<double>(flags.users)).c_str(), flags.batch,
      flags.callers, flags.window);
  std::string served;
  if (!rounds.empty() && rounds[0].without_rules.rules.has_value() &&
      rounds[0].with_rules.rules.has_value()) {
    served = absl::StrCat(" (serving ", *rounds[0].without_rules.rules, " and ",
                          *rounds[0].with_rules.rules, " rules)");
  }
  std::printf(
      "Each round starts a fresh harkd (%s) without rules, then one with "
      "--rules=%s, and loads both the same way%s.\n\n",
      flags.harkd.c_str(), flags.compare_rules.c_str(), served.c_str());
  std::printf("%-6s", "round");
  std::vector<std::string> modes;
  for (const char* mode : {"unary", "stream"}) {
    for (const Round& r : rounds) {
      if (FindMode(r.without_rules, mode) != nullptr) {
        modes.push_back(mode);
        break;
      }
    }
  }
  for (const std::string& mode : modes) {
    std::printf(" | %-6s %10s %11s %6s", mode.c_str(), "no rules", "with rules",
                "ratio");
  }
  std::printf("\n");
  for (size_t i = 0; i < rounds.size(); ++i) {
    std::printf("%-6zu", i + 1);
    for (const std::string& mode : modes) {
      const ModeReport* a = FindMode(rounds[i].without_rules, mode);
      const ModeReport* b = FindMode(rounds[i].with_rules, mode);
      const std::optional<double> ratio = RoundRatio(rounds[i], mode);
      std::printf(" | %-6s %10s %11s %6s", "",
                  a ? Thousands(a->load.events_per_second()).c_str() : "-",
                  b ? Thousands(b->load.events_per_second()).c_str() : "-",
                  ratio ? absl::StrFormat("%.3f", *ratio).c_str() : "-");
    }
    std::printf("\n");
  }
  std::string summary;
  bool all_met = !modes.empty();
  for (const std::string& mode : modes) {
    const ModeComparison c = Compare(rounds, mode);
    const std::vector<double>& ratios = c.ratios;
    if (ratios.empty()) {
      all_met = false;
      continue;
    }
    const double median = Median(ratios);
    all_met = all_met && median >= kRulesTarget;
    absl::StrAppendFormat(
        &summary,
        "  %-6s %.3f (%zu of %zu rounds at or above %.2f); harkd CPU per "
        "million events %.2f s without rules, %.2f s with (the engine thread "
        "%.2f s)\n",
        mode, median,
        static_cast<size_t>(absl::c_count_if(
            ratios, [](double r) { return r >= kRulesTarget; })),
        ratios.size(), kRulesTarget, Median(c.harkd_none),
        Median(c.harkd_rules), Median(c.engine));
  }
  std::printf(
      "\nWith rules / without, median over the rounds (CPU figures are "
      "medians too):\n%s",
      summary.c_str());
  std::printf("Target: at least %.2f in each mode: %s\n", kRulesTarget,
              failed    ? "not judged, a run failed (see below)"
              : all_met ? "met"
                        : "NOT met");
  if (ceiling.has_value()) {
    std::printf(
        "SQLite ceiling (measured once, before the rounds): %s "
        "events/s\n",
        Thousands(*ceiling).c_str());
  }
  std::printf(
      "\nA single pair moves by several per cent on a small, shared machine; "
      "the median of several rounds is the figure to quote.\n");
  for (const std::string& note : notes) std::printf("\n%s\n", note.c_str());
}

void PrintComparisonJson(const Flags& flags, const std::vector<Round>& rounds,
                         const std::optional<double>& ceiling,
                         const std::string& ceiling_error,
                         const std::vector<std::string>& notes) {
  std::string out =
      absl::StrCat("{",
                   ConfigJson(flags, "harkd started by hark-bench (" +
                                         flags.harkd + "), per round"),
                   "\"rounds\":[");
  for (size_t i = 0; i < rounds.size(); ++i) {
    const auto run_json = [&](const IngestRun& run) {
      return absl::StrCat("{\"target\":", JsonString(run.target),
                          ",\"modes\":", ModesJson(run.reports, std::nullopt),
                          ",\"notes\":", NotesJson(run.notes), "}");
    };
    absl::StrAppend(&out, i == 0 ? "" : ",",
                    "{\"without_rules\":", run_json(rounds[i].without_rules),
                    ",\"with_rules\":", run_json(rounds[i].with_rules), "}");
  }
  out += "],\"median_ratio\":{";
  bool first = true;
  for (const char* mode : {"unary", "stream"}) {
    const std::vector<double> ratios = Compare(rounds, mode).ratios;
    if (ratios.empty()) continue;
    absl::StrAppendFormat(&out, "%s\"%s\":%.4f", first ? "" : ",", mode,
                          Median(ratios));
    first = false;
  }
  absl::StrAppend(&out, "},", CeilingJson(ceiling, ceiling_error),
                  "\"notes\":", NotesJson(notes), "}\n");
  std::fputs(out.c_str(), stdout);
}

int Run(const Flags& flags) {
  std::optional<double> ceiling;
  std::string ceiling_error;
  if (flags.ceiling) {
    if (flags.progress) {
      std::fprintf(
          stderr, "\r\033[Ksqlite ceiling: generating and appending events...");
    }
    auto dir = hark::bench::TempDir::Create();
    if (dir.ok()) {
      {
        absl::MutexLock lock(&GetCleanup().mu);
        GetCleanup().dir = (*dir)->path();
      }
      hark::bench::WorkloadOptions workload = WorkloadOf(flags);
      workload.id_prefix = RunId("bench") + "-c";
      auto rate = MeasureCeiling(flags, workload, (*dir)->path());
      if (rate.ok()) {
        ceiling = *rate;
      } else {
        ceiling_error = std::string(rate.status().message());
      }
      absl::MutexLock lock(&GetCleanup().mu);
      dir->reset();
      GetCleanup().dir.clear();
    } else {
      ceiling_error = std::string(dir.status().message());
    }
    if (flags.progress) std::fprintf(stderr, "\r\033[K");
  }

  if (flags.compare_rules.empty()) {
    IngestRun run = MeasureIngest(flags, flags.harkd_flags, "");
    if (run.reports.empty() && run.exit_code != 0) {
      for (const std::string& note : run.notes) {
        std::cerr << "hark-bench: " << note << "\n";
      }
      return 1;
    }
    if (run.rules.has_value()) {
      uint64_t accepted = 0;
      for (const ModeReport& m : run.reports) accepted += m.load.accepted;
      run.notes.push_back(absl::StrCat("Check: harkd reports ",
                                       Thousands(static_cast<double>(accepted)),
                                       " events stored = events ACCEPTED."));
    }
    if (!flags.server.empty()) {
      run.notes.push_back(
          "The SQLite ceiling was measured on this machine's temporary "
          "directory; against a remote server the ratio compares different "
          "machines.");
    }
    if (flags.json) {
      PrintJson(flags, run.target, run.reports, ceiling, ceiling_error,
                run.notes);
    } else {
      PrintText(flags, run.target, run.reports, ceiling, ceiling_error,
                run.notes);
    }
    return run.exit_code;
  }

  std::vector<Round> rounds;
  std::vector<std::string> notes;
  int exit_code = 0;
  size_t checked = 0;  // runs whose stored count was checked
  std::vector<std::string> with_rules = flags.harkd_flags;
  with_rules.push_back("--rules=" + flags.compare_rules);
  for (size_t i = 0; i < flags.rounds && exit_code == 0; ++i) {
    Round& round = rounds.emplace_back();
    const std::string of = absl::StrCat("round ", i + 1, "/", flags.rounds);
    round.without_rules =
        MeasureIngest(flags, flags.harkd_flags, of + ", no rules: ");
    if (round.without_rules.exit_code == 0) {
      round.with_rules =
          MeasureIngest(flags, with_rules, of + ", with rules: ");
      // A folder harkd found no rules in leaves it serving none (with a
      // warning in its log): nothing would be compared.
      if (round.with_rules.rules == 0u) {
        round.with_rules.notes.push_back(absl::StrCat(
            "harkd loaded no rules from ", flags.compare_rules,
            "; check the folder (harkd --rules=", flags.compare_rules,
            " prints what it found)"));
        round.with_rules.exit_code = 1;
      }
    }
    for (const IngestRun* run : {&round.without_rules, &round.with_rules}) {
      if (run == &round.with_rules && round.without_rules.exit_code != 0) {
        continue;  // not run
      }
      const std::string which = absl::StrCat(
          "Round ", i + 1,
          run == &round.without_rules ? ", no rules" : ", with rules");
      if (run->exit_code != 0) exit_code = 1;
      if (run->rules.has_value()) ++checked;
      for (const std::string& note : run->notes) {
        notes.push_back(absl::StrCat(which, ": ", note));
      }
      for (const ModeReport& m : run->reports) {
        for (const std::string& sample : m.load.error_samples) {
          notes.push_back(absl::StrCat(which, ", ", m.load.mode, ": ", sample));
        }
      }
    }
  }
  if (checked == 2 * rounds.size()) {
    notes.push_back(
        "Check: in every run harkd reported as many events stored as were "
        "acknowledged ACCEPTED.");
  }
  if (flags.json) {
    PrintComparisonJson(flags, rounds, ceiling, ceiling_error, notes);
  } else {
    PrintComparisonText(flags, rounds, exit_code != 0, ceiling, notes);
  }
  return exit_code;
}

// `hark-bench latency`, with the signal cleanup of this file.
int RunLatency(int argc, char** argv) {
  hark::bench::LatencyHooks hooks;
  hooks.default_harkd = DefaultHarkd();
  hooks.on_resources = [](pid_t pid, const std::string& dir) {
    absl::MutexLock lock(&GetCleanup().mu);
    GetCleanup().harkd_pid = pid;
    GetCleanup().dir = dir;
  };
  hooks.release = [](const std::function<void()>& fn) {
    absl::MutexLock lock(&GetCleanup().mu);
    fn();
    GetCleanup().harkd_pid = -1;
    GetCleanup().dir.clear();
  };
  StartSignalThread();
  return hark::bench::LatencyMain(argc, argv, hooks);
}

// `hark-bench review`, with the same signal cleanup.
int RunReview(int argc, char** argv) {
  hark::bench::ReviewHooks hooks;
  hooks.default_harkd = DefaultHarkd();
  hooks.on_resources = [](pid_t pid, const std::string& dir) {
    absl::MutexLock lock(&GetCleanup().mu);
    GetCleanup().harkd_pid = pid;
    GetCleanup().dir = dir;
  };
  hooks.release = [](const std::function<void()>& fn) {
    absl::MutexLock lock(&GetCleanup().mu);
    fn();
    GetCleanup().harkd_pid = -1;
    GetCleanup().dir.clear();
  };
  StartSignalThread();
  return hark::bench::ReviewMain(argc, argv, hooks);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "latency") {
    return RunLatency(argc, argv);
  }
  if (argc >= 2 && std::string(argv[1]) == "review") {
    return RunReview(argc, argv);
  }
  const Flags flags = ParseFlags(argc, argv);
  StartSignalThread();
  return Run(flags);
}
