#include "common/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

absl::Status CannotRead(const std::string& path, int error) {
  return absl::NotFoundError(
      absl::StrCat("cannot read \"", path, "\": ", std::strerror(error)));
}

}  // namespace

absl::StatusOr<std::string> ReadFileText(const std::string& path,
                                         size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return CannotRead(path, errno);
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return CannotRead(path, errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat("cannot read \"", path, "\": not a regular file"));
  }
  std::string text;
  char buffer[16384];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return CannotRead(path, errno);
    }
    if (n == 0) break;
    if (text.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", path, "\" is larger than ", max_bytes, " bytes"));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace crossbridge
