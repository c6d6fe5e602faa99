// Status helpers named like abseil's later releases (Debian 12's abseil
// 20220623 has none of them), so an upgrade is a rename.
//
//   RETURN_IF_ERROR(expr);            returns expr's status if it is not OK
//   ASSIGN_OR_RETURN(lhs, expr);      lhs = *expr, or returns expr.status()
#ifndef CROSSBRIDGE_COMMON_STATUS_H_
#define CROSSBRIDGE_COMMON_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CB_STATUS_CONCAT_INNER_(a, b) a##b
#define CB_STATUS_CONCAT_(a, b) CB_STATUS_CONCAT_INNER_(a, b)

#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status cb_status_ = (expr);                        \
    if (!cb_status_.ok()) return cb_status_;                   \
  } while (0)

#define ASSIGN_OR_RETURN(lhs, expr) \
  CB_ASSIGN_OR_RETURN_IMPL_(CB_STATUS_CONCAT_(cb_statusor_, __LINE__), lhs, expr)

#define CB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                              \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // CROSSBRIDGE_COMMON_STATUS_H_
