#include "server/engine/guard_index.h"

#include <algorithm>

namespace hark::engine::internal {

GuardIndex::Kind GuardIndex::KindOf(rules::EqualityGuard::Kind kind) {
  switch (kind) {
    case rules::EqualityGuard::Kind::kString:
      return Kind::kString;
    case rules::EqualityGuard::Kind::kNumber:
      return Kind::kNumber;
    case rules::EqualityGuard::Kind::kBool:
      return Kind::kBool;
  }
  return Kind::kOther;
}

uint32_t GuardIndex::Add(absl::string_view event,
                         const rules::EqualityGuard& guard) {
  std::vector<uint32_t>& event_keys = keys_by_event_[event];
  auto it = std::find_if(event_keys.begin(), event_keys.end(), [&](uint32_t k) {
    return keys_[k].prop == guard.key;
  });
  uint32_t k;
  if (it != event_keys.end()) {
    k = *it;
  } else {
    k = static_cast<uint32_t>(keys_.size());
    keys_.emplace_back().prop = guard.key;
    event_keys.push_back(k);
  }
  const uint32_t slot = static_cast<uint32_t>(slots_.size());
  slots_.push_back(Slot{k, KindOf(guard.kind)});
  Key& key = keys_[k];
  for (const std::string& s : guard.strings) key.strings[s].push_back(slot);
  for (double d : guard.numbers) key.numbers[Normal(d)].push_back(slot);
  for (bool b : guard.bools) key.bools[b ? 1 : 0].push_back(slot);
  return slot;
}

std::vector<uint32_t> GuardIndex::KeysOf(absl::string_view name) const {
  auto it = keys_by_event_.find(name);
  if (it == keys_by_event_.end()) return {};
  return it->second;
}

void GuardIndex::Begin(absl::Span<const uint32_t> keys,
                       const rules::EvalInput& input) {
  ++epoch_;
  for (uint32_t k : keys) {
    Key& key = keys_[k];
    key.epoch = epoch_;
    key.seen = Kind::kMissing;
    const hark::v1::Value* v = input.Prop(key.prop);
    if (v == nullptr) continue;
    const std::vector<uint32_t>* pass = nullptr;
    switch (v->kind_case()) {
      case hark::v1::Value::kStringValue: {
        key.seen = Kind::kString;
        auto found = key.strings.find(v->string_value());
        if (found != key.strings.end()) pass = &found->second;
        break;
      }
      case hark::v1::Value::kNumberValue: {
        key.seen = Kind::kNumber;
        auto found = key.numbers.find(Normal(v->number_value()));
        if (found != key.numbers.end()) pass = &found->second;
        break;
      }
      case hark::v1::Value::kBoolValue:
        key.seen = Kind::kBool;
        pass = &key.bools[v->bool_value() ? 1 : 0];
        break;
      case hark::v1::Value::kTimestampValue:
        key.seen = Kind::kOther;
        break;
      case hark::v1::Value::KIND_NOT_SET:
        break;
    }
    if (pass == nullptr) continue;
    for (uint32_t slot : *pass) slots_[slot].pass_epoch = epoch_;
  }
}

GuardIndex::Result GuardIndex::Check(uint32_t slot) const {
  const Slot& s = slots_[slot];
  if (s.pass_epoch == epoch_) return Result::kPass;
  const Key& key = keys_[s.key];
  if (key.epoch != epoch_) return Result::kUnknown;
  return key.seen == s.kind ? Result::kFail : Result::kMismatch;
}

}  // namespace hark::engine::internal
