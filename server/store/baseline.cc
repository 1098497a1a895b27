#include "server/store/baseline.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "hark/status_macros.h"
#include "server/store/schema.h"
#include "server/store/sqlite_connection.h"

namespace hark::store {

absl::StatusOr<double> MeasureAppendCeiling(
    const std::string& path, const std::vector<EventRecord>& events,
    size_t batch_size, Durability durability) {
  if (events.empty()) {
    return absl::InvalidArgumentError("append ceiling: no events to append");
  }
  if (batch_size == 0) {
    return absl::InvalidArgumentError("append ceiling: batch_size is 0");
  }
  if (path != internal::kInMemoryPath) {
    std::error_code error;
    const bool exists = std::filesystem::exists(path, error);
    if (error) {
      return absl::FailedPreconditionError(absl::StrCat(
          "append ceiling: cannot check ", path, ": ", error.message()));
    }
    if (exists) {
      return absl::AlreadyExistsError(
          absl::StrCat("append ceiling: ", path,
                       " already exists; give a path for a fresh file"));
    }
  }

  ASSIGN_OR_RETURN(std::unique_ptr<internal::Connection> conn,
                   internal::OpenWriter(path, durability, absl::Seconds(5)));
  RETURN_IF_ERROR(conn->ExecScript(internal::kCreateEventsTableSql));

  const absl::Time start = absl::Now();
  for (size_t begin = 0; begin < events.size(); begin += batch_size) {
    const size_t end = std::min(events.size(), begin + batch_size);
    const absl::Span<const EventRecord> batch =
        absl::MakeConstSpan(events).subspan(begin, end - begin);
    RETURN_IF_ERROR(internal::InTransaction(
        *conn, [&] { return internal::AppendEvents(*conn, batch).status(); }));
  }
  const double seconds =
      std::max(absl::ToDoubleSeconds(absl::Now() - start), 1e-9);
  return static_cast<double>(events.size()) / seconds;
}

}  // namespace hark::store
