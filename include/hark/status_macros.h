#ifndef HARK_STATUS_MACROS_H_
#define HARK_STATUS_MACROS_H_

// The installed abseil has no status macros; these are the project's.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HARK_STATUS_CONCAT_INNER_(a, b) a##b
#define HARK_STATUS_CONCAT_(a, b) HARK_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status hark_status_ = (expr);              \
    if (!hark_status_.ok()) return hark_status_;       \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (a StatusOr); returns its
// status if not OK, otherwise moves the value into `lhs` (which may be a
// declaration such as `auto x`).
#define ASSIGN_OR_RETURN(lhs, expr)                                        \
  ASSIGN_OR_RETURN_IMPL_(HARK_STATUS_CONCAT_(hark_statusor_, __LINE__), \
                         lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // HARK_STATUS_MACROS_H_
