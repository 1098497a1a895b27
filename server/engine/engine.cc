#include "server/engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "hark/proto_time.h"
#include "hark/status_macros.h"
#include "server/engine/codec.h"
#include "server/engine/deadline_wheel.h"
#include "server/engine/guard_index.h"
#include "server/engine/user_store.h"

namespace hark::engine {
namespace {

using internal::DeadlineWheel;
using internal::Fnv64;
using internal::GuardIndex;
using internal::Load32;
using internal::Load64;
using internal::LoadU64;
using internal::Store32;
using internal::Store64;
using internal::StoreU64;
using internal::UserStore;
using Handle = UserStore::Handle;

constexpr int64_t kNoTime = INT64_MIN;  // "not yet": before any time
constexpr int64_t kNever = INT64_MAX;

// Record layout (all integers little-endian, no alignment):
//   u32  head: rule index (low 16 bits) | n (high 16 bits)
//   u64  group hash                 count rules with group_by only
//   n x {i64 time_us, i64 seq}      count: the kept events, sorted by time;
//                                   sequence: the matched steps, in order
//   u32  capture bytes, then the captured step properties
//                                   sequence rules whose predicates read
//                                   earlier steps only
// n is the number of kept events (count: 1..at_least-1) or of matched steps
// (sequence: 1..steps-1, or == steps when waiting for an absence deadline).
constexpr uint32_t kHeadBytes = 4;
constexpr uint32_t kEntryBytes = 16;
constexpr uint32_t kMaxRules = 0xffff;
constexpr uint32_t kMaxN = 0xffff;

// Capture value tags.
enum : char { kCapMissing = 0, kCapString, kCapNumber, kCapBool, kCapTime };

struct Entry {
  int64_t time;
  int64_t seq;
};

int64_t SatAdd(int64_t a, int64_t b) {  // b >= 0
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

int64_t EventMicros(absl::Time time) {
  // Clamped far outside any valid timestamp so the arithmetic cannot
  // overflow.
  constexpr int64_t kMaxMicros = (int64_t{1} << 40) * 1000000;
  return std::clamp<int64_t>(absl::ToUnixMicros(time), -kMaxMicros, kMaxMicros);
}

absl::Time TimeOf(int64_t micros) {
  if (micros == kNoTime) return absl::InfinitePast();
  if (micros == kNever) return absl::InfiniteFuture();
  return absl::FromUnixMicros(micros);
}

int64_t MicrosOf(absl::Time t) {
  if (t == absl::InfinitePast()) return kNoTime;
  if (t == absl::InfiniteFuture()) return kNever - 1;
  return absl::ToUnixMicros(t);
}

// The group key text of one value; false if the value has no kind.
bool AppendGroupValue(const hark::v1::Value& v, std::string* out) {
  switch (v.kind_case()) {
    case hark::v1::Value::kStringValue:
      out->append(v.string_value());
      return true;
    case hark::v1::Value::kNumberValue: {
      const double d = v.number_value();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
        absl::StrAppend(out, static_cast<int64_t>(d));
      } else {
        absl::StrAppend(out, absl::StrFormat("%.17g", d));
      }
      return true;
    }
    case hark::v1::Value::kBoolValue:
      out->append(v.bool_value() ? "true" : "false");
      return true;
    case hark::v1::Value::kTimestampValue:
      out->append(absl::FormatTime(absl::RFC3339_full,
                                   FromTimestamp(v.timestamp_value()),
                                   absl::UTCTimeZone()));
      return true;
    case hark::v1::Value::KIND_NOT_SET:
      return false;
  }
  return false;
}

void EncodeCapture(const hark::v1::Value* v, std::string* out) {
  char buf[12];
  if (v == nullptr) {
    out->push_back(kCapMissing);
    return;
  }
  switch (v->kind_case()) {
    case hark::v1::Value::kStringValue:
      out->push_back(kCapString);
      Store32(buf, static_cast<uint32_t>(v->string_value().size()));
      out->append(buf, 4);
      out->append(v->string_value());
      return;
    case hark::v1::Value::kNumberValue: {
      out->push_back(kCapNumber);
      const double d = v->number_value();
      std::memcpy(buf, &d, 8);
      out->append(buf, 8);
      return;
    }
    case hark::v1::Value::kBoolValue:
      out->push_back(kCapBool);
      out->push_back(v->bool_value() ? 1 : 0);
      return;
    case hark::v1::Value::kTimestampValue:
      out->push_back(kCapTime);
      Store64(buf, v->timestamp_value().seconds());
      Store32(buf + 8, static_cast<uint32_t>(v->timestamp_value().nanos()));
      out->append(buf, 12);
      return;
    case hark::v1::Value::KIND_NOT_SET:
      out->push_back(kCapMissing);
      return;
  }
}

// Decodes one capture from `*in`; false on malformed bytes.
bool DecodeCapture(absl::string_view* in, hark::v1::Value* v, bool* present) {
  if (in->empty()) return false;
  const char tag = in->front();
  in->remove_prefix(1);
  *present = true;
  switch (tag) {
    case kCapMissing:
      *present = false;
      return true;
    case kCapString: {
      if (in->size() < 4) return false;
      const uint32_t n = Load32(in->data());
      if (in->size() - 4 < n) return false;
      v->set_string_value(std::string(in->substr(4, n)));
      in->remove_prefix(4 + n);
      return true;
    }
    case kCapNumber: {
      if (in->size() < 8) return false;
      double d;
      std::memcpy(&d, in->data(), 8);
      v->set_number_value(d);
      in->remove_prefix(8);
      return true;
    }
    case kCapBool:
      if (in->empty()) return false;
      v->set_bool_value(in->front() != 0);
      in->remove_prefix(1);
      return true;
    case kCapTime: {
      if (in->size() < 12) return false;
      auto* ts = v->mutable_timestamp_value();
      ts->set_seconds(Load64(in->data()));
      ts->set_nanos(static_cast<int32_t>(Load32(in->data() + 8)));
      in->remove_prefix(12);
      return true;
    }
    default:
      return false;
  }
}

// The predicate inputs of one event.
class EventInput final : public rules::EvalInput {
 public:
  EventInput(const EventRef& event, const TraitSource& traits)
      : event_(event), traits_(traits) {}

  absl::string_view EventName() const override { return event_.name; }
  const hark::v1::Value* Prop(absl::string_view key) const override {
    return event_.props->Prop(key);
  }
  const hark::v1::Value* Trait(absl::string_view key) const override {
    return traits_.Trait(event_.user_id, key);
  }
  const hark::v1::Value* StepProp(int step,
                                  absl::string_view key) const override {
    if (captures_ == nullptr) return nullptr;
    for (size_t i = 0; i < captures_->size(); ++i) {
      const rules::ExprRefs::StepProp& c = (*captures_)[i];
      if (c.step == step && c.key == key) {
        return present_[i] ? &values_[i] : nullptr;
      }
    }
    return nullptr;
  }

  // Makes StepProp() answer from decoded captures (until cleared with
  // nullptrs).
  void SetSteps(const std::vector<rules::ExprRefs::StepProp>* captures,
                const hark::v1::Value* values, const bool* present) {
    captures_ = captures;
    values_ = values;
    present_ = present;
  }

 private:
  const EventRef& event_;
  const TraitSource& traits_;
  const std::vector<rules::ExprRefs::StepProp>* captures_ = nullptr;
  const hark::v1::Value* values_ = nullptr;
  const bool* present_ = nullptr;
};

// A rule compiled for the engine.
struct StepPlan {
  std::string event;
  const rules::Predicate* where = nullptr;
  bool reads_steps = false;
  int32_t guard = -1;  // the GuardIndex slot of where->guard(), if any
};

// What it takes to walk, size and expire a rule's records, packed densely
// (one vector per rule set) because every lookup scans a user's records.
struct Layout {
  int64_t within = 0;          // micros
  uint16_t steps = 0;          // sequence: number of steps
  uint8_t entries_offset = 0;  // head, plus the group hash if any
  bool captures = false;       // sequence records keep step properties
  bool count = false;
  bool absent = false;
};

struct Plan {
  enum class Kind : uint8_t { kMatch, kCount, kSequence, kUnsupported };
  Kind kind = Kind::kUnsupported;
  const rules::Rule* rule = nullptr;
  int64_t within = 0;  // micros
  // match and count
  StepPlan filter;
  int at_least = 1;
  std::vector<std::string> group_by;
  // sequence
  std::vector<StepPlan> steps;
  bool has_absent = false;
  StepPlan absent;
  // The (step, key) pairs some predicate reads, sorted by step: what a
  // sequence record keeps of each matched step's properties.
  std::vector<rules::ExprRefs::StepProp> captures;
  Layout layout;

  uint32_t group_bytes() const { return group_by.empty() ? 0 : 8; }
  uint32_t entries_offset() const { return kHeadBytes + group_bytes(); }
  bool keeps_captures() const {
    return kind == Kind::kSequence && !captures.empty();
  }
};

StepPlan MakeStep(const rules::EventFilter& filter) {
  StepPlan s;
  s.event = filter.event;
  s.where = filter.where.get();
  s.reads_steps = s.where != nullptr && !s.where->refs().step_props.empty();
  return s;
}

std::vector<Plan> MakePlans(const rules::RuleSet& set) {
  std::vector<Plan> plans(set.rules().size());
  for (size_t i = 0; i < set.rules().size(); ++i) {
    const rules::Rule& rule = set.rules()[i];
    Plan& p = plans[i];
    p.rule = &rule;
    // Records keep the rule index in 16 bits; a set that large is far
    // beyond anything a person writes, and its extra rules never match.
    if (i >= kMaxRules) continue;
    if (const auto* m = std::get_if<rules::MatchPattern>(&rule.pattern)) {
      p.kind = Plan::Kind::kMatch;
      p.filter = MakeStep(m->filter);
    } else if (const auto* c =
                   std::get_if<rules::CountPattern>(&rule.pattern)) {
      if (c->at_least > static_cast<int>(kMaxN) + 1) continue;
      p.kind = Plan::Kind::kCount;
      p.filter = MakeStep(c->filter);
      p.at_least = std::max(1, c->at_least);
      p.group_by = c->group_by;
      p.within = absl::ToInt64Microseconds(c->within);
    } else if (const auto* s =
                   std::get_if<rules::SequencePattern>(&rule.pattern)) {
      if (s->steps.empty() || s->steps.size() >= kMaxN) continue;
      p.kind = Plan::Kind::kSequence;
      p.within = absl::ToInt64Microseconds(s->within);
      const int k = static_cast<int>(s->steps.size());
      auto add_captures = [&](const rules::Predicate* where) {
        if (where == nullptr) return;
        for (const rules::ExprRefs::StepProp& sp : where->refs().step_props) {
          if (sp.step < 0 || sp.step >= k) continue;
          if (std::find(p.captures.begin(), p.captures.end(), sp) ==
              p.captures.end()) {
            p.captures.push_back(sp);
          }
        }
      };
      for (const rules::SequencePattern::Step& step : s->steps) {
        p.steps.push_back(MakeStep(step.filter));
        add_captures(step.filter.where.get());
      }
      if (s->absent.has_value()) {
        p.has_absent = true;
        p.absent = MakeStep(*s->absent);
        add_captures(s->absent->where.get());
      }
      std::stable_sort(
          p.captures.begin(), p.captures.end(),
          [](const rules::ExprRefs::StepProp& a,
             const rules::ExprRefs::StepProp& b) { return a.step < b.step; });
    }
    p.layout.within = p.within;
    p.layout.steps = static_cast<uint16_t>(p.steps.size());
    p.layout.entries_offset = static_cast<uint8_t>(p.entries_offset());
    p.layout.captures = p.keeps_captures();
    p.layout.count = p.kind == Plan::Kind::kCount;
    p.layout.absent = p.kind == Plan::Kind::kSequence && p.has_absent;
  }
  return plans;
}

// Indexes the steps whose predicates have an EqualityGuard, and records
// their slots in the plans. A property that guards a single step of an
// event name is left to that step's predicate: looking it up for the index
// too would cost more than the one evaluation it might save.
GuardIndex IndexGuards(std::vector<Plan>* plans) {
  auto for_each_step = [plans](auto&& f) {
    for (Plan& p : *plans) {
      f(p.filter);
      for (StepPlan& s : p.steps) f(s);
      f(p.absent);
    }
  };
  auto guard_of = [](const StepPlan& s) -> const rules::EqualityGuard* {
    if (s.where == nullptr || !s.where->guard().has_value()) return nullptr;
    return &*s.where->guard();
  };
  absl::flat_hash_map<std::pair<std::string, std::string>, int> steps;
  for_each_step([&](StepPlan& s) {
    if (const rules::EqualityGuard* g = guard_of(s)) ++steps[{s.event, g->key}];
  });
  GuardIndex index;
  for_each_step([&](StepPlan& s) {
    const rules::EqualityGuard* g = guard_of(s);
    if (g != nullptr && steps[{s.event, g->key}] >= 2) {
      s.guard = static_cast<int32_t>(index.Add(s.event, *g));
    }
  });
  return index;
}

// What Process() needs per event name, found with one lookup.
struct EventPlan {
  std::vector<int> rules;            // RuleSet::RulesForEvent()
  std::vector<uint32_t> guard_keys;  // GuardIndex::KeysOf()
};

absl::flat_hash_map<std::string, EventPlan> EventPlansOf(
    const rules::RuleSet& set, const GuardIndex& guards) {
  absl::flat_hash_map<std::string, EventPlan> events;
  for (absl::string_view name : set.EventNames()) {
    EventPlan& e = events[name];
    const absl::Span<const int> ids = set.RulesForEvent(name);
    e.rules.assign(ids.begin(), ids.end());
    e.guard_keys = guards.KeysOf(name);
  }
  return events;
}

std::vector<Layout> LayoutsOf(const std::vector<Plan>& plans) {
  std::vector<Layout> layouts;
  layouts.reserve(plans.size());
  for (const Plan& p : plans) layouts.push_back(p.layout);
  return layouts;
}

uint32_t HeadRule(const char* r) { return Load32(r) & 0xffff; }
uint32_t HeadN(const char* r) { return Load32(r) >> 16; }
uint32_t MakeHead(uint32_t rule, uint32_t n) { return rule | (n << 16); }

uint32_t RecordSize(const char* r, const Layout& l) {
  uint32_t size = l.entries_offset + kEntryBytes * HeadN(r);
  if (l.captures) size += 4 + Load32(r + size);
  return size;
}

Entry EntryAt(const char* r, const Layout& l, uint32_t i) {
  const char* e = r + l.entries_offset + kEntryBytes * i;
  return Entry{Load64(e), Load64(e + 8)};
}

bool IsArmed(const char* r, const Layout& l) {
  return l.absent && HeadN(r) == l.steps;
}

// The event time after which the record is dead (count, open sequence) or
// fires (an armed absence deadline): when it is < the watermark.
int64_t Expiry(const char* r, const Layout& l) {
  const uint32_t n = HeadN(r);
  if (l.count || IsArmed(r, l)) {
    return SatAdd(EntryAt(r, l, n - 1).time, l.within);
  }
  return SatAdd(EntryAt(r, l, 0).time, l.within);
}

// Checks a record read from a checkpoint against the rule it belongs to.
bool ValidRecord(absl::string_view rec, const Plan& p) {
  if (rec.size() < kHeadBytes) return false;
  const uint32_t n = HeadN(rec.data());
  if (p.kind == Plan::Kind::kCount) {
    if (n < 1 || static_cast<int>(n) >= p.at_least) return false;
    if (rec.size() != p.entries_offset() + kEntryBytes * n) return false;
  } else if (p.kind == Plan::Kind::kSequence) {
    const uint32_t k = static_cast<uint32_t>(p.steps.size());
    if (n < 1 || n > k || (n == k && !p.has_absent)) return false;
    uint32_t size = p.entries_offset() + kEntryBytes * n;
    if (p.keeps_captures()) {
      if (rec.size() < size + 4) return false;
      const uint32_t cap_len = Load32(rec.data() + size);
      if (rec.size() - size - 4 != cap_len) return false;
      absl::string_view caps = rec.substr(size + 4);
      hark::v1::Value v;
      for (const rules::ExprRefs::StepProp& c : p.captures) {
        if (static_cast<uint32_t>(c.step) >= n) break;
        bool present;
        if (!DecodeCapture(&caps, &v, &present)) return false;
      }
      if (!caps.empty()) return false;
      size += 4 + cap_len;
    }
    if (rec.size() != size) return false;
  } else {
    return false;
  }
  for (uint32_t i = 1; i < n; ++i) {
    if (EntryAt(rec.data(), p.layout, i).time <
        EntryAt(rec.data(), p.layout, i - 1).time) {
      return false;
    }
  }
  return true;
}

// See EngineOptions::legacy_match_ids_through.
std::string MatchIdOf(const MatchOut& m, int64_t deadline,
                      int64_t legacy_through) {
  Fnv64 h;
  h.AddField(m.rule_id).AddField(m.rule_version).AddField(m.user_id);
  h.AddField(m.group_key);
  h.AddInt(m.events.empty() ? 0 : m.events.front().seq);
  h.AddInt(m.events.empty() ? 0 : m.events.back().seq);
  h.AddInt(m.at_deadline ? deadline : 0);
  int64_t last = 0;
  for (const MatchedEventRef& e : m.events) last = std::max(last, e.seq);
  if (last <= legacy_through) return absl::StrFormat("%016x", h.value());
  return absl::StrFormat("%016x%016x", static_cast<uint64_t>(last), h.value());
}

constexpr absl::string_view kCheckpointMagic = "HARKENG1";
constexpr absl::string_view kDeltaMagic = "HARKDLT1";
constexpr uint64_t kCheckpointFormat = 1;

}  // namespace

class Engine::Impl {
 public:
  Impl(std::shared_ptr<const rules::RuleSet> rules,
       const EngineOptions& options)
      : rules_(std::move(rules)),
        plans_(MakePlans(*rules_)),
        guards_(IndexGuards(&plans_)),
        event_plans_(EventPlansOf(*rules_, guards_)),
        layouts_(LayoutsOf(plans_)),
        lateness_(std::max<int64_t>(
            0, absl::ToInt64Microseconds(options.allowed_lateness))),
        legacy_match_ids_through_(options.legacy_match_ids_through) {}

  void Process(int64_t seq, const EventRef& event, const TraitSource& traits,
               std::vector<MatchOut>* out);
  void AdvanceTo(absl::Time wall_now, std::vector<MatchOut>* out) {
    const int64_t now = MicrosOf(wall_now);
    if (now > wall_ || recheck_) {
      wall_ = std::max(wall_, now);
      AdvanceWatermark(out);
    }
  }
  ReloadReport Reload(std::shared_ptr<const rules::RuleSet> rules);
  DropReport DropUser(absl::string_view user_id);
  std::string Checkpoint();
  absl::StatusOr<std::string> CheckpointDelta();
  absl::Status WriteCheckpoint(bool delta, size_t piece_bytes,
                               CheckpointPut put);
  bool CanCheckpointDelta() const { return delta_ready_; }
  uint64_t changed_users() const { return users_.changed().size(); }
  absl::Status Restore(absl::string_view checkpoint,
                       absl::Span<const std::string> deltas);
  EngineStats stats() const;

  const std::shared_ptr<const rules::RuleSet>& rules() const { return rules_; }
  int64_t last_seq() const { return last_seq_; }

 private:
  // Per-event state shared by the rules the event touches.
  struct Ctx {
    int64_t seq;
    int64_t time;
    bool late;
    const EventRef& event;
    EventInput& input;
    bool looked_up = false;
    Handle handle = UserStore::kNoUser;
  };

  Handle FindUser(Ctx& c) {
    if (!c.looked_up) {
      c.handle = users_.Find(c.event.user_id);
      c.looked_up = true;
    }
    return c.handle;
  }
  Handle UserForWrite(Ctx& c) {
    if (FindUser(c) == UserStore::kNoUser) {
      c.handle = users_.FindOrCreate(c.event.user_id);
    }
    return c.handle;
  }
  void ReleaseIfEmpty(Handle h) {
    if (users_.block(h) && users_.block(h).empty()) {
      users_.Release(h);
    }
  }

  // A record of the event's user, as FindRecord knows it.
  struct DirEntry {
    uint32_t rule;
    uint32_t off;
    uint64_t group;
  };

  // The offset of the record of (rule, group) in the user's block, or -1.
  // The first lookup of an event lists the user's records in dir_ with one
  // scan of the block; the event's later lookups (an error event may be
  // counted by 25 rules) read the list, which WriteRecord and RemoveRecord
  // keep in step, instead of walking the block again.
  int64_t FindRecord(Handle h, uint32_t rule, uint64_t group) {
    if (dir_user_ != h) ListRecords(h);
    for (const DirEntry& e : dir_) {
      if (e.rule == rule && e.group == group) return e.off;
    }
    return -1;
  }
  // What FindRecord matches a record on: its rule and, for a grouped rule,
  // its group hash (0 for the others, whose lookups pass 0).
  DirEntry DirEntryOf(const char* r, uint32_t off) const {
    const uint32_t rule = HeadRule(r);
    const bool grouped = layouts_[rule].entries_offset != kHeadBytes;
    return DirEntry{rule, off, grouped ? LoadU64(r + 4) : 0};
  }
  void ListRecords(Handle h) {
    dir_.clear();
    dir_user_ = h;
    const internal::UserBlock b = users_.block(h);
    const char* recs = b.records();
    const uint32_t size = b.records_size();
    for (uint32_t off = 0; off < size;) {
      const char* r = recs + off;
      dir_.push_back(DirEntryOf(r, off));
      off += RecordSize(r, layouts_[HeadRule(r)]);
    }
  }
  // Follows a splice of `h`'s records in dir_ (if it lists them): the
  // record at `off` is replaced (same rule and group), appended or removed.
  void FollowSplice(Handle h, uint32_t off, uint32_t old_size, const char* rec,
                    uint32_t size) {
    if (h != dir_user_) return;
    if (old_size == 0) {
      dir_.push_back(DirEntryOf(rec, off));  // appended: nothing after it
      return;
    }
    if (size == 0) {
      std::erase_if(dir_, [off](const DirEntry& e) { return e.off == off; });
    }
    for (DirEntry& e : dir_) {
      if (e.off > off) e.off = e.off - old_size + size;
    }
  }

  // Replaces the record at `off` (`old_size` bytes; off < 0: none) with
  // `rec` and schedules the user for the record's expiry.
  void WriteRecord(Handle h, int64_t off, uint32_t old_size,
                   absl::string_view rec, int64_t expiry) {
    internal::UserBlock b = users_.block(h);
    const Layout& l = layouts_[HeadRule(rec.data())];
    if (off >= 0) {
      if (IsArmed(b.records() + off, l)) --armed_;
    } else {
      off = b.records_size();
      ++live_;
    }
    if (IsArmed(rec.data(), l)) ++armed_;
    users_.Splice(h, static_cast<uint32_t>(off), old_size, rec.data(),
                  static_cast<uint32_t>(rec.size()));
    FollowSplice(h, static_cast<uint32_t>(off), old_size, rec.data(),
                 static_cast<uint32_t>(rec.size()));
    b = users_.block(h);
    // Visit the user by the record's expiry (or the wheel's horizon, to be
    // scheduled again then); a later wake-up would miss it.
    const int64_t wake = std::min(expiry, wheel_.Horizon());
    if (wake < b.wake()) {
      b.set_wake(wake);
      wheel_.Add(wake, h);
    }
  }

  void RemoveRecord(Handle h, int64_t off, uint32_t size) {
    const char* r = users_.block(h).records() + off;
    if (IsArmed(r, layouts_[HeadRule(r)])) --armed_;
    --live_;
    users_.Splice(h, static_cast<uint32_t>(off), size, nullptr, 0);
    FollowSplice(h, static_cast<uint32_t>(off), size, nullptr, 0);
  }

  void ProcessMatch(const Plan& p, Ctx& c, std::vector<MatchOut>* out);
  void ProcessCount(const Plan& p, uint32_t rule, Ctx& c,
                    std::vector<MatchOut>* out);
  void ProcessSequence(const Plan& p, uint32_t rule, Ctx& c,
                       std::vector<MatchOut>* out);

  // Evaluates a step filter; with `rec` (a sequence record) its
  // predicate can read the captured properties of the record's steps.
  bool EvalStep(const StepPlan& s, const Plan& p, const char* rec, Ctx& c);
  // What the step's EqualityGuard (GuardIndex) says of the event: kFail,
  // its predicate is false without evaluating it; kPass, only the rest of
  // the predicate needs evaluating (Predicate::EvalAfterGuard); kNone, no
  // guard to go by.
  enum class Guard { kNone, kPass, kFail };
  Guard CheckGuard(const StepPlan& s);
  // The step's predicate (not null), after CheckGuard() said `guard`.
  bool EvalWhere(const StepPlan& s, Guard guard, Ctx& c);
  // False if the event can neither start, advance nor cancel a sequence of
  // `p` (see ProcessSequence).
  bool MayTouchSequence(const Plan& p, Ctx& c);

  void Emit(const Plan& p, absl::string_view user, absl::string_view group_key,
            const std::vector<Entry>& entries, bool steps, int64_t at,
            bool at_deadline, std::vector<MatchOut>* out);

  // Checkpoint writing and reading.
  struct Segment;
  void WriteHead(absl::string_view magic, internal::Writer& w) const;
  void WriteUser(internal::UserBlock b, internal::Writer& w) const;
  // Writes a full checkpoint or a delta into *buf, calling `flush` (which
  // takes what *buf holds and empties it) whenever it reaches
  // `piece_bytes`, and at the end. The changes are cleared only when all
  // went well.
  absl::Status WriteCheckpointTo(bool delta, std::string* buf,
                                 size_t piece_bytes,
                                 absl::FunctionRef<absl::Status()> flush);
  absl::Status ReadSegment(absl::string_view data, bool delta,
                           Segment* seg) const;

  void AdvanceWatermark(std::vector<MatchOut>* out);
  // Drops the user's dead records and fires its passed deadlines.
  void Sweep(Handle h);
  // Schedules the user's next visit from its records, or releases it.
  void Reschedule(Handle h);

  std::shared_ptr<const rules::RuleSet> rules_;
  std::vector<Plan> plans_;
  GuardIndex guards_;                                        // of plans_' steps
  absl::flat_hash_map<std::string, EventPlan> event_plans_;  // by name
  std::vector<Layout> layouts_;  // plans_[i].layout, densely
  int64_t lateness_;
  const int64_t legacy_match_ids_through_;

  UserStore users_;
  DeadlineWheel wheel_;
  int64_t max_event_ = kNoTime;
  int64_t wall_ = kNoTime;
  int64_t watermark_ = kNoTime;
  int64_t last_seq_ = 0;
  // Set by Restore(): records may be due at the restored watermark already,
  // so the next AdvanceTo() or event expires them even if the watermark
  // does not move.
  bool recheck_ = false;
  // CheckpointDelta() may follow the checkpoints taken or restored: false
  // until a full Checkpoint(), after Reload() and after a Restore() that
  // dropped records.
  bool delta_ready_ = false;

  uint64_t events_ = 0;
  uint64_t late_ = 0;
  uint64_t matches_ = 0;
  uint64_t live_ = 0;
  uint64_t armed_ = 0;
  uint64_t group_mismatches_ = 0;
  rules::EvalStats eval_stats_;

  // Scratch space, reused so that the steady state does not allocate.
  std::string key_;
  std::string rec_;
  std::vector<Entry> entries_;
  std::vector<hark::v1::Value> cap_values_;
  std::unique_ptr<bool[]> cap_present_;
  size_t cap_present_size_ = 0;
  std::vector<MatchOut> fired_;
  // The records of the user of the event being processed (FindRecord).
  std::vector<DirEntry> dir_;
  Handle dir_user_ = UserStore::kNoUser;
};

void Engine::Impl::Emit(const Plan& p, absl::string_view user,
                        absl::string_view group_key,
                        const std::vector<Entry>& entries, bool steps,
                        int64_t at, bool at_deadline,
                        std::vector<MatchOut>* out) {
  ++matches_;
  MatchOut& m = out->emplace_back();
  m.rule_id = p.rule->id;
  m.rule_version = p.rule->version;
  m.user_id = std::string(user);
  m.group_key = std::string(group_key);
  m.matched_at = TimeOf(at);
  m.at_deadline = at_deadline;
  m.events.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    m.events.push_back(MatchedEventRef{entries[i].seq, TimeOf(entries[i].time),
                                       steps ? static_cast<int>(i) : -1});
  }
  m.match_id = MatchIdOf(m, at, legacy_match_ids_through_);
}

Engine::Impl::Guard Engine::Impl::CheckGuard(const StepPlan& s) {
  if (s.guard < 0) return Guard::kNone;
  switch (guards_.Check(static_cast<uint32_t>(s.guard))) {
    case GuardIndex::Result::kPass:
      return Guard::kPass;
    case GuardIndex::Result::kUnknown:
      return Guard::kNone;
    case GuardIndex::Result::kFail:
      return Guard::kFail;
    case GuardIndex::Result::kMismatch:
      // What evaluating the guard, the predicate's first test, counts.
      ++eval_stats_.type_mismatches;
      return Guard::kFail;
  }
  return Guard::kNone;
}

bool Engine::Impl::EvalWhere(const StepPlan& s, Guard guard, Ctx& c) {
  return guard == Guard::kPass ? s.where->EvalAfterGuard(c.input, &eval_stats_)
                               : s.where->Eval(c.input, &eval_stats_);
}

bool Engine::Impl::EvalStep(const StepPlan& s, const Plan& p, const char* rec,
                            Ctx& c) {
  if (s.where == nullptr) return true;
  const Guard guard = CheckGuard(s);
  if (guard == Guard::kFail) return false;
  if (!s.reads_steps || rec == nullptr) return EvalWhere(s, guard, c);
  // Decode the captures of the record's steps for StepProp().
  const size_t nc = p.captures.size();
  if (cap_values_.size() < nc) cap_values_.resize(nc);
  if (cap_present_size_ < nc) {
    cap_present_.reset(new bool[nc]);
    cap_present_size_ = nc;
  }
  std::fill(cap_present_.get(), cap_present_.get() + nc, false);
  const uint32_t n = HeadN(rec);
  const uint32_t at = p.entries_offset() + kEntryBytes * n;
  absl::string_view caps(rec + at + 4, Load32(rec + at));
  for (size_t i = 0; i < nc; ++i) {
    if (static_cast<uint32_t>(p.captures[i].step) >= n) break;
    if (!DecodeCapture(&caps, &cap_values_[i], &cap_present_[i])) break;
  }
  c.input.SetSteps(&p.captures, cap_values_.data(), cap_present_.get());
  const bool ok = EvalWhere(s, guard, c);
  c.input.SetSteps(nullptr, nullptr, nullptr);
  return ok;
}

void Engine::Impl::Process(int64_t seq, const EventRef& event,
                           const TraitSource& traits,
                           std::vector<MatchOut>* out) {
  ++events_;
  last_seq_ = seq;
  dir_user_ = UserStore::kNoUser;  // a new event: list its user afresh
  const int64_t t = EventMicros(event.time);
  const bool late = watermark_ != kNoTime && t < watermark_;
  if (late) {
    ++late_;
  } else if (t > max_event_ || recheck_) {
    // Deadlines the new watermark passes fire before the event is applied:
    // they lie before anything this event could still change.
    max_event_ = std::max(max_event_, t);
    AdvanceWatermark(out);
  }
  auto plan = event_plans_.find(event.name);
  if (plan == event_plans_.end()) return;
  EventInput input(event, traits);
  if (!plan->second.guard_keys.empty()) {
    guards_.Begin(plan->second.guard_keys, input);
  }
  Ctx c{seq, t, late, event, input};
  for (int r : plan->second.rules) {
    const Plan& p = plans_[r];
    switch (p.kind) {
      case Plan::Kind::kMatch:
        ProcessMatch(p, c, out);
        break;
      case Plan::Kind::kCount:
        ProcessCount(p, static_cast<uint32_t>(r), c, out);
        break;
      case Plan::Kind::kSequence:
        ProcessSequence(p, static_cast<uint32_t>(r), c, out);
        break;
      case Plan::Kind::kUnsupported:
        break;
    }
  }
  if (c.handle != UserStore::kNoUser) ReleaseIfEmpty(c.handle);
  dir_user_ = UserStore::kNoUser;  // the handle may be released
}

void Engine::Impl::ProcessMatch(const Plan& p, Ctx& c,
                                std::vector<MatchOut>* out) {
  // Late events still match: a single event needs no window.
  if (c.event.name != p.filter.event) return;
  if (!EvalStep(p.filter, p, nullptr, c)) return;
  entries_.assign(1, Entry{c.time, c.seq});
  Emit(p, c.event.user_id, "", entries_, false, c.time, false, out);
}

void Engine::Impl::ProcessCount(const Plan& p, uint32_t rule, Ctx& c,
                                std::vector<MatchOut>* out) {
  if (c.late || c.event.name != p.filter.event) return;
  if (!EvalStep(p.filter, p, nullptr, c)) return;
  key_.clear();
  uint64_t group = 0;
  if (!p.group_by.empty()) {
    for (size_t i = 0; i < p.group_by.size(); ++i) {
      if (i > 0) key_.push_back('|');
      const hark::v1::Value* v = c.input.Prop(p.group_by[i]);
      if (v == nullptr || !AppendGroupValue(*v, &key_)) {
        ++group_mismatches_;  // no group: the event does not count
        return;
      }
    }
    group = internal::Fnv64Of(key_);
  }
  entries_.clear();
  if (p.at_least <= 1) {
    entries_.push_back(Entry{c.time, c.seq});
    Emit(p, c.event.user_id, key_, entries_, false, c.time, false, out);
    return;
  }
  const Handle h = UserForWrite(c);
  const int64_t off = FindRecord(h, rule, group);
  uint32_t old_size = 0;
  if (off >= 0) {
    const char* r = users_.block(h).records() + off;
    old_size = RecordSize(r, p.layout);
    const uint32_t n = HeadN(r);
    for (uint32_t i = 0; i < n; ++i)
      entries_.push_back(EntryAt(r, p.layout, i));
  }
  // Kept events older than watermark - within can no longer be in a window
  // with any event that is not late.
  if (watermark_ != kNoTime) {
    const int64_t cutoff = watermark_ - p.within;
    auto keep = std::find_if(entries_.begin(), entries_.end(),
                             [&](const Entry& e) { return e.time >= cutoff; });
    entries_.erase(entries_.begin(), keep);
  }
  // Out-of-order events take their place by event time.
  auto at =
      std::upper_bound(entries_.begin(), entries_.end(), c.time,
                       [](int64_t t, const Entry& e) { return t < e.time; });
  entries_.insert(at, Entry{c.time, c.seq});
  if (static_cast<int>(entries_.size()) >= p.at_least) {
    if (entries_.back().time - entries_.front().time <= p.within) {
      if (off >= 0) RemoveRecord(h, off, old_size);
      Emit(p, c.event.user_id, key_, entries_, false, entries_.back().time,
           false, out);
      return;
    }
    entries_.erase(entries_.begin());
  }
  rec_.resize(p.entries_offset() + kEntryBytes * entries_.size());
  Store32(rec_.data(), MakeHead(rule, static_cast<uint32_t>(entries_.size())));
  if (!p.group_by.empty()) StoreU64(rec_.data() + 4, group);
  char* e = rec_.data() + p.entries_offset();
  for (const Entry& entry : entries_) {
    Store64(e, entry.time);
    Store64(e + 8, entry.seq);
    e += kEntryBytes;
  }
  WriteRecord(h, off, old_size, rec_, SatAdd(entries_.back().time, p.within));
}

bool Engine::Impl::MayTouchSequence(const Plan& p, Ctx& c) {
  const absl::string_view name = c.event.name;
  auto may_pass = [&](const StepPlan& s) {
    if (s.where == nullptr) return true;
    const Guard guard = CheckGuard(s);
    return guard != Guard::kFail && (s.reads_steps || EvalWhere(s, guard, c));
  };
  for (size_t i = 1; i < p.steps.size(); ++i) {
    if (p.steps[i].event == name && may_pass(p.steps[i])) return true;
  }
  if (p.has_absent && p.absent.event == name && may_pass(p.absent)) {
    return true;
  }
  return p.steps[0].event == name && may_pass(p.steps[0]);
}

void Engine::Impl::ProcessSequence(const Plan& p, uint32_t rule, Ctx& c,
                                   std::vector<MatchOut>* out) {
  // Late events neither start, advance nor cancel a sequence.
  if (c.late) return;
  const absl::string_view name = c.event.name;
  const uint32_t k = static_cast<uint32_t>(p.steps.size());
  // Looking for the user's record scans the user's records, so first ask
  // whether the event could do anything with one: be a later step or the
  // absent event whose predicate passes (or needs the record's captures to
  // tell), or a first step that passes. If not, it cannot start, advance
  // or cancel anything, whatever the record holds.
  if (!MayTouchSequence(p, c)) return;
  const Handle h = FindUser(c);
  int64_t off = -1;
  uint32_t old_size = 0;
  int64_t first_time = kNoTime;
  if (h != UserStore::kNoUser) {
    off = FindRecord(h, rule, 0);
  }
  if (off >= 0) {
    const char* r = users_.block(h).records() + off;
    old_size = RecordSize(r, p.layout);
    const uint32_t n = HeadN(r);
    first_time = EntryAt(r, p.layout, 0).time;
    const int64_t last_time = EntryAt(r, p.layout, n - 1).time;
    if (n < k) {
      const StepPlan& s = p.steps[n];
      if (name == s.event && c.time >= last_time &&
          c.time <= SatAdd(first_time, p.within) && EvalStep(s, p, r, c)) {
        // The event advances the sequence.
        entries_.clear();
        for (uint32_t i = 0; i < n; ++i)
          entries_.push_back(EntryAt(r, p.layout, i));
        entries_.push_back(Entry{c.time, c.seq});
        if (n + 1 == k && !p.has_absent) {
          RemoveRecord(h, off, old_size);
          Emit(p, c.event.user_id, "", entries_, true, c.time, false, out);
          return;
        }
        const uint32_t entries_end = p.entries_offset() + kEntryBytes * n;
        rec_.assign(r, entries_end);
        Store32(rec_.data(), MakeHead(rule, n + 1));
        char buf[16];
        Store64(buf, c.time);
        Store64(buf + 8, c.seq);
        rec_.append(buf, 16);
        if (p.keeps_captures()) {
          const uint32_t cap_len = Load32(r + entries_end);
          const size_t len_at = rec_.size();
          rec_.append(r + entries_end, 4 + cap_len);
          for (const rules::ExprRefs::StepProp& cap : p.captures) {
            if (static_cast<uint32_t>(cap.step) == n) {
              EncodeCapture(c.input.Prop(cap.key), &rec_);
            }
          }
          Store32(rec_.data() + len_at,
                  static_cast<uint32_t>(rec_.size() - len_at - 4));
        }
        const int64_t expiry = n + 1 == k ? SatAdd(c.time, p.within)
                                          : SatAdd(first_time, p.within);
        WriteRecord(h, off, old_size, rec_, expiry);
        return;
      }
    } else if (name == p.absent.event && c.time > last_time &&
               c.time <= SatAdd(last_time, p.within) &&
               EvalStep(p.absent, p, r, c)) {
      // The absent event happened in time: no match.
      RemoveRecord(h, off, old_size);
      off = -1;
      old_size = 0;
    }
  }
  if (name != p.steps[0].event) return;
  // A repeated first step restarts the sequence from the newer event; an
  // older one (out of order) leaves the open sequence alone.
  if (off >= 0 && c.time < first_time) return;
  if (!EvalStep(p.steps[0], p, nullptr, c)) return;
  if (off >= 0) {
    const char* r = users_.block(h).records() + off;
    const uint32_t n = HeadN(r);
    const int64_t deadline = SatAdd(EntryAt(r, p.layout, n - 1).time, p.within);
    if (IsArmed(r, p.layout) && c.time > deadline) {
      // A new start after the old deadline: the old attempt was not
      // cancelled in time, it only waits for the watermark. Fire it now
      // rather than lose it (there is one slot per rule and user). A
      // cancelling event older than this start could still arrive within
      // the lateness; that one would come too late.
      entries_.clear();
      for (uint32_t i = 0; i < n; ++i)
        entries_.push_back(EntryAt(r, p.layout, i));
      Emit(p, c.event.user_id, "", entries_, true, deadline, true, out);
    }
  }
  if (k == 1 && !p.has_absent) {
    entries_.assign(1, Entry{c.time, c.seq});
    Emit(p, c.event.user_id, "", entries_, true, c.time, false, out);
    return;
  }
  rec_.resize(p.entries_offset() + kEntryBytes);
  Store32(rec_.data(), MakeHead(rule, 1));
  Store64(rec_.data() + p.entries_offset(), c.time);
  Store64(rec_.data() + p.entries_offset() + 8, c.seq);
  if (p.keeps_captures()) {
    const size_t len_at = rec_.size();
    rec_.append(4, '\0');
    for (const rules::ExprRefs::StepProp& cap : p.captures) {
      if (cap.step == 0) EncodeCapture(c.input.Prop(cap.key), &rec_);
    }
    Store32(rec_.data() + len_at,
            static_cast<uint32_t>(rec_.size() - len_at - 4));
  }
  WriteRecord(UserForWrite(c), off, old_size, rec_, SatAdd(c.time, p.within));
}

void Engine::Impl::AdvanceWatermark(std::vector<MatchOut>* out) {
  const int64_t latest = std::max(max_event_, wall_);
  if (latest == kNoTime) return;
  const int64_t w =
      latest < kNoTime + lateness_ + 1 ? kNoTime + 1 : latest - lateness_;
  if (w <= watermark_ && !recheck_) return;
  watermark_ = std::max(watermark_, w);
  recheck_ = false;
  fired_.clear();
  wheel_.Expire(
      w,
      [this](uint32_t h) {
        const internal::UserBlock b = users_.block(h);
        return b ? b.wake() : kNever;
      },
      [this](uint32_t h) { Sweep(h); });
  if (fired_.empty()) return;
  // In deadline order whatever the order of users in the wheel, so that a
  // replay yields the same sequence.
  std::sort(fired_.begin(), fired_.end(),
            [](const MatchOut& a, const MatchOut& b) {
              return std::tie(a.matched_at, a.rule_id, a.user_id) <
                     std::tie(b.matched_at, b.rule_id, b.user_id);
            });
  for (MatchOut& m : fired_) out->push_back(std::move(m));
  fired_.clear();
}

void Engine::Impl::Sweep(Handle h) {
  uint32_t off = 0;
  while (off < users_.block(h).records_size()) {
    const char* r = users_.block(h).records() + off;
    const Layout& l = layouts_[HeadRule(r)];
    const uint32_t size = RecordSize(r, l);
    const int64_t expiry = Expiry(r, l);
    if (expiry >= watermark_) {
      off += size;
      continue;
    }
    if (IsArmed(r, l)) {
      // Nothing cancelled it before the watermark passed the deadline.
      entries_.clear();
      for (uint32_t i = 0; i < HeadN(r); ++i) {
        entries_.push_back(EntryAt(r, l, i));
      }
      Emit(plans_[HeadRule(r)], users_.block(h).id(), "", entries_, true,
           expiry, true, &fired_);
    }
    RemoveRecord(h, off, size);
  }
  Reschedule(h);
}

void Engine::Impl::Reschedule(Handle h) {
  internal::UserBlock b = users_.block(h);
  if (b.empty()) {
    users_.Release(h);
    return;
  }
  int64_t next = kNever;
  uint32_t off = 0;
  while (off < b.records_size()) {
    const char* r = b.records() + off;
    const Layout& l = layouts_[HeadRule(r)];
    next = std::min(next, Expiry(r, l));
    off += RecordSize(r, l);
  }
  next = std::min(next, wheel_.Horizon());
  b.set_wake(next);
  wheel_.Add(next, h);
}

ReloadReport Engine::Impl::Reload(std::shared_ptr<const rules::RuleSet> rules) {
  ReloadReport report;
  std::vector<int> remap(plans_.size(), -1);
  for (size_t i = 0; i < rules_->rules().size(); ++i) {
    const rules::Rule& old_rule = rules_->rules()[i];
    const rules::Rule* now = rules->Find(old_rule.id);
    if (now == nullptr) {
      report.dropped.push_back(old_rule.id);
    } else if (now->version != old_rule.version) {
      report.reset.push_back(old_rule.id);
    } else {
      report.kept.push_back(old_rule.id);
      remap[i] = static_cast<int>(now - rules->rules().data());
    }
  }
  for (const rules::Rule& rule : rules->rules()) {
    if (rules_->Find(rule.id) == nullptr) report.added.push_back(rule.id);
  }
  std::vector<Plan> plans = MakePlans(*rules);
  GuardIndex guards = IndexGuards(&plans);
  absl::flat_hash_map<std::string, EventPlan> events =
      EventPlansOf(*rules, guards);
  for (size_t i = 0; i < remap.size(); ++i) {
    // Same pattern, same layout; only an index the engine cannot keep in a
    // record (or a rule it no longer supports) drops the state.
    if (remap[i] >= 0 && plans[remap[i]].kind != plans_[i].kind) remap[i] = -1;
  }
  for (Handle h = 0; h < users_.handle_limit(); ++h) {
    if (!users_.block(h)) continue;
    uint32_t off = 0;
    while (off < users_.block(h).records_size()) {
      char* r = users_.block(h).records() + off;
      const uint32_t rule = HeadRule(r);
      const uint32_t size = RecordSize(r, layouts_[rule]);
      if (remap[rule] < 0) {
        RemoveRecord(h, off, size);
        continue;
      }
      Store32(r, MakeHead(static_cast<uint32_t>(remap[rule]), HeadN(r)));
      off += size;
    }
    // Expiries of kept records do not change; the wheel entry stays valid.
    ReleaseIfEmpty(h);
  }
  rules_ = std::move(rules);
  plans_ = std::move(plans);
  guards_ = std::move(guards);
  event_plans_ = std::move(events);
  layouts_ = LayoutsOf(plans_);
  // Every record may have a new rule index: deltas would not say so.
  delta_ready_ = false;
  return report;
}

DropReport Engine::Impl::DropUser(absl::string_view user_id) {
  DropReport report;
  const Handle h = users_.Find(user_id);
  if (h == UserStore::kNoUser) return report;
  const internal::UserBlock b = users_.block(h);
  uint32_t off = 0;
  while (off < b.records_size()) {
    const char* r = b.records() + off;
    const Layout& l = layouts_[HeadRule(r)];
    ++report.slots;
    if (IsArmed(r, l)) ++report.deadlines;
    off += RecordSize(r, l);
  }
  live_ -= report.slots;
  armed_ -= report.deadlines;
  // The user's wheel entries stay behind and go stale: they are skipped
  // once the handle has no block, or, if a new user reuses the handle,
  // unless the time agrees with that user's wake-up, in which case they
  // only make the engine visit the new user (Sweep acts on due records
  // only). Nothing of the dropped user can fire.
  users_.Release(h);
  return report;
}

void Engine::Impl::WriteHead(absl::string_view magic,
                             internal::Writer& w) const {
  w.Raw(magic);
  w.Varint(kCheckpointFormat);
  w.Signed(max_event_);
  w.Signed(wall_);
  w.Signed(watermark_);
  w.Signed(last_seq_);
  w.Varint(rules_->rules().size());
  for (const rules::Rule& rule : rules_->rules()) {
    w.Bytes(rule.id);
    w.Bytes(rule.version);
  }
}

void Engine::Impl::WriteUser(internal::UserBlock b, internal::Writer& w) const {
  w.Bytes(b.id());
  uint64_t count = 0;
  for (uint32_t off = 0; off < b.records_size(); ++count) {
    const char* r = b.records() + off;
    off += RecordSize(r, layouts_[HeadRule(r)]);
  }
  w.Varint(count);
  uint32_t off = 0;
  while (off < b.records_size()) {
    const char* r = b.records() + off;
    const uint32_t size = RecordSize(r, layouts_[HeadRule(r)]);
    w.Bytes(absl::string_view(r, size));
    off += size;
  }
}

absl::Status Engine::Impl::WriteCheckpointTo(
    bool delta, std::string* buf, size_t piece_bytes,
    absl::FunctionRef<absl::Status()> flush) {
  if (delta && !delta_ready_) {
    return absl::FailedPreconditionError(
        "engine: no full checkpoint of this state to add a delta to (none "
        "taken since the engine was built, restored with other rules or "
        "reloaded)");
  }
  internal::Writer w(buf);
  WriteHead(delta ? kDeltaMagic : kCheckpointMagic, w);
  // Blocks lie all over the heap: each would be a wait for memory (three
  // quarters of the time of a checkpoint). Those a few users ahead are
  // already on their way.
  constexpr size_t kPrefetchAhead = 16;
  if (delta) {
    const std::vector<Handle>& changed = users_.changed();
    uint64_t live = 0;
    for (const Handle h : changed) live += users_.block(h) ? 1 : 0;
    // Gone first: a user released and back again is in both lists, and the
    // users table below holds its state now.
    w.Varint(users_.released());
    w.Raw(users_.released_ids());
    w.Varint(live);
    for (size_t i = 0; i < changed.size(); ++i) {
      if (i + kPrefetchAhead < changed.size()) {
        users_.Prefetch(changed[i + kPrefetchAhead]);
      }
      if (const internal::UserBlock b = users_.block(changed[i])) {
        WriteUser(b, w);
        if (buf->size() >= piece_bytes) RETURN_IF_ERROR(flush());
      }
    }
  } else {
    w.Varint(users_.size());
    const Handle limit = users_.handle_limit();
    for (Handle h = 0; h < limit; ++h) {
      if (h + kPrefetchAhead < limit) users_.Prefetch(h + kPrefetchAhead);
      if (const internal::UserBlock b = users_.block(h)) {
        WriteUser(b, w);
        if (buf->size() >= piece_bytes) RETURN_IF_ERROR(flush());
      }
    }
  }
  RETURN_IF_ERROR(flush());
  users_.ClearChanges();
  if (!delta) delta_ready_ = true;
  return absl::OkStatus();
}

std::string Engine::Impl::Checkpoint() {
  std::string out;
  // Records are copied as they are, so the users' memory bounds the size:
  // one allocation instead of a doubling string copied ~25 times.
  out.reserve(users_.bytes() + 64 * rules_->rules().size() + 64);
  WriteCheckpointTo(/*delta=*/false, &out, SIZE_MAX, [] {
    return absl::OkStatus();
  }).IgnoreError();  // only `flush` could fail
  return out;
}

absl::StatusOr<std::string> Engine::Impl::CheckpointDelta() {
  std::string out;
  RETURN_IF_ERROR(WriteCheckpointTo(/*delta=*/true, &out, SIZE_MAX,
                                    [] { return absl::OkStatus(); }));
  return out;
}

absl::Status Engine::Impl::WriteCheckpoint(bool delta, size_t piece_bytes,
                                           CheckpointPut put) {
  std::string piece;
  // A piece is flushed once it reaches piece_bytes: room for one more user
  // besides avoids growing the buffer for most (a piece size beyond what a
  // buffer should hold up front just grows it).
  piece.reserve(std::min(piece_bytes, size_t{64} << 20) + 4096);
  return WriteCheckpointTo(delta, &piece, piece_bytes, [&]() -> absl::Status {
    if (piece.empty()) return absl::OkStatus();
    absl::Status s = put(piece);
    piece.clear();
    return s;
  });
}

// One checkpoint (a full one or a delta), read and checked.
struct Engine::Impl::Segment {
  int64_t max_event, wall, watermark, last_seq;
  // Written with exactly this engine's rule set (ids and versions, in order).
  bool same_rules = true;
  std::vector<absl::string_view> released;  // deltas only
  struct User {
    absl::string_view id;
    // Its records whose rule this engine keeps, with this engine's indices.
    std::string records;
    uint32_t count = 0;
  };
  std::vector<User> users;
};

absl::Status Engine::Impl::ReadSegment(absl::string_view data, bool delta,
                                       Segment* seg) const {
  auto corrupt = [delta](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(
        delta ? "engine checkpoint delta: " : "engine checkpoint: ", what));
  };
  internal::Reader in(data);
  const absl::string_view want = delta ? kDeltaMagic : kCheckpointMagic;
  absl::string_view magic;
  uint64_t format;
  if (!in.Raw(want.size(), &magic) || magic != want) {
    return corrupt(delta ? "not an engine checkpoint delta"
                         : "not an engine checkpoint");
  }
  if (!in.Varint(&format) || format != kCheckpointFormat) {
    return corrupt("unknown format version");
  }
  if (!in.Signed(&seg->max_event) || !in.Signed(&seg->wall) ||
      !in.Signed(&seg->watermark) || !in.Signed(&seg->last_seq)) {
    return corrupt("truncated header");
  }
  uint64_t num_rules;
  if (!in.Varint(&num_rules) || num_rules > data.size()) {
    return corrupt("truncated rule table");
  }
  seg->same_rules = num_rules == rules_->rules().size();
  // Checkpoint rule index -> this engine's rule index, -1 to drop.
  std::vector<int> remap(num_rules, -1);
  for (uint64_t i = 0; i < num_rules; ++i) {
    absl::string_view id, version;
    if (!in.Bytes(&id) || !in.Bytes(&version)) {
      return corrupt("truncated rule table");
    }
    const rules::Rule* rule = rules_->Find(id);
    if (rule == nullptr || rule->version != version) {
      seg->same_rules = false;
      continue;
    }
    const int index = static_cast<int>(rule - rules_->rules().data());
    if (static_cast<uint64_t>(index) != i) seg->same_rules = false;
    const Plan::Kind kind = plans_[index].kind;
    if (kind == Plan::Kind::kCount || kind == Plan::Kind::kSequence) {
      remap[i] = index;
    }
  }
  if (delta) {
    uint64_t num_released;
    if (!in.Varint(&num_released) || num_released > data.size()) {
      return corrupt("truncated list of users gone");
    }
    seg->released.resize(num_released);
    for (absl::string_view& id : seg->released) {
      if (!in.Bytes(&id)) return corrupt("truncated list of users gone");
    }
  }
  uint64_t num_users;
  if (!in.Varint(&num_users) || num_users > data.size()) {
    return corrupt("truncated user table");
  }
  for (uint64_t u = 0; u < num_users; ++u) {
    Segment::User user;
    uint64_t num_records;
    if (!in.Bytes(&user.id) || !in.Varint(&num_records) ||
        num_records > data.size()) {
      return corrupt("truncated user");
    }
    for (uint64_t i = 0; i < num_records; ++i) {
      absl::string_view rec;
      if (!in.Bytes(&rec) || rec.size() < kHeadBytes) {
        return corrupt("truncated record");
      }
      const uint32_t rule = HeadRule(rec.data());
      if (rule >= num_rules) return corrupt("record of an unknown rule");
      if (remap[rule] < 0) continue;  // rule removed or changed
      const Plan& p = plans_[remap[rule]];
      if (!ValidRecord(rec, p)) return corrupt("malformed record");
      const size_t at = user.records.size();
      user.records.append(rec.data(), rec.size());
      Store32(user.records.data() + at,
              MakeHead(static_cast<uint32_t>(remap[rule]), HeadN(rec.data())));
      ++user.count;
    }
    // A delta's user with nothing left replaces the state it had.
    if (user.count > 0 || delta) seg->users.push_back(std::move(user));
  }
  if (!in.empty()) return corrupt("trailing bytes");
  return absl::OkStatus();
}

absl::Status Engine::Impl::Restore(absl::string_view checkpoint,
                                   absl::Span<const std::string> deltas) {
  Segment full;
  RETURN_IF_ERROR(ReadSegment(checkpoint, /*delta=*/false, &full));
  std::vector<Segment::User>& users = full.users;
  bool same_rules = full.same_rules;
  Segment* last = &full;
  std::vector<Segment> read(deltas.size());
  if (!deltas.empty()) {
    // Each delta replaces whole users: index them by id.
    absl::flat_hash_map<absl::string_view, size_t> by_id;
    by_id.reserve(users.size());
    for (size_t i = 0; i < users.size(); ++i) by_id[users[i].id] = i;
    for (size_t d = 0; d < deltas.size(); ++d) {
      Segment& delta = read[d];
      if (absl::Status s = ReadSegment(deltas[d], /*delta=*/true, &delta);
          !s.ok()) {
        return absl::DataLossError(absl::StrCat(s.message(), " (delta ", d + 1,
                                                " of ", deltas.size(), ")"));
      }
      if (delta.last_seq < last->last_seq) {
        return absl::DataLossError(
            absl::StrCat("engine checkpoint delta ", d + 1, " of ",
                         deltas.size(), " goes back in the log (seq ",
                         delta.last_seq, " after ", last->last_seq, ")"));
      }
      same_rules = same_rules && delta.same_rules;
      last = &delta;
      for (const absl::string_view id : delta.released) {
        if (auto it = by_id.find(id); it != by_id.end()) {
          users[it->second].records.clear();
          users[it->second].count = 0;
        }
      }
      for (Segment::User& user : delta.users) {
        auto [it, added] = by_id.try_emplace(user.id, users.size());
        if (added) {
          users.push_back(std::move(user));
        } else {
          users[it->second] = std::move(user);
        }
      }
    }
  }

  // Valid: replace the state.
  users_.Clear();
  wheel_.Clear();
  live_ = 0;
  armed_ = 0;
  max_event_ = last->max_event;
  wall_ = last->wall;
  watermark_ = last->watermark;
  last_seq_ = last->last_seq;
  recheck_ = true;
  for (Segment::User& user : users) {
    if (user.count == 0) continue;
    const Handle h = users_.FindOrCreate(user.id);
    users_.Splice(h, users_.block(h).records_size(), 0, user.records.data(),
                  static_cast<uint32_t>(user.records.size()));
    const internal::UserBlock b = users_.block(h);
    live_ += user.count;
    uint32_t off = 0;
    while (off < b.records_size()) {
      const char* r = b.records() + off;
      const Plan& p = plans_[HeadRule(r)];
      if (IsArmed(r, p.layout)) ++armed_;
      off += RecordSize(r, p.layout);
    }
    // A deadline that passed while the engine was down is scheduled in the
    // past and fires at the next AdvanceTo.
    Reschedule(h);
  }
  // The state is what the checkpoints hold, so deltas may follow them,
  // unless records of other rules were dropped: the checkpoints still
  // hold those, and a delta would not say they are gone.
  users_.ClearChanges();
  delta_ready_ = same_rules;
  return absl::OkStatus();
}

EngineStats Engine::Impl::stats() const {
  EngineStats s;
  s.events = events_;
  s.late_events = late_;
  s.matches = matches_;
  s.live_states = live_;
  s.users = users_.size();
  s.state_bytes = users_.bytes() + wheel_.bytes();
  s.pending_deadlines = armed_;
  s.type_mismatches = eval_stats_.type_mismatches + group_mismatches_;
  s.watermark = TimeOf(watermark_);
  return s;
}

Engine::Engine(std::shared_ptr<const rules::RuleSet> rules,
               const EngineOptions& options)
    : impl_(std::make_unique<Impl>(std::move(rules), options)) {}

Engine::~Engine() = default;

void Engine::Process(int64_t seq, const EventRef& event,
                     const TraitSource& traits, std::vector<MatchOut>* out) {
  impl_->Process(seq, event, traits, out);
}

void Engine::Process(int64_t seq, const hark::v1::Event& event,
                     const TraitSource& traits, std::vector<MatchOut>* out) {
  const MessageProperties props(event);
  impl_->Process(seq,
                 EventRef{event.user_id(), event.name(),
                          FromTimestamp(event.timestamp()), &props},
                 traits, out);
}

void Engine::AdvanceTo(absl::Time wall_now, std::vector<MatchOut>* out) {
  impl_->AdvanceTo(wall_now, out);
}

ReloadReport Engine::Reload(std::shared_ptr<const rules::RuleSet> rules) {
  return impl_->Reload(std::move(rules));
}

const rules::RuleSet& Engine::rules() const { return *impl_->rules(); }

std::shared_ptr<const rules::RuleSet> Engine::rules_ptr() const {
  return impl_->rules();
}

int64_t Engine::last_seq() const { return impl_->last_seq(); }

DropReport Engine::DropUser(absl::string_view user_id) {
  return impl_->DropUser(user_id);
}

std::string Engine::Checkpoint() { return impl_->Checkpoint(); }

absl::StatusOr<std::string> Engine::CheckpointDelta() {
  return impl_->CheckpointDelta();
}

absl::Status Engine::WriteCheckpoint(size_t piece_bytes, CheckpointPut put) {
  return impl_->WriteCheckpoint(/*delta=*/false, piece_bytes, put);
}

absl::Status Engine::WriteCheckpointDelta(size_t piece_bytes,
                                          CheckpointPut put) {
  return impl_->WriteCheckpoint(/*delta=*/true, piece_bytes, put);
}

bool Engine::CanCheckpointDelta() const { return impl_->CanCheckpointDelta(); }

uint64_t Engine::changed_users() const { return impl_->changed_users(); }

absl::Status Engine::Restore(absl::string_view checkpoint,
                             absl::Span<const std::string> deltas) {
  return impl_->Restore(checkpoint, deltas);
}

EngineStats Engine::stats() const { return impl_->stats(); }

}  // namespace hark::engine
