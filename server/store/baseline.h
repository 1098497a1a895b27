#ifndef HARK_SERVER_STORE_BASELINE_H_
#define HARK_SERVER_STORE_BASELINE_H_

// The storage ceiling: how fast this machine can append events to a SQLite
// event log with nothing else going on. The benchmark tool reports Hark's
// ingest rate next to it. Lives here because only server/store/ has SQL.

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/store/store.h"

namespace hark::store {

// Creates a fresh SQLite database at `path` (WAL, `synchronous` from
// `durability`, the same `events` table as the store), appends all `events`
// with one prepared INSERT in transactions of `batch_size` rows, and returns
// the appended events per second of wall time. Only the appends are timed,
// not creating or closing the file.
//
// Refuses (ALREADY_EXISTS) to touch an existing file, so a mistaken path
// never clobbers a real database; the caller removes `path` (and its -wal
// and -shm siblings, which SQLite deletes on a clean close) afterwards.
// ":memory:" measures without a file system.
absl::StatusOr<double> MeasureAppendCeiling(
    const std::string& path, const std::vector<EventRecord>& events,
    size_t batch_size, Durability durability);

}  // namespace hark::store

#endif  // HARK_SERVER_STORE_BASELINE_H_
