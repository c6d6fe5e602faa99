// Caller input in messages. Error messages (grpc-message), logs and CLI
// output never carry what a caller sent whole: at most a bounded prefix,
// with every byte that is not printable ASCII escaped, so a 100 KB field or
// an ESC/OSC sequence comes back as a short, inert string.
#ifndef CROSSBRIDGE_COMMON_QUOTE_H_
#define CROSSBRIDGE_COMMON_QUOTE_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace crossbridge {

// How much of a caller's field a message shows.
inline constexpr size_t kMaxQuotedBytes = 64;

// "\"<the first max_bytes bytes, C-hex-escaped>\"", followed by
// "... (N bytes)" when `text` was longer.
//   QuoteForMessage("embed")        -> "embed" (with the quotes)
//   QuoteForMessage("a\x1b[31m")    -> "a\x1b[31m" (escaped: \x1b)
std::string QuoteForMessage(absl::string_view text,
                            size_t max_bytes = kMaxQuotedBytes);

// The offset of the first byte of `text` that does not start printable
// UTF-8: a C0 control, DEL, a C1 control (U+0080..U+009F) or a byte that
// is not part of valid UTF-8. npos when there is none.
size_t FindUnprintable(absl::string_view text);

// For a terminal: `text` with valid UTF-8 kept, and C0 and C1 controls,
// DEL and invalid bytes written as \xNN (the backslash itself as \\), so
// output cannot move the cursor or set a title.
std::string EscapeForTerminal(absl::string_view text);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_QUOTE_H_
