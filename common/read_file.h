// Reading a whole (small) file: the config file, the tokens file, TLS
// certificates and keys. One place for the errors every caller reports.
//
// Thread safety: a pure function of the file system.
#ifndef CROSSBRIDGE_COMMON_READ_FILE_H_
#define CROSSBRIDGE_COMMON_READ_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace crossbridge {

// The contents of `path` (symlinks followed; a FIFO is refused, never
// waited on). `what` names the setting the file is for (e.g.
// "auth.tokens_file") and starts every message. Errors, the path quoted:
//   NotFound         <what>: cannot read "<path>": <strerror>   (no such
//                                                  file or directory)
//   InvalidArgument  the same, for every other reason (permissions, a read
//                    error, "not a regular file"), or:
//                    <what>: "<path>" is larger than <max_bytes> bytes
absl::StatusOr<std::string> ReadFileText(absl::string_view what,
                                         const std::string& path,
                                         size_t max_bytes);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_READ_FILE_H_
