#include "server/store/bucket_store.h"

#include "absl/strings/str_cat.h"

namespace crossbridge {

std::string BucketKey(absl::string_view operation, absl::string_view key) {
  return absl::StrCat("cb:v1:{", operation, ":", key, "}");
}

}  // namespace crossbridge
