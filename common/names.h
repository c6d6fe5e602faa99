// The rules for names that crossbridge.yml defines and requests refer to.
// One rule each, used by the config loader and by every request path, so a
// request can never name something the config could not.
//
//   entry names  [A-Za-z0-9_.-]{1,64}   operations, health providers
//   policy names [A-Za-z0-9_]{1,64}     retry policies ("<name>_policy")
//   env vars     [A-Za-z_][A-Za-z0-9_]* password_env, api_key_env
#ifndef CROSSBRIDGE_COMMON_NAMES_H_
#define CROSSBRIDGE_COMMON_NAMES_H_

#include "absl/strings/string_view.h"

namespace crossbridge {

inline constexpr size_t kMaxNameBytes = 64;
inline constexpr char kEntryNameRule[] = "must match [A-Za-z0-9_.-]{1,64}";
inline constexpr char kPolicyNameRule[] = "must match [A-Za-z0-9_]{1,64}";

bool IsValidEntryName(absl::string_view name);
bool IsValidPolicyName(absl::string_view name);
bool IsValidEnvVarName(absl::string_view name);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_NAMES_H_
