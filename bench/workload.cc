#include "bench/workload.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "hark/v1/common.pb.h"

namespace hark::bench {
namespace {

// splitmix64: a tiny, fast generator whose output for (seed, index) does not
// depend on how many events were generated before, so batches can be built
// in any order and the baseline sees the same events as the server.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t index)
      : state_(seed * 0x9E3779B97F4A7C15ull ^
               (index + 1) * 0xBF58476D1CE4E5B9ull) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform enough in [0, n) for a workload (n is far below 2^32).
  uint64_t Below(uint64_t n) { return Next() % n; }
  template <size_t N>
  const char* Pick(const char* const (&choices)[N]) {
    return choices[Below(N)];
  }

 private:
  uint64_t state_;
};

void SetString(hark::v1::Event& event, const char* key, std::string value) {
  (*event.mutable_properties())[key].set_string_value(std::move(value));
}
void SetNumber(hark::v1::Event& event, const char* key, double value) {
  (*event.mutable_properties())[key].set_number_value(value);
}
void SetBool(hark::v1::Event& event, const char* key, bool value) {
  (*event.mutable_properties())[key].set_bool_value(value);
}

constexpr const char* kPaths[] = {"/",           "/dashboard", "/settings",
                                  "/billing",    "/reports",   "/projects/42",
                                  "/onboarding", "/help"};
constexpr const char* kPlans[] = {"free", "starter", "team", "enterprise"};
constexpr const char* kPlatforms[] = {"web", "ios", "android", "api"};
constexpr const char* kVersions[] = {"4.12.0", "4.12.1", "4.13.0"};
constexpr const char* kSeverities[] = {"warning", "error", "error", "fatal"};
constexpr const char* kFeatures[] = {"export", "share", "search", "import",
                                     "comment"};
constexpr const char* kReasons[] = {"too_expensive", "missing_feature",
                                    "switched_tool", "no_longer_needed"};

}  // namespace

const std::vector<EventKind>& EventMix() {
  static const std::vector<EventKind>* const mix = new std::vector<EventKind>{
      {"page_view", 70},
      {"error", 10},
      {"feature_used", 8},
      {"onboarding_started", 5},
      {"onboarding_completed", 4},
      {"plan_changed", 2},
      {"subscription_cancelled", 1},
  };
  return *mix;
}

hark::v1::Event MakeEvent(const WorkloadOptions& options, size_t index) {
  Rng rng(options.seed, index);
  hark::v1::Event event;
  event.set_event_id(absl::StrCat(options.id_prefix, "-", index));
  event.set_user_id(
      absl::StrCat(options.user_prefix, rng.Below(options.users)));

  // Evenly spread over the last hour, in index order.
  const absl::Duration age =
      absl::Hours(1) *
      (1.0 - static_cast<double>(index) /
                 static_cast<double>(std::max<size_t>(options.events, 1)));
  const int64_t micros = absl::ToUnixMicros(options.now - age);
  event.mutable_timestamp()->set_seconds(micros / 1000000);
  event.mutable_timestamp()->set_nanos(static_cast<int32_t>(micros % 1000000) *
                                       1000);

  int roll = static_cast<int>(rng.Below(100));
  const char* name = EventMix().back().name;
  for (const EventKind& kind : EventMix()) {
    if (roll < kind.percent) {
      name = kind.name;
      break;
    }
    roll -= kind.percent;
  }
  event.set_name(name);

  const std::string_view n = name;
  if (n == "page_view") {
    SetString(event, "path", rng.Pick(kPaths));
    SetNumber(event, "duration_ms", static_cast<double>(rng.Below(30000)));
  } else if (n == "error") {
    SetString(event, "code", absl::StrCat("E", 100 + rng.Below(20)));
    SetString(event, "severity", rng.Pick(kSeverities));
    SetString(event, "path", rng.Pick(kPaths));
  } else if (n == "feature_used") {
    SetString(event, "feature", rng.Pick(kFeatures));
    SetNumber(event, "count", static_cast<double>(1 + rng.Below(10)));
  } else if (n == "onboarding_started") {
    SetString(event, "flow", rng.Below(2) == 0 ? "self_serve" : "guided");
    SetString(event, "variant", rng.Below(2) == 0 ? "a" : "b");
  } else if (n == "onboarding_completed") {
    SetNumber(event, "steps", static_cast<double>(3 + rng.Below(5)));
    SetBool(event, "skipped_any", rng.Below(4) == 0);
  } else if (n == "plan_changed") {
    const char* from = rng.Pick(kPlans);
    const char* to = rng.Pick(kPlans);
    SetString(event, "from", from);
    SetString(event, "to", to);
    SetString(event, "direction", rng.Below(2) == 0 ? "upgrade" : "downgrade");
  } else {  // subscription_cancelled
    SetString(event, "plan", rng.Pick(kPlans));
    SetString(event, "reason", rng.Pick(kReasons));
  }

  hark::v1::EventContext* context = event.mutable_context();
  context->set_session_id(absl::StrCat("s-", rng.Below(1u << 30)));
  context->set_platform(rng.Pick(kPlatforms));
  context->set_app_version(rng.Pick(kVersions));
  return event;
}

std::vector<hark::v1::TrackEventsRequest> MakeTrackRequests(
    const WorkloadOptions& options) {
  std::vector<hark::v1::TrackEventsRequest> requests;
  requests.reserve((options.events + options.batch - 1) / options.batch);
  for (size_t begin = 0; begin < options.events; begin += options.batch) {
    hark::v1::TrackEventsRequest& request = requests.emplace_back();
    const size_t end = std::min(options.events, begin + options.batch);
    request.mutable_events()->Reserve(static_cast<int>(end - begin));
    for (size_t i = begin; i < end; ++i) {
      *request.add_events() = MakeEvent(options, i);
    }
  }
  return requests;
}

std::vector<std::vector<hark::v1::EventBatch>> MakeStreamBatches(
    const WorkloadOptions& options, size_t streams) {
  std::vector<std::vector<hark::v1::EventBatch>> out(streams);
  size_t batch_index = 0;
  for (size_t begin = 0; begin < options.events;
       begin += options.batch, ++batch_index) {
    std::vector<hark::v1::EventBatch>& stream = out[batch_index % streams];
    hark::v1::EventBatch& batch = stream.emplace_back();
    batch.set_sequence(stream.size());
    const size_t end = std::min(options.events, begin + options.batch);
    batch.mutable_events()->Reserve(static_cast<int>(end - begin));
    for (size_t i = begin; i < end; ++i) {
      *batch.add_events() = MakeEvent(options, i);
    }
  }
  return out;
}

std::vector<store::EventRecord> MakeEventRecords(
    const WorkloadOptions& options) {
  std::vector<store::EventRecord> records;
  records.reserve(options.events);
  for (size_t i = 0; i < options.events; ++i) {
    hark::v1::Event event = MakeEvent(options, i);
    store::EventRecord& record = records.emplace_back();
    record.payload = event.SerializeAsString();
    record.event_id = std::move(*event.mutable_event_id());
    record.user_id = std::move(*event.mutable_user_id());
    record.name = std::move(*event.mutable_name());
    record.event_time = absl::FromUnixSeconds(event.timestamp().seconds()) +
                        absl::Nanoseconds(event.timestamp().nanos());
    record.received_at = options.now;
  }
  return records;
}

}  // namespace hark::bench
