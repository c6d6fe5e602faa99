#include "common/names.h"

#include "absl/strings/ascii.h"

namespace crossbridge {
namespace {

bool IsNameChar(char c, bool allow_dot_dash) {
  return absl::ascii_isalnum(c) || c == '_' ||
         (allow_dot_dash && (c == '.' || c == '-'));
}

bool AllNameChars(absl::string_view name, bool allow_dot_dash) {
  for (char c : name) {
    if (!IsNameChar(c, allow_dot_dash)) return false;
  }
  return true;
}

}  // namespace

bool IsValidEntryName(absl::string_view name) {
  return !name.empty() && name.size() <= kMaxNameBytes &&
         AllNameChars(name, /*allow_dot_dash=*/true);
}

bool IsValidPolicyName(absl::string_view name) {
  return !name.empty() && name.size() <= kMaxNameBytes &&
         AllNameChars(name, /*allow_dot_dash=*/false);
}

bool IsValidEnvVarName(absl::string_view name) {
  return !name.empty() && !absl::ascii_isdigit(name[0]) &&
         AllNameChars(name, /*allow_dot_dash=*/false);
}

}  // namespace crossbridge
