#ifndef HARK_TESTS_UNIT_INGEST_FAKE_STORE_H_
#define HARK_TESTS_UNIT_INGEST_FAKE_STORE_H_

// An in-memory store::Store for ingestor tests: records every committed
// batch, can hold writes on a latch the test controls, and can be told to
// fail writes or scans.

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/store/store.h"

namespace hark::ingest::testing {

// Bounded waits: a broken test fails after this instead of hanging.
inline constexpr absl::Duration kTestTimeout = absl::Seconds(30);

class FakeStore final : public store::Store {
 public:
  absl::StatusOr<store::WriteResult> Write(
      const store::WriteBatch& batch) override {
    absl::MutexLock lock(&mu_);
    ++writes_entered_;
    if (hold_writes_) {
      auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !hold_writes_;
      };
      if (!mu_.AwaitWithTimeout(absl::Condition(&released), kTestTimeout)) {
        return absl::DeadlineExceededError(
            "FakeStore: the test never released the write latch");
      }
    }
    if (failures_left_ > 0) {
      --failures_left_;
      return failure_;
    }
    batches_.push_back(batch);
    // Sequence numbers as the SQLite store assigns them: 1, 2, 3, ... in
    // append order (ScanEvents below numbers events the same way).
    store::WriteResult result;
    if (!batch.events.empty()) {
      result.first_event_seq = static_cast<int64_t>(events_.size()) + 1;
      result.last_event_seq =
          static_cast<int64_t>(events_.size() + batch.events.size());
    }
    for (const store::EventRecord& event : batch.events) {
      events_.push_back(event);
    }
    for (const std::string& user : batch.new_users) {
      users_.push_back(user);
    }
    for (const store::TraitRecord& trait : batch.traits) {
      traits_.push_back(trait);
    }
    return result;
  }

  absl::Status ScanRecentEventIds(
      size_t max_events,
      absl::FunctionRef<void(absl::string_view)> fn) override {
    std::vector<std::string> ids;
    {
      absl::MutexLock lock(&mu_);
      if (!scan_failure_.ok()) return scan_failure_;
      const size_t first =
          events_.size() > max_events ? events_.size() - max_events : 0;
      for (size_t i = first; i < events_.size(); ++i) {
        ids.push_back(events_[i].event_id);
      }
    }
    for (const std::string& id : ids) fn(id);
    return absl::OkStatus();
  }

  absl::Status ScanUsers(
      absl::FunctionRef<void(absl::string_view)> fn) override {
    std::vector<std::string> users;
    {
      absl::MutexLock lock(&mu_);
      if (!scan_failure_.ok()) return scan_failure_;
      users = users_;
    }
    for (const std::string& user : users) fn(user);
    return absl::OkStatus();
  }

  absl::Status ScanEvents(
      int64_t after_seq,
      absl::FunctionRef<void(int64_t, const store::EventRecord&)> fn) override {
    std::vector<store::EventRecord> events = this->events();
    for (size_t i = 0; i < events.size(); ++i) {
      const int64_t seq = static_cast<int64_t>(i) + 1;
      if (seq > after_seq) fn(seq, events[i]);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<store::TraitRecord>> GetTraits(
      absl::string_view user_id) override {
    absl::MutexLock lock(&mu_);
    std::vector<store::TraitRecord> out;
    for (const store::TraitRecord& trait : traits_) {
      if (trait.user_id == user_id) out.push_back(trait);
    }
    return out;
  }

  absl::StatusOr<store::StoreStats> GetStats() override {
    absl::MutexLock lock(&mu_);
    store::StoreStats stats;
    stats.events = events_.size();
    stats.users = users_.size();
    return stats;
  }

  const std::string& path() const override { return path_; }

  // --- Test controls ---

  // Writes from now on wait in Write() until ReleaseWrites().
  void HoldWrites() {
    absl::MutexLock lock(&mu_);
    hold_writes_ = true;
  }
  void ReleaseWrites() {
    absl::MutexLock lock(&mu_);
    hold_writes_ = false;
  }
  // Removes the user from the known users (what Store::DeleteUser does to
  // the users table).
  void RemoveUser(absl::string_view user_id) {
    absl::MutexLock lock(&mu_);
    std::erase(users_, std::string(user_id));
  }
  // Waits until Write() has been entered `n` times in all; false on timeout.
  bool WaitForWritesEntered(int n) {
    absl::MutexLock lock(&mu_);
    auto entered = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return writes_entered_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&entered), kTestTimeout);
  }
  // The next `n` writes fail with `status` and store nothing.
  void FailWrites(int n, absl::Status status) {
    absl::MutexLock lock(&mu_);
    failures_left_ = n;
    failure_ = std::move(status);
  }
  void FailScans(absl::Status status) {
    absl::MutexLock lock(&mu_);
    scan_failure_ = std::move(status);
  }

  std::vector<store::WriteBatch> batches() const {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  std::vector<store::EventRecord> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<std::string> users() const {
    absl::MutexLock lock(&mu_);
    return users_;
  }
  std::vector<store::TraitRecord> traits() const {
    absl::MutexLock lock(&mu_);
    return traits_;
  }

 private:
  const std::string path_ = ":fake:";
  mutable absl::Mutex mu_;
  bool hold_writes_ ABSL_GUARDED_BY(mu_) = false;
  int writes_entered_ ABSL_GUARDED_BY(mu_) = 0;
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  absl::Status scan_failure_ ABSL_GUARDED_BY(mu_);
  std::vector<store::WriteBatch> batches_ ABSL_GUARDED_BY(mu_);
  std::vector<store::EventRecord> events_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> users_ ABSL_GUARDED_BY(mu_);
  std::vector<store::TraitRecord> traits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hark::ingest::testing

#endif  // HARK_TESTS_UNIT_INGEST_FAKE_STORE_H_
