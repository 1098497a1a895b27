// hark-engine-bench: the matching engine alone, on one thread.
//
// Builds 100 rules (25 match, 25 count, 25 sequence, 25 sequence with
// `absent`) over a vocabulary of 50 event names, pre-generates a stream of
// events for uniformly random users with increasing timestamps, feeds it to
// one Engine and reports events/s, live states and the engine's own
// estimate of bytes per live state, cross-checked against the heap growth
// that malloc reports (mallinfo2).
//
// Only Engine::Process (and collecting its matches) is timed for the
// throughput, over all but the last 1% of the stream; then writing a full
// checkpoint of the state and restoring it into a fresh engine are timed
// once each, and, after feeding the last 1%, a delta checkpoint of the
// users it changed and restoring the full one plus the delta. Events are
// built from 4096 templates of name and properties in chunks of 64K
// messages, outside the timed part, so that 5M events do not need gigabytes
// of messages at once.

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "hark/v1/common.pb.h"
#include "hark/v1/ingest.pb.h"
#include "server/engine/engine.h"
#include "server/rules/expr.h"
#include "server/rules/rule_set.h"

namespace {

using hark::engine::Engine;
using hark::engine::EngineOptions;
using hark::engine::MatchOut;
namespace rules = hark::rules;

constexpr char kUsage[] =
    R"(hark-engine-bench - the matching engine alone, one thread

Usage: hark-engine-bench [--users=N] [--events=N] [--span=DURATION]
                         [--warmup=N] [--seed=N]

  --users=N      distinct users, uniformly random per event. Default 1000000
  --events=N     events in the stream. Default 5000000
  --span=D       event time the stream covers (timestamps increase evenly).
                 Default 2h
  --warmup=N     events fed before the timed part. Default 1000000
  --seed=N       random seed. Default 1
)";

struct Options {
  int64_t users = 1000000;
  int64_t events = 5000000;
  absl::Duration span = absl::Hours(2);
  int64_t warmup = 1000000;
  uint64_t seed = 1;
};

bool ParseFlags(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    auto value = [&](absl::string_view name, absl::string_view* v) {
      if (!absl::StartsWith(arg, name)) return false;
      *v = arg.substr(name.size());
      return true;
    };
    absl::string_view v;
    bool ok = true;
    if (value("--users=", &v)) {
      ok = absl::SimpleAtoi(v, &o->users) && o->users > 0;
    } else if (value("--events=", &v)) {
      ok = absl::SimpleAtoi(v, &o->events) && o->events > 0;
    } else if (value("--warmup=", &v)) {
      ok = absl::SimpleAtoi(v, &o->warmup) && o->warmup >= 0;
    } else if (value("--seed=", &v)) {
      ok = absl::SimpleAtoi(v, &o->seed);
    } else if (value("--span=", &v)) {
      ok = absl::ParseDuration(v, &o->span) && o->span > absl::ZeroDuration();
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "bad flag %s\n\n%s", argv[i], kUsage);
      return false;
    }
  }
  if (o->warmup >= o->events) o->warmup = 0;
  return true;
}

std::string Name(int i) { return absl::StrFormat("ev_%02d", i % 50); }

std::shared_ptr<const rules::Predicate> Where(
    const std::string& text, std::vector<std::string> aliases = {}) {
  rules::ExprEnv env;
  env.step_aliases = std::move(aliases);
  rules::ExprError error;
  auto p = rules::CompilePredicate(text, env, &error);
  if (!p.ok()) {
    std::fprintf(stderr, "predicate %s: %s\n", text.c_str(),
                 error.message.c_str());
    std::exit(1);
  }
  return std::shared_ptr<const rules::Predicate>(std::move(p).value());
}

rules::EventFilter Filter(const std::string& event, const std::string& where,
                          std::vector<std::string> aliases = {}) {
  rules::EventFilter f;
  f.event = event;
  if (!where.empty()) f.where = Where(where, std::move(aliases));
  return f;
}

// 25 rules of each kind. Each rule reads one to three event names, so an
// event touches about 3.5 rules; the predicates let a fraction through.
std::shared_ptr<const rules::RuleSet> MakeRules() {
  rules::RuleSetBuilder builder;
  const absl::Duration count_within[] = {absl::Minutes(10), absl::Minutes(30),
                                         absl::Hours(1)};
  const absl::Duration seq_within[] = {absl::Hours(1), absl::Hours(24),
                                       absl::Hours(24 * 14)};
  const absl::Duration absent_within[] = {absl::Minutes(5), absl::Minutes(10),
                                          absl::Minutes(30), absl::Hours(1)};
  for (int i = 0; i < 25; ++i) {
    rules::Rule r;
    r.id = absl::StrCat("match_", i);
    const char* where[] = {
        "props.amount >= 95",
        R"(props.severity == "fatal" && user.plan != "free")",
        R"(props.code in ["E1", "E2"] && props.amount > 80)"};
    r.pattern = rules::MatchPattern{Filter(Name(2 * i), where[i % 3])};
    builder.AddRule(std::move(r));
  }
  for (int i = 0; i < 25; ++i) {
    rules::Rule r;
    r.id = absl::StrCat("count_", i);
    rules::CountPattern c;
    c.filter =
        Filter(Name(2 * i + 1), R"(props.severity in ["error", "fatal"])");
    if (i % 2 == 0) c.group_by = {"code"};
    c.at_least = 3 + i % 3;
    c.within = count_within[i % 3];
    r.pattern = std::move(c);
    builder.AddRule(std::move(r));
  }
  for (int i = 0; i < 25; ++i) {
    rules::Rule r;
    r.id = absl::StrCat("sequence_", i);
    rules::SequencePattern s;
    s.steps.push_back(
        {"a", Filter(Name(3 * i), R"(props.direction == "upgrade")")});
    if (i % 2 == 0) {
      s.steps.push_back(
          {"b", Filter(Name(3 * i + 7), "props.plan == a.props.plan", {"a"})});
    } else {
      s.steps.push_back({"b", Filter(Name(3 * i + 7), "props.amount > 50")});
    }
    if (i % 4 == 3) {
      s.steps.push_back({"c", Filter(Name(3 * i + 13), "", {"a", "b"})});
    }
    s.within = seq_within[i % 3];
    r.pattern = std::move(s);
    builder.AddRule(std::move(r));
  }
  for (int i = 0; i < 25; ++i) {
    rules::Rule r;
    r.id = absl::StrCat("absence_", i);
    rules::SequencePattern s;
    s.steps.push_back(
        {"start", Filter(Name(5 * i + 3), i % 2 ? "props.amount < 50" : "")});
    if (i % 5 == 4) {
      s.steps.push_back({"next", Filter(Name(5 * i + 4), "", {"start"})});
    }
    s.absent = Filter(Name(5 * i + 11), "");
    s.within = absent_within[i % 4];
    r.pattern = std::move(s);
    builder.AddRule(std::move(r));
  }
  auto set = builder.Build();
  if (!set.ok()) {
    std::fprintf(stderr, "rules: %s\n", set.status().ToString().c_str());
    std::exit(1);
  }
  return *set;
}

// `user.plan` from a per-user table, looked up by id as a real trait store
// would.
class BenchTraits final : public hark::engine::TraitSource {
 public:
  BenchTraits(const std::vector<std::string>& ids, std::mt19937_64& rng) {
    const char* plans[] = {"free", "pro", "team"};
    for (int i = 0; i < 3; ++i) plans_[i].set_string_value(plans[i]);
    by_id_.reserve(ids.size());
    for (const std::string& id : ids) by_id_[id] = rng() % 3;
  }
  const hark::v1::Value* Trait(absl::string_view user,
                               absl::string_view key) const override {
    if (key != "plan") return nullptr;
    auto it = by_id_.find(user);
    return it == by_id_.end() ? nullptr : &plans_[it->second];
  }

 private:
  hark::v1::Value plans_[3];
  absl::flat_hash_map<std::string, uint8_t> by_id_;
};

struct StreamEvent {
  uint32_t user;
  uint32_t tmpl;
  int64_t micros;
};

// Bytes in use from the heap and from mmap (large tables are mmapped).
uint64_t HeapInUse() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

// CPU time of the calling thread: on a shared machine, wall time also
// counts the time other processes hold the core.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Runs `f` once, storing in `*took` how long it ran, and returns its result.
template <typename F>
auto Timed(F&& f, absl::Duration* took) {
  const absl::Time start = absl::Now();
  auto result = f();
  *took = absl::Now() - start;
  return result;
}

void SetTime(int64_t micros, hark::v1::Event* e) {
  e->mutable_timestamp()->set_seconds(micros / 1000000);
  e->mutable_timestamp()->set_nanos(static_cast<int32_t>(micros % 1000000) *
                                    1000);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (absl::string_view(argv[i]) == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  if (!ParseFlags(argc, argv, &o)) return 2;

  std::mt19937_64 rng(o.seed);
  auto set = MakeRules();

  std::vector<std::string> ids(o.users);
  for (int64_t i = 0; i < o.users; ++i)
    ids[i] = absl::StrFormat("user_%07d", i);
  BenchTraits traits(ids, rng);

  // Templates: a name and five properties each.
  const char* severities[] = {"info", "warning", "error", "fatal"};
  const char* plans[] = {"free", "pro", "team"};
  const char* directions[] = {"upgrade", "downgrade"};
  std::vector<hark::v1::Event> templates(4096);
  for (size_t i = 0; i < templates.size(); ++i) {
    hark::v1::Event& e = templates[i];
    e.set_event_id("x");
    e.set_name(Name(static_cast<int>(rng() % 50)));
    auto& p = *e.mutable_properties();
    p["severity"].set_string_value(severities[rng() % 4]);
    p["code"].set_string_value(absl::StrCat("E", 1 + rng() % 8));
    p["plan"].set_string_value(plans[rng() % 3]);
    p["direction"].set_string_value(directions[rng() % 2]);
    p["amount"].set_number_value(static_cast<double>(rng() % 100));
  }
  const int64_t t0 = absl::ToUnixMicros(absl::FromUnixSeconds(1767225600));
  const int64_t span = absl::ToInt64Microseconds(o.span);
  std::vector<StreamEvent> stream(o.events);
  for (int64_t i = 0; i < o.events; ++i) {
    stream[i] = StreamEvent{static_cast<uint32_t>(rng() % o.users),
                            static_cast<uint32_t>(rng() % templates.size()),
                            t0 + span * i / o.events};
  }

  // Events are materialized in chunks outside the timed part (5M messages
  // at once would take gigabytes); only Engine::Process is timed.
  constexpr int64_t kChunk = 1 << 16;
  const uint64_t heap_before = HeapInUse();
  std::vector<hark::v1::Event> chunk(kChunk);
  EngineOptions options;
  Engine engine(set, options);
  std::vector<MatchOut> out;
  out.reserve(64);
  uint64_t matches = 0;
  using Clock = std::chrono::steady_clock;
  double cpu_s = 0;  // this thread's CPU time in the timed parts
  auto feed = [&](int64_t from, int64_t to) {
    Clock::duration timed{};
    for (int64_t base = from; base < to; base += kChunk) {
      const int64_t n = std::min(kChunk, to - base);
      for (int64_t j = 0; j < n; ++j) {
        const StreamEvent& s = stream[base + j];
        hark::v1::Event& e = chunk[j];
        e = templates[s.tmpl];
        e.set_user_id(ids[s.user]);
        SetTime(s.micros, &e);
      }
      const double cpu_start = ThreadCpuSeconds();
      const auto start = Clock::now();
      for (int64_t j = 0; j < n; ++j) {
        engine.Process(base + j + 1, chunk[j], traits, &out);
        matches += out.size();
        out.clear();
      }
      timed += Clock::now() - start;
      cpu_s += ThreadCpuSeconds() - cpu_start;
    }
    return std::chrono::duration<double>(timed).count();
  };

  std::printf(
      "hark-engine-bench: %d rules (25 match, 25 count, 25 sequence, "
      "25 sequence+absent), %lld users, %lld events over %s of event "
      "time\n",
      static_cast<int>(set->rules().size()), static_cast<long long>(o.users),
      static_cast<long long>(o.events), absl::FormatDuration(o.span).c_str());
  const double warm_s = feed(0, o.warmup);
  const double warm_cpu_s = cpu_s;
  // The last 1% of the stream is fed after the full checkpoint below, to
  // time a delta of what it changed.
  const int64_t tail = o.events / 100;
  const double timed_s = feed(o.warmup, o.events - tail);
  const double timed_cpu_s = cpu_s - warm_cpu_s;
  const double all_s = warm_s + timed_s;
  const int64_t timed = o.events - tail - o.warmup;
  std::vector<hark::v1::Event>().swap(chunk);  // out of the heap figure

  const hark::engine::EngineStats st = engine.stats();
  const uint64_t heap_after = HeapInUse();
  const double per_state =
      st.live_states ? static_cast<double>(st.state_bytes) / st.live_states : 0;
  const double heap_per_state =
      st.live_states
          ? static_cast<double>(heap_after - heap_before) / st.live_states
          : 0;

  std::printf("\n");
  std::printf(
      "  throughput (after %lld warm-up events): %12.0f events/s  "
      "(%.0f ns/event, wall time)\n",
      static_cast<long long>(o.warmup), timed / timed_s, 1e9 * timed_s / timed);
  std::printf(
      "  per core (thread CPU time, same part):  %12.0f events/s  "
      "(%.0f ns/event)\n",
      timed / timed_cpu_s, 1e9 * timed_cpu_s / timed);
  std::printf("  throughput (whole stream, from empty):  %12.0f events/s\n",
              (o.events - tail) / all_s);
  if (o.warmup > 0) {
    std::printf("  throughput (warm-up part only):         %12.0f events/s\n",
                o.warmup / warm_s);
  }
  std::printf("  matches emitted:                        %12llu\n",
              static_cast<unsigned long long>(matches));
  std::printf(
      "  live states:                            %12llu  (%llu users "
      "with state, %llu absence deadlines pending)\n",
      static_cast<unsigned long long>(st.live_states),
      static_cast<unsigned long long>(st.users),
      static_cast<unsigned long long>(st.pending_deadlines));
  std::printf(
      "  state bytes (engine estimate):          %12llu  (%.1f bytes "
      "per live state)\n",
      static_cast<unsigned long long>(st.state_bytes), per_state);
  std::printf(
      "  heap growth (mallinfo2):                %12llu  (%.1f bytes "
      "per live state)\n",
      static_cast<unsigned long long>(heap_after - heap_before),
      heap_per_state);
  std::printf("  late events: %llu, type mismatches: %llu\n",
              static_cast<unsigned long long>(st.late_events),
              static_cast<unsigned long long>(st.type_mismatches));

  // What harkd's engine thread pays for a full checkpoint (plus writing
  // the bytes), and on start-up to load it.
  absl::Duration checkpoint_time, restore_time;
  const std::string checkpoint =
      Timed([&] { return engine.Checkpoint(); }, &checkpoint_time);
  Engine restored(set, options);
  const absl::Status restore =
      Timed([&] { return restored.Restore(checkpoint); }, &restore_time);
  if (!restore.ok()) {
    std::fprintf(stderr, "restore: %s\n", restore.ToString().c_str());
    return 1;
  }
  std::printf(
      "  checkpoint (full):                      %12zu bytes, written in "
      "%.0f ms, restored in %.0f ms\n",
      checkpoint.size(), absl::ToDoubleMilliseconds(checkpoint_time),
      absl::ToDoubleMilliseconds(restore_time));
  // And for a delta (the checkpoints harkd writes while few users change):
  // the last 1% of the stream, then the users it changed.
  chunk.resize(kChunk);
  feed(o.events - tail, o.events);
  const uint64_t changed = engine.changed_users();
  absl::Duration delta_time, chain_time;
  const absl::StatusOr<std::string> delta =
      Timed([&] { return engine.CheckpointDelta(); }, &delta_time);
  if (!delta.ok()) {
    std::fprintf(stderr, "delta: %s\n", delta.status().ToString().c_str());
    return 1;
  }
  Engine chained(set, options);
  const absl::Status chain =
      Timed([&] { return chained.Restore(checkpoint, {*delta}); }, &chain_time);
  if (!chain.ok() ||
      chained.stats().live_states != engine.stats().live_states) {
    std::fprintf(stderr, "restore with the delta: %s, %llu live states\n",
                 chain.ToString().c_str(),
                 static_cast<unsigned long long>(chained.stats().live_states));
    return 1;
  }
  std::printf(
      "  checkpoint (delta, %lld more events):  %12zu bytes, %llu users, "
      "written in %.1f ms; full + delta restored in %.0f ms\n",
      static_cast<long long>(tail), delta->size(),
      static_cast<unsigned long long>(changed),
      absl::ToDoubleMilliseconds(delta_time),
      absl::ToDoubleMilliseconds(chain_time));
  std::printf(
      "\n  targets: >= 500000 events/s per core: %s;  <= 64 bytes "
      "per live state: %s\n",
      timed / timed_cpu_s >= 500000 ? "met" : "MISSED",
      per_state <= 64 && heap_per_state <= 64 ? "met" : "MISSED");
  return 0;
}
