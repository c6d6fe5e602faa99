#include "common/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

absl::Status CannotRead(absl::string_view what, const std::string& path,
                        int error, absl::string_view why = "") {
  std::string message =
      absl::StrCat(what, ": cannot read \"", path, "\": ",
                   why.empty() ? std::strerror(error) : why);
  return error == ENOENT || error == ENOTDIR
             ? absl::NotFoundError(message)
             : absl::InvalidArgumentError(message);
}

}  // namespace

absl::StatusOr<std::string> ReadFileText(absl::string_view what,
                                         const std::string& path,
                                         size_t max_bytes) {
  // O_NONBLOCK: a FIFO at `path` must not hang the open (it is then refused
  // as not a regular file); reads of a regular file ignore the flag.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return CannotRead(what, path, errno);
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return CannotRead(what, path, errno);
  if (!S_ISREG(st.st_mode)) return CannotRead(what, path, EINVAL, "not a regular file");
  std::string text;
  char buffer[16384];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return CannotRead(what, path, errno);
    }
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": \"", path, "\" is larger than ", max_bytes, " bytes"));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace crossbridge
