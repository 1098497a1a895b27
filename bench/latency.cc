#include "bench/latency.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "bench/harkd_launcher.h"
#include "bench/load.h"
#include "bench/workload.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "hark/v1/ingest.grpc.pb.h"
#include "hark/v1/prompts.grpc.pb.h"

namespace hark::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kUsage[] = R"(Usage: hark-bench latency [flags]

Measures trigger latency (issue 4): how long after the event that completes
a match the prompt is visible through Prompts.GetPrompts and through
Prompts.WatchPrompts, and how long after an absence deadline, while the
ingest load of `hark-bench ingest` (unary TrackEvents) runs at a fraction
of its maximum rate.

By default it starts its own harkd (fresh temporary folder,
--allowed-lateness from this benchmark's flag) with these rules, written
to the folder (the same as bench/latency-rules/latency.yaml):
  probe_match    match on event `probe` -> survey latency_probe
  probe_absence  sequence step `probe_start`, absent `probe_end`, within
                 --within -> survey latency_probe
and a contact policy without caps. Every probe has a user of its own, so
caps and cooldowns never apply.

Phase 1: the maximum ingest rate, --max-events background events (names of
the ingest workload, which no rule matches) sent as fast as --callers go.
Phase 2: the same load paced at --load times that rate, and meanwhile:
  - one WatchPrompts stream, opened before the probes, notes when each
    probe's prompt arrives;
  - probes are sent one at a time, each with TrackEvents (one event of a
    new user, timestamp now), its acknowledgement noted: every --interval
    one of each series, a quarter interval apart: a `probe` and a
    `probe_start` observed through WatchPrompts, a `probe` and a
    `probe_start` observed through GetPrompts;
  - for the latter, GetPrompts(user) is called every --poll (from the ack,
    or for absence probes from the earliest firing time) until the prompt
    is returned, at most --timeout.
Each probe is observed through one channel only: GetPrompts marks a prompt
delivered, and harkd feeds only pending prompts to WatchPrompts, so a
prompt polled before it was fed would never reach the stream.
Latency of a match probe: from the TrackEvents answer (ack) on the client
to the prompt's arrival on the stream / the answer of the first GetPrompts
call that returns it. Latency of an absence probe: from the earliest moment
the server may fire it, deadline + allowed lateness (event time + within +
lateness, converted to this process's steady clock when the event's
timestamp was taken), to the same two points. Harkd fires an absence match
once its watermark, max(latest event time, clock) - allowed lateness,
passes the deadline.

Target:
  --harkd=PATH          harkd binary to start. Default: %s
  --harkd-flag=FLAG     Extra flag for the started harkd. Repeatable.
  --server=HOST:PORT    Measure a running server instead; it must serve the
                        rules of bench/latency-rules (with the same --within)
                        and be started with the same --allowed-lateness.
  --key=KEY             API key (role ingest or admin) for --server.

Probes:
  --probes=N            Probes per series (match or absence, through
                        GetPrompts or WatchPrompts). Default: 500
  --interval=DURATION   Between two probes of one series. Default: 20ms
  --within=DURATION     The absence rule's window. Default: 2s
  --allowed-lateness=DURATION
                        harkd's --allowed-lateness. Default: 200ms
  --poll=DURATION       GetPrompts interval per outstanding probe.
                        Default: 1ms
  --pollers=N           Threads calling GetPrompts. Default: 2
  --timeout=DURATION    Give up on a probe's prompt this long after its
                        origin. Default: 10s

Background load:
  --load=FRACTION       Fraction of the maximum rate, more than 0 and at
                        most 1. Default: 0.5
  --max-events=N        Events of phase 1. Default: 600000
  --users=N             Users of the background events. Default: 100000
  --batch=N             Events per TrackEvents call, 1-1000. Default: 500
  --callers=N           Concurrent callers. Default: 4
  --seed=N              Seeds the background events. Default: 1

Output:
  --json                One JSON object on stdout.
  --progress=auto|on|off
                        Progress lines on stderr. Default: auto.
  --help                Show this help.

Figures per series: samples, prompts not seen within --timeout, p50, p90,
p99 and max in ms (nearest rank); the rates of both phases; the probes'
own TrackEvents latency; CPU of hark-bench and harkd during phase 2.
Exit status: 0 if every probe was ACCEPTED and every prompt seen (whether
or not the 50 ms target was met), 1 otherwise, 2 on bad usage.
)";

// The rules folder of the started harkd; $WITHIN is replaced.
constexpr char kRules[] =
    R"(# Rules of `hark-bench latency` (see bench/latency.cc).
surveys:
  - id: latency_probe
    title: Latency probe
    questions:
      - id: score
        type: rating
        text: How was it?

rules:
  - id: probe_match
    description: The prompt is due as soon as the probe event is matched.
    pattern:
      match: { event: probe }
    action: { survey: latency_probe, delay: "0s", expires: "1h" }
  - id: probe_absence
    description: A probe_start not followed by a probe_end within the window.
    pattern:
      sequence:
        steps: [ { event: probe_start } ]
        absent: { event: probe_end }
        within: "$WITHIN"
    action: { survey: latency_probe, delay: "0s", expires: "1h" }

# No caps and no quiet hours: every probe (each a new user) is asked.
contact_policy: { quiet_hours: null }
)";

struct Flags {
  std::string harkd;
  std::vector<std::string> harkd_flags;
  std::string server;
  std::string key;
  size_t probes = 500;
  absl::Duration interval = absl::Milliseconds(20);
  absl::Duration within = absl::Seconds(2);
  absl::Duration lateness = absl::Milliseconds(200);
  absl::Duration poll = absl::Milliseconds(1);
  size_t pollers = 2;
  absl::Duration timeout = absl::Seconds(10);
  double load = 0.5;
  size_t max_events = 600000;
  size_t users = 100000;
  size_t batch = 500;
  size_t callers = 4;
  uint64_t seed = 1;
  bool json = false;
  bool progress = false;
};

// Durations of the rules' syntax ("2s", "1m30s") for the rule file; whole
// seconds only.
absl::StatusOr<std::string> RuleDuration(absl::Duration d) {
  const int64_t seconds = absl::ToInt64Seconds(d);
  if (seconds <= 0 || absl::Seconds(seconds) != d) {
    return absl::InvalidArgumentError(
        "--within must be a whole number of seconds, at least 1s");
  }
  return absl::StrCat(seconds, "s");
}

absl::StatusOr<Flags> ParseFlags(int argc, char** argv,
                                 const LatencyHooks& hooks) {
  Flags flags;
  flags.harkd = hooks.default_harkd;
  flags.progress = isatty(STDERR_FILENO) == 1;
  auto bad = [](std::string message) {
    return absl::InvalidArgumentError(std::move(message));
  };
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << LatencyUsage(hooks.default_harkd);
      std::exit(0);
    }
    absl::StatusOr<std::pair<std::string, std::string>> flag =
        NextFlag(argc, argv, &i);
    if (!flag.ok()) return flag.status();
    const std::string& name = flag->first;
    const std::string& value = flag->second;
    auto count = [&](size_t min, size_t max, size_t* out) {
      return CountFlag(name, value, min, max, out);
    };
    auto duration = [&](absl::Duration min,
                        absl::Duration* out) -> absl::Status {
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d < min) {
        return bad(absl::StrCat("--", name,
                                " must be a duration such as 20ms or 2s, at "
                                "least ",
                                absl::FormatDuration(min), ", not '", value,
                                "'"));
      }
      *out = d;
      return absl::OkStatus();
    };
    absl::Status status;
    if (name == "harkd") {
      flags.harkd = value;
    } else if (name == "harkd-flag") {
      flags.harkd_flags.push_back(value);
    } else if (name == "server") {
      flags.server = value;
    } else if (name == "key") {
      flags.key = value;
    } else if (name == "probes") {
      status = count(1, 1000000, &flags.probes);
    } else if (name == "interval") {
      status = duration(absl::Milliseconds(1), &flags.interval);
    } else if (name == "within") {
      status = duration(absl::Seconds(1), &flags.within);
      if (status.ok()) status = RuleDuration(flags.within).status();
    } else if (name == "allowed-lateness") {
      status = duration(absl::ZeroDuration(), &flags.lateness);
    } else if (name == "poll") {
      status = duration(absl::Microseconds(100), &flags.poll);
    } else if (name == "pollers") {
      status = count(1, 64, &flags.pollers);
    } else if (name == "timeout") {
      status = duration(absl::Milliseconds(100), &flags.timeout);
    } else if (name == "load") {
      if (!absl::SimpleAtod(value, &flags.load) || !(flags.load > 0) ||
          flags.load > 1) {
        status = bad("--load must be a fraction, more than 0 and at most 1");
      }
    } else if (name == "max-events") {
      status = count(1000, 1000000000, &flags.max_events);
    } else if (name == "users") {
      status = count(1, 1000000000, &flags.users);
    } else if (name == "batch") {
      status = count(1, 1000, &flags.batch);
    } else if (name == "callers") {
      status = count(1, 1024, &flags.callers);
    } else if (name == "seed") {
      if (!absl::SimpleAtoi(value, &flags.seed)) {
        status = bad("--seed must be a number");
      }
    } else if (name == "json") {
      if (value != "true" && value != "false") {
        status = bad("--json takes no value");
      }
      flags.json = value == "true";
    } else if (name == "progress") {
      if (value == "on") {
        flags.progress = true;
      } else if (value == "off") {
        flags.progress = false;
      } else if (value != "auto") {
        status = bad("--progress must be auto, on or off");
      }
    } else {
      status = bad("unknown flag --" + name);
    }
    if (!status.ok()) return status;
  }
  if (!flags.server.empty() && flags.key.empty()) {
    return bad("--server needs --key (an ingest or admin API key)");
  }
  if (flags.server.empty() && !flags.key.empty()) {
    return bad("--key is only for --server");
  }
  return flags;
}

Clock::duration ToClock(absl::Duration d) {
  return std::chrono::duration_cast<Clock::duration>(
      absl::ToChronoNanoseconds(d));
}

// One probe: a user of its own, one event.
struct Probe {
  bool absence = false;
  // Observed through GetPrompts (else through WatchPrompts): harkd feeds
  // only prompts still pending to WatchPrompts, so a prompt GetPrompts
  // returned first would never reach the stream. Each probe is therefore
  // watched on one channel only.
  bool polled = false;
  std::string user;
  Clock::time_point sent{};
  Clock::time_point acked{};
  bool accepted = false;
  // The match probe's ack; the absence probe's deadline + lateness.
  Clock::time_point origin{};
  std::optional<Clock::time_point> watched;
  std::optional<Clock::time_point> got;
  // The rule of the prompt seen, for a sanity check.
  std::string watched_rule;
  std::string got_rule;
};

// The probes of a run; the user id "<prefix><index>" names the index.
class ProbeTable {
 public:
  ProbeTable(std::string prefix, size_t n)
      : prefix_(std::move(prefix)), probes_(n) {
    for (size_t i = 0; i < n; ++i) {
      probes_[i].user = absl::StrCat(prefix_, i);
    }
  }
  const std::string& user(size_t i) const { return probes_[i].user; }
  size_t size() const { return probes_.size(); }

  void Update(size_t i, const std::function<void(Probe&)>& fn) {
    absl::MutexLock lock(&mu_);
    fn(probes_[i]);
  }
  // Index of `user`, or -1 if it is not a probe of this run.
  int64_t Find(absl::string_view user) const {
    if (!absl::ConsumePrefix(&user, prefix_)) return -1;
    uint64_t i;
    if (!absl::SimpleAtoi(user, &i) || i >= probes_.size()) return -1;
    return static_cast<int64_t>(i);
  }
  std::vector<Probe> Snapshot() const {
    absl::MutexLock lock(&mu_);
    return probes_;
  }
  // Probes sent so far whose prompt has been seen on their channel.
  size_t Complete(size_t sent) const {
    absl::MutexLock lock(&mu_);
    size_t n = 0;
    for (size_t i = 0; i < sent && i < probes_.size(); ++i) {
      const Probe& p = probes_[i];
      if (p.polled ? p.got.has_value() : p.watched.has_value()) ++n;
    }
    return n;
  }

 private:
  const std::string prefix_;
  mutable absl::Mutex mu_;
  std::vector<Probe> probes_ ABSL_GUARDED_BY(mu_);
};

// Reads one WatchPrompts stream and notes when each probe's prompt arrives.
class Watcher {
 public:
  Watcher(const std::string& address, const std::string& key, ProbeTable* table)
      : table_(table) {
    stub_ = hark::v1::Prompts::NewStub(NewChannel(address));
    context_.AddMetadata("authorization", "Bearer " + key);
    reader_ = stub_->WatchPrompts(&context_, hark::v1::WatchPromptsRequest());
  }
  // Waits until the server fixed the stream's start (its initial metadata).
  void WaitStarted() { reader_->WaitForInitialMetadata(); }
  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  // Cancels the stream and joins; returns its final status.
  grpc::Status Stop() {
    context_.TryCancel();
    thread_.join();
    return status_;
  }
  uint64_t others() const { return others_.load(); }

 private:
  void Loop() {
    hark::v1::Prompt prompt;
    while (reader_->Read(&prompt)) {
      const Clock::time_point now = Clock::now();
      const int64_t i = table_->Find(prompt.user_id());
      if (i < 0) {
        others_.fetch_add(1);
        continue;
      }
      table_->Update(static_cast<size_t>(i), [&](Probe& p) {
        if (!p.watched.has_value()) {
          p.watched = now;
          p.watched_rule = prompt.rule_id();
        }
      });
    }
    status_ = reader_->Finish();
  }

  ProbeTable* const table_;
  std::unique_ptr<hark::v1::Prompts::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<hark::v1::Prompt>> reader_;
  std::thread thread_;
  grpc::Status status_;
  std::atomic<uint64_t> others_{0};
};

// Calls GetPrompts(user) for each outstanding probe every `poll`, from the
// probe's start until its prompt is returned or `timeout` after its origin.
class Poller {
 public:
  Poller(const std::string& address, const std::string& key, ProbeTable* table,
         size_t threads, absl::Duration poll, absl::Duration timeout)
      : key_(key),
        table_(table),
        poll_(ToClock(poll)),
        timeout_(ToClock(timeout)) {
    for (size_t t = 0; t < threads; ++t) {
      auto channel = NewChannel(address);
      channel->WaitForConnected(std::chrono::system_clock::now() +
                                std::chrono::seconds(10));
      threads_.emplace_back([this, channel] { Loop(channel); });
    }
  }
  ~Poller() { Stop(); }

  // Polls probe `i` from `start` on; gives up at `origin` + timeout.
  void Add(size_t i, Clock::time_point start, Clock::time_point origin) {
    absl::MutexLock lock(&mu_);
    jobs_.push_back(Job{i, start, origin + timeout_});
    cv_.Signal();
  }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.SignalAll();
    }
    for (std::thread& t : threads_) t.join();
  }
  uint64_t calls() const { return calls_.load(); }
  uint64_t failed_calls() const { return failed_.load(); }
  std::string first_error() const {
    absl::MutexLock lock(&mu_);
    return first_error_;
  }

 private:
  struct Job {
    size_t index;
    Clock::time_point next;
    Clock::time_point give_up;
  };

  void Loop(std::shared_ptr<grpc::Channel> channel) {
    auto stub = hark::v1::Prompts::NewStub(channel);
    for (;;) {
      Job job;
      {
        absl::MutexLock lock(&mu_);
        for (;;) {
          if (stopping_) return;
          auto best = std::min_element(
              jobs_.begin(), jobs_.end(),
              [](const Job& a, const Job& b) { return a.next < b.next; });
          const Clock::time_point now = Clock::now();
          if (best != jobs_.end() && best->next <= now) {
            job = *best;
            *best = jobs_.back();
            jobs_.pop_back();
            break;
          }
          const absl::Duration wait = best == jobs_.end()
                                          ? absl::Milliseconds(100)
                                          : absl::FromChrono(best->next - now);
          cv_.WaitWithTimeout(&mu_, wait);
        }
      }
      grpc::ClientContext context;
      context.AddMetadata("authorization", "Bearer " + key_);
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(10));
      hark::v1::GetPromptsRequest request;
      request.set_user_id(table_->user(job.index));
      request.set_limit(10);
      hark::v1::GetPromptsResponse response;
      const Clock::time_point called = Clock::now();
      const grpc::Status status =
          stub->GetPrompts(&context, request, &response);
      const Clock::time_point answered = Clock::now();
      calls_.fetch_add(1);
      if (!status.ok()) {
        failed_.fetch_add(1);
        absl::MutexLock lock(&mu_);
        if (first_error_.empty()) {
          first_error_ = absl::StrCat("GetPrompts: ", status.error_message());
        }
      } else if (response.prompts_size() > 0) {
        const std::string rule = response.prompts(0).rule_id();
        table_->Update(job.index, [&](Probe& p) {
          p.got = answered;
          p.got_rule = rule;
        });
        continue;
      }
      if (answered >= job.give_up) continue;
      job.next = called + poll_;
      absl::MutexLock lock(&mu_);
      jobs_.push_back(job);
    }
  }

  const std::string key_;
  ProbeTable* const table_;
  const Clock::duration poll_;
  const Clock::duration timeout_;
  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<Job> jobs_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> failed_{0};
};

// Nearest-rank percentiles of one series, in ms.
struct Series {
  std::string name;
  std::vector<double> ms;  // sorted
  size_t missing = 0;
  double Percentile(double p) const { return bench::Percentile(ms, p); }
};

// CPU of harkd's threads and of this process over phase 2.
struct CpuUse {
  double wall_seconds = 0;
  double client_seconds = 0;
  double server_seconds = 0;
  std::vector<ThreadCpu> server_threads;  // busiest first
  pid_t server_pid = -1;
};

struct Report {
  std::string target;
  LoadResult max_load;
  double background_target = 0;
  LoadResult background;
  absl::Duration probe_phase;
  std::vector<Series> series;  // match get/watch, absence get/watch, acks
  size_t rejected_probes = 0;
  uint64_t get_calls = 0;
  uint64_t get_failures = 0;
  uint64_t foreign_prompts = 0;
  size_t wrong_rule = 0;
  CpuUse cpu;
  std::vector<std::string> problems;
};

// Sends one probe event with TrackEvents; true if it was ACCEPTED.
bool SendProbe(hark::v1::Ingest::Stub& stub, const std::string& key,
               const hark::v1::TrackEventsRequest& request,
               std::string* error) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + key);
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  hark::v1::TrackEventsResponse response;
  const grpc::Status status = stub.TrackEvents(&context, request, &response);
  if (!status.ok()) {
    *error = absl::StrCat("probe TrackEvents failed: ", status.error_message());
    return false;
  }
  if (response.results_size() != 1 ||
      response.results(0).status() != hark::v1::EventResult::ACCEPTED) {
    *error =
        absl::StrCat("probe event not ACCEPTED: ", response.ShortDebugString());
    return false;
  }
  return true;
}

void PrintText(const Flags& flags, const Report& r) {
  std::printf(
      "hark-bench latency: %zu probes per series, one every %s per series; "
      "absence "
      "within %s, allowed lateness %s; GetPrompts every %s\n",
      flags.probes, absl::FormatDuration(flags.interval).c_str(),
      absl::FormatDuration(flags.within).c_str(),
      absl::FormatDuration(flags.lateness).c_str(),
      absl::FormatDuration(flags.poll).c_str());
  std::printf("target: %s\n\n", r.target.c_str());
  std::printf(
      "phase 1, maximum ingest rate: %s events/s (TrackEvents, %zu callers, "
      "batches of %zu, %s events in %.2f s, call p50/p99 %.2f/%.2f ms)\n",
      Thousands(r.max_load.events_per_second()).c_str(), flags.callers,
      flags.batch, Thousands(static_cast<double>(r.max_load.accepted)).c_str(),
      absl::ToDoubleSeconds(r.max_load.elapsed),
      r.max_load.LatencyPercentile(50), r.max_load.LatencyPercentile(99));
  std::printf(
      "phase 2, background load: %s events/s asked (%.2f of the maximum), "
      "%s achieved over %.2f s (call p50/p99 %.2f/%.2f ms); probes over "
      "%.2f s\n\n",
      Thousands(r.background_target).c_str(), flags.load,
      Thousands(r.background.events_per_second()).c_str(),
      absl::ToDoubleSeconds(r.background.elapsed),
      r.background.LatencyPercentile(50), r.background.LatencyPercentile(99),
      absl::ToDoubleSeconds(r.probe_phase));
  std::printf("%-34s %7s %7s %8s %8s %8s %8s %8s %8s\n", "series", "samples",
              "missing", "min ms", "p50 ms", "p90 ms", "p99 ms", "max ms",
              "p99<50");
  for (const Series& s : r.series) {
    const bool is_target = !absl::StartsWith(s.name, "probe");
    std::printf("%-34s %7zu %7zu %8.2f %8.2f %8.2f %8.2f %8.2f %8s\n",
                s.name.c_str(), s.ms.size(), s.missing,
                s.ms.empty() ? 0.0 : s.ms.front(), s.Percentile(50),
                s.Percentile(90), s.Percentile(99), s.Percentile(100),
                !is_target                                ? "-"
                : s.missing == 0 && s.Percentile(99) < 50 ? "met"
                                                          : "NOT met");
  }
  std::printf(
      "\nmatch: from the probe's TrackEvents answer on the client to the "
      "prompt on the WatchPrompts stream / in the answer of the first "
      "GetPrompts call returning it.\nabsence: from deadline + allowed "
      "lateness (probe_start's event time + %s + %s, the earliest moment "
      "harkd may fire) to the same.\nprobe ack: the probe's own TrackEvents "
      "call, send to answer.\n",
      absl::FormatDuration(flags.within).c_str(),
      absl::FormatDuration(flags.lateness).c_str());
  std::printf("GetPrompts calls: %s (%s failed)\n",
              Thousands(static_cast<double>(r.get_calls)).c_str(),
              Thousands(static_cast<double>(r.get_failures)).c_str());
  const double wall = std::max(r.cpu.wall_seconds, 1e-9);
  std::string line = absl::StrFormat(
      "CPU during phase 2: hark-bench %.2f cores", r.cpu.client_seconds / wall);
  if (!r.cpu.server_threads.empty()) {
    absl::StrAppendFormat(&line, ", harkd %.2f cores; harkd threads:",
                          r.cpu.server_seconds / wall);
    for (size_t i = 0; i < r.cpu.server_threads.size() && i < 6; ++i) {
      const ThreadCpu& t = r.cpu.server_threads[i];
      if (t.seconds / wall < 0.01) break;
      absl::StrAppendFormat(
          &line, "%s %s[%d]%s %.2f", i == 0 ? "" : ",", t.name, t.tid,
          t.tid == r.cpu.server_pid ? "(main)" : "", t.seconds / wall);
    }
  }
  std::printf("%s\n", line.c_str());
  if (!r.problems.empty()) {
    std::printf("\nProblems:\n");
    for (const std::string& p : r.problems) std::printf("  %s\n", p.c_str());
  }
}

void PrintJson(const Flags& flags, const Report& r) {
  std::string out = "{";
  absl::StrAppendFormat(
      &out,
      "\"config\":{\"probes\":%zu,\"interval_ms\":%.3f,\"within_ms\":%.3f,"
      "\"allowed_lateness_ms\":%.3f,\"poll_ms\":%.3f,\"pollers\":%zu,"
      "\"load\":%.3f,\"max_events\":%zu,\"users\":%zu,\"batch\":%zu,"
      "\"callers\":%zu,\"seed\":%d,\"target\":%s},",
      flags.probes, absl::ToDoubleMilliseconds(flags.interval),
      absl::ToDoubleMilliseconds(flags.within),
      absl::ToDoubleMilliseconds(flags.lateness),
      absl::ToDoubleMilliseconds(flags.poll), flags.pollers, flags.load,
      flags.max_events, flags.users, flags.batch, flags.callers, flags.seed,
      JsonString(r.target));
  auto load_json = [](const LoadResult& l) {
    return absl::StrFormat(
        "{\"events_per_second\":%.1f,\"accepted\":%d,\"seconds\":%.3f,"
        "\"errors\":%d,\"retries\":%d,\"call_ms\":{\"p50\":%.3f,\"p99\":%.3f}}",
        l.events_per_second(), l.accepted, absl::ToDoubleSeconds(l.elapsed),
        l.errors(), l.retries, l.LatencyPercentile(50),
        l.LatencyPercentile(99));
  };
  absl::StrAppend(&out, "\"max_load\":", load_json(r.max_load), ",");
  absl::StrAppendFormat(&out, "\"background_target_events_per_second\":%.1f,",
                        r.background_target);
  absl::StrAppend(&out, "\"background\":", load_json(r.background), ",");
  absl::StrAppendFormat(&out, "\"probe_seconds\":%.3f,",
                        absl::ToDoubleSeconds(r.probe_phase));
  out += "\"series\":[";
  for (size_t i = 0; i < r.series.size(); ++i) {
    const Series& s = r.series[i];
    absl::StrAppendFormat(
        &out,
        "%s{\"name\":%s,\"samples\":%zu,\"missing\":%zu,\"min_ms\":%.3f,"
        "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
        i == 0 ? "" : ",", JsonString(s.name), s.ms.size(), s.missing,
        s.ms.empty() ? 0.0 : s.ms.front(), s.Percentile(50), s.Percentile(90),
        s.Percentile(99), s.Percentile(100));
  }
  const double wall = std::max(r.cpu.wall_seconds, 1e-9);
  absl::StrAppendFormat(
      &out,
      "],\"get_prompts_calls\":%d,\"get_prompts_failures\":%d,"
      "\"client_cpu_cores\":%.3f,\"server_cpu_cores\":%.3f,"
      "\"server_threads\":[",
      r.get_calls, r.get_failures, r.cpu.client_seconds / wall,
      r.cpu.server_seconds / wall);
  for (size_t t = 0; t < r.cpu.server_threads.size() && t < 8; ++t) {
    const ThreadCpu& thread = r.cpu.server_threads[t];
    absl::StrAppendFormat(
        &out, "%s{\"tid\":%d,\"name\":%s,\"main\":%s,\"cores\":%.3f}",
        t == 0 ? "" : ",", thread.tid, JsonString(thread.name),
        thread.tid == r.cpu.server_pid ? "true" : "false",
        thread.seconds / wall);
  }
  out += "],\"problems\":[";
  for (size_t i = 0; i < r.problems.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", JsonString(r.problems[i]));
  }
  out += "]}\n";
  std::fputs(out.c_str(), stdout);
}

class Run {
 public:
  Run(const Flags& flags, const LatencyHooks& hooks)
      : flags_(flags), hooks_(hooks) {}

  int Main() {
    auto dir = TempDir::Create();
    if (!dir.ok()) return Fail(dir.status());
    dir_ = *std::move(dir);
    if (hooks_.on_resources) hooks_.on_resources(-1, dir_->path());

    LoadOptions load;
    load.callers = flags_.callers;
    load.progress = flags_.progress;
    if (flags_.server.empty()) {
      absl::Status written = WriteRules(dir_->path() + "/rules");
      if (!written.ok()) return Fail(written);
      std::vector<std::string> extra = {
          "--durability=normal",
          "--allowed-lateness=" + absl::FormatDuration(flags_.lateness)};
      extra.insert(extra.end(), flags_.harkd_flags.begin(),
                   flags_.harkd_flags.end());
      auto started = HarkdLauncher::Start(flags_.harkd, dir_->path(), extra);
      if (!started.ok()) return Fail(started.status());
      harkd_ = *std::move(started);
      if (hooks_.on_resources) hooks_.on_resources(harkd_->pid(), dir_->path());
      auto key = harkd_->Key("ingest");
      if (!key.ok()) return Fail(key.status());
      load.key = *key;
      load.address = harkd_->address();
      report_.target = absl::StrCat("harkd started by hark-bench (",
                                    flags_.harkd, ") on ", harkd_->address(),
                                    ", durability normal, --allowed-lateness=",
                                    absl::FormatDuration(flags_.lateness),
                                    ", database in ", dir_->path());
    } else {
      load.key = flags_.key;
      load.address = flags_.server;
      report_.target = absl::StrCat("running server ", flags_.server);
    }

    const int exit_code = Measure(load);

    hooks_.release([&] {
      if (harkd_ != nullptr) {
        absl::Status stopped = harkd_->Stop();
        if (!stopped.ok()) {
          report_.problems.push_back(
              absl::StrCat("harkd did not stop cleanly: ", stopped.message()));
        }
        harkd_.reset();
      }
      dir_.reset();
    });
    if (flags_.json) {
      PrintJson(flags_, report_);
    } else {
      PrintText(flags_, report_);
    }
    return report_.problems.empty() ? exit_code : 1;
  }

 private:
  int Fail(const absl::Status& status) {
    std::cerr << "hark-bench: " << status.message() << "\n";
    hooks_.release([&] {
      if (harkd_ != nullptr) (void)harkd_->Stop();
      harkd_.reset();
      dir_.reset();
    });
    return 1;
  }

  absl::Status WriteRules(const std::string& folder) {
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    absl::StatusOr<std::string> within = RuleDuration(flags_.within);
    if (!within.ok()) return within.status();
    std::ofstream out(folder + "/latency.yaml");
    out << absl::StrReplaceAll(kRules, {{"$WITHIN", *within}});
    out.close();
    if (!out) return absl::InternalError("cannot write " + folder);
    return absl::OkStatus();
  }

  void Status(const std::string& text) {
    if (flags_.progress) {
      std::fprintf(stderr, "\r\033[K%s", text.c_str());
      std::fflush(stderr);
    }
  }

  int Measure(LoadOptions load) {
    const std::string run_id = RunId("lat");
    WorkloadOptions workload;
    workload.users = flags_.users;
    workload.batch = flags_.batch;
    workload.seed = flags_.seed;

    // Phase 1: the maximum rate.
    Status("phase 1: generating events...");
    workload.events = flags_.max_events;
    workload.id_prefix = run_id + "-max";
    workload.now = absl::Now();
    absl::StatusOr<LoadResult> max_load;
    {
      const auto requests = MakeTrackRequests(workload);
      Status("phase 1: maximum ingest rate...");
      max_load = RunUnary(load, requests);
    }
    if (!max_load.ok()) {
      report_.problems.push_back(
          absl::StrCat("phase 1 not run: ", max_load.status().message()));
      return 1;
    }
    report_.max_load = *std::move(max_load);
    if (report_.max_load.errors() > 0) {
      report_.problems.push_back(absl::StrCat(
          "phase 1: ", report_.max_load.errors(), " events not ACCEPTED"));
    }
    const double rate = report_.max_load.events_per_second() * flags_.load;
    report_.background_target = rate;

    // Phase 2: enough background events to outlast the probes.
    const absl::Duration warmup = absl::Seconds(1);
    const absl::Duration expected =
        warmup + flags_.interval * static_cast<double>(flags_.probes) +
        flags_.within + flags_.lateness + absl::Seconds(3);
    workload.events = static_cast<size_t>(
        std::max(1000.0, rate * absl::ToDoubleSeconds(expected) * 1.25));
    workload.id_prefix = run_id + "-bg";
    workload.now = absl::Now();
    Status(absl::StrCat("phase 2: generating ", workload.events,
                        " background events..."));
    const auto background_requests = MakeTrackRequests(workload);

    // Probe k is of series k % 4: match/watch, absence/watch, match/get,
    // absence/get; one every interval / 4.
    ProbeTable table(run_id + "-u", 4 * flags_.probes);
    Status("phase 2: opening WatchPrompts...");
    Watcher watcher(load.address, load.key, &table);
    watcher.WaitStarted();
    watcher.Start();
    Poller poller(load.address, load.key, &table, flags_.pollers, flags_.poll,
                  flags_.timeout);
    auto probe_stub = hark::v1::Ingest::NewStub(NewChannel(load.address));

    std::atomic<bool> stop{false};
    LoadOptions background = load;
    background.progress = false;
    background.max_events_per_second = rate;
    background.stop = &stop;
    const double client_before = SelfCpuSeconds();
    std::vector<ThreadCpu> server_before;
    if (harkd_ != nullptr) server_before = harkd_->ThreadCpuTimes();
    const Clock::time_point phase_start = Clock::now();
    absl::StatusOr<LoadResult> background_result;
    bool ran_out = false;
    std::thread background_thread([&] {
      background_result = RunUnary(background, background_requests);
      // It must last until every prompt was seen (or given up on).
      ran_out = !stop.load();
    });

    Status("phase 2: warming up...");
    std::this_thread::sleep_for(ToClock(warmup));
    const Clock::time_point probes_start = Clock::now();
    const Clock::duration step = ToClock(flags_.interval) / 4;
    const Clock::duration within = ToClock(flags_.within);
    const Clock::duration lateness = ToClock(flags_.lateness);
    size_t rejected = 0;
    Clock::time_point last_origin = probes_start;
    for (size_t k = 0; k < table.size(); ++k) {
      std::this_thread::sleep_until(probes_start +
                                    step * static_cast<int64_t>(k));
      const bool absence = k % 2 == 1;
      const bool polled = k % 4 >= 2;
      hark::v1::TrackEventsRequest request;
      hark::v1::Event* event = request.add_events();
      event->set_event_id(absl::StrCat(run_id, "-p", k));
      event->set_user_id(table.user(k));
      event->set_name(absence ? "probe_start" : "probe");
      // The event time and this process's steady clock at that instant.
      const Clock::time_point steady_ts = Clock::now();
      const int64_t micros = absl::ToUnixMicros(absl::Now());
      event->mutable_timestamp()->set_seconds(micros / 1000000);
      event->mutable_timestamp()->set_nanos(
          static_cast<int32_t>(micros % 1000000) * 1000);
      std::string error;
      const Clock::time_point sent = Clock::now();
      const bool ok = SendProbe(*probe_stub, load.key, request, &error);
      const Clock::time_point acked = Clock::now();
      const Clock::time_point origin =
          absence ? steady_ts + within + lateness : acked;
      table.Update(k, [&](Probe& p) {
        p.absence = absence;
        p.polled = polled;
        p.sent = sent;
        p.acked = acked;
        p.accepted = ok;
        p.origin = origin;
      });
      if (!ok) {
        if (++rejected <= 3) report_.problems.push_back(error);
        continue;
      }
      last_origin = origin;
      if (polled) poller.Add(k, origin, origin);
      if (k % 50 == 0) {
        Status(absl::StrFormat("phase 2: %d/%d probes sent, %d prompts seen", k,
                               table.size(), table.Complete(k)));
      }
    }
    // Waits for the last prompts (at most the timeout after the last
    // origin).
    const Clock::time_point give_up =
        Clock::now() + within + lateness + ToClock(flags_.timeout);
    while (Clock::now() < give_up &&
           table.Complete(table.size()) + rejected < table.size()) {
      Status(
          absl::StrFormat("phase 2: waiting for the last prompts, %d/%d "
                          "seen",
                          table.Complete(table.size()), table.size()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    report_.probe_phase = absl::FromChrono(Clock::now() - probes_start);
    stop.store(true);
    background_thread.join();
    const Clock::time_point phase_end = Clock::now();
    report_.cpu.wall_seconds =
        std::chrono::duration<double>(phase_end - phase_start).count();
    report_.cpu.client_seconds = SelfCpuSeconds() - client_before;
    if (harkd_ != nullptr) {
      report_.cpu.server_pid = harkd_->pid();
      for (ThreadCpu t : harkd_->ThreadCpuTimes()) {
        for (const ThreadCpu& before : server_before) {
          if (before.tid == t.tid) t.seconds -= before.seconds;
        }
        report_.cpu.server_seconds += t.seconds;
        report_.cpu.server_threads.push_back(std::move(t));
      }
      std::sort(
          report_.cpu.server_threads.begin(), report_.cpu.server_threads.end(),
          [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
    }
    poller.Stop();
    const grpc::Status watch_status = watcher.Stop();
    Status("");
    if (!watch_status.ok() &&
        watch_status.error_code() != grpc::StatusCode::CANCELLED) {
      report_.problems.push_back(
          absl::StrCat("WatchPrompts ended: ", watch_status.error_message()));
    }

    if (!background_result.ok()) {
      report_.problems.push_back(absl::StrCat(
          "background load not run: ", background_result.status().message()));
    } else {
      report_.background = *std::move(background_result);
      if (report_.background.errors() > 0) {
        report_.problems.push_back(
            absl::StrCat("background: ", report_.background.errors(),
                         " events not ACCEPTED"));
      }
      if (ran_out) {
        report_.problems.push_back(absl::StrFormat(
            "the background load ran out after %.2f s, before the last "
            "prompt was seen (%.2f s after the last probe's origin)",
            absl::ToDoubleSeconds(report_.background.elapsed),
            std::chrono::duration<double>(phase_end - last_origin).count()));
      }
    }
    report_.rejected_probes = rejected;
    report_.get_calls = poller.calls();
    report_.get_failures = poller.failed_calls();
    if (poller.failed_calls() > 0) {
      report_.problems.push_back(poller.first_error());
    }
    report_.foreign_prompts = watcher.others();

    Series match_get{"match -> GetPrompts", {}, 0};
    Series match_watch{"match -> WatchPrompts", {}, 0};
    Series absence_get{"absence -> GetPrompts", {}, 0};
    Series absence_watch{"absence -> WatchPrompts", {}, 0};
    Series acks{"probe ack (TrackEvents, 1 event)", {}, 0};
    for (const Probe& p : table.Snapshot()) {
      if (!p.accepted) continue;
      acks.ms.push_back(Millis(p.acked - p.sent));
      const std::string rule = p.absence ? "probe_absence" : "probe_match";
      if (p.polled) {
        Series& get = p.absence ? absence_get : match_get;
        if (p.got.has_value()) {
          get.ms.push_back(Millis(*p.got - p.origin));
          if (p.got_rule != rule) ++report_.wrong_rule;
        } else {
          ++get.missing;
        }
      } else {
        Series& watch = p.absence ? absence_watch : match_watch;
        if (p.watched.has_value()) {
          watch.ms.push_back(Millis(*p.watched - p.origin));
          if (p.watched_rule != rule) ++report_.wrong_rule;
        } else {
          ++watch.missing;
        }
      }
    }
    for (Series* s :
         {&match_get, &match_watch, &absence_get, &absence_watch, &acks}) {
      std::sort(s->ms.begin(), s->ms.end());
      if (s->missing > 0) {
        report_.problems.push_back(
            absl::StrCat(s->name, ": ", s->missing, " prompts not seen within ",
                         absl::FormatDuration(flags_.timeout)));
      }
      report_.series.push_back(std::move(*s));
    }
    if (rejected > 0) {
      report_.problems.push_back(
          absl::StrCat(rejected, " probe events not ACCEPTED"));
    }
    if (report_.wrong_rule > 0) {
      report_.problems.push_back(absl::StrCat(
          report_.wrong_rule, " prompts came from the other probe rule"));
    }
    return report_.problems.empty() ? 0 : 1;
  }

  const Flags& flags_;
  const LatencyHooks& hooks_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<HarkdLauncher> harkd_;
  Report report_;
};

}  // namespace

std::string LatencyUsage(const std::string& default_harkd) {
  return absl::StrFormat(kUsage, default_harkd);
}

int LatencyMain(int argc, char** argv, const LatencyHooks& hooks) {
  absl::StatusOr<Flags> flags = ParseFlags(argc, argv, hooks);
  if (!flags.ok()) {
    std::cerr << "hark-bench: " << flags.status().message()
              << "\nRun 'hark-bench latency --help' for usage.\n";
    return 2;
  }
  Run run(*flags, hooks);
  return run.Main();
}

}  // namespace hark::bench
