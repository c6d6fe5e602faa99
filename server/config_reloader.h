// ConfigReloader: brings a running server onto its config file again, on
// request (SIGHUP: ReloadNow) and by itself when the file, or a file the
// running config names for reload (auth.tokens_file), changes.
//
// The watch polls the files every `interval` with stat(), following
// symlinks, and reloads when what one points at changed (device, inode,
// size or mtime). Polling survives every way a file gets replaced, which
// an inotify watch on one inode does not:
//   - Kubernetes ConfigMap volumes, where the file is a symlink through
//     `..data` and `..data` is swapped atomically to a new timestamped
//     directory (the target's inode changes);
//   - editors that write a new file and rename it over the old one;
//   - in-place writes (size or mtime changes).
// A file that is briefly missing (deleted, then written again) is waited
// for, not reported; a reload runs once it is back. A broken file is
// reported once (Server::Reload logs and counts it) and not again until it
// changes.
//
// Thread safety: ReloadNow may be called from any thread; reloads are
// serialized. The destructor stops the watch thread.
#ifndef CROSSBRIDGE_SERVER_CONFIG_RELOADER_H_
#define CROSSBRIDGE_SERVER_CONFIG_RELOADER_H_

#include <sys/stat.h>

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/config.h"
#include "server/server.h"

namespace crossbridge {

class ConfigReloader {
 public:
  // Loads the config the way the server started (the file plus the
  // command-line overrides); must be callable from any thread.
  using Loader = std::function<absl::StatusOr<Config>()>;

  // Watches `path` ("" = the server runs on the embedded default) and the
  // files `running` (the config the server started with) names, every
  // `interval`; after a successful reload, those the new config names.
  // `server` and `clock` must outlive the reloader.
  ConfigReloader(std::string path, Loader load, Server& server,
                 const Config& running, const Clock& clock,
                 absl::Duration interval = absl::Milliseconds(500));
  ~ConfigReloader();
  ConfigReloader(const ConfigReloader&) = delete;
  ConfigReloader& operator=(const ConfigReloader&) = delete;

  // Reloads now (`why` is for the log: "SIGHUP"). Returns Server::Reload's
  // result; FailedPrecondition when there is no file to read again (the
  // embedded default, and no tokens file).
  absl::Status ReloadNow(const std::string& why);

 private:
  struct Fingerprint {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const Fingerprint& o) const {
      return device == o.device && inode == o.inode && size == o.size &&
             mtime_ns == o.mtime_ns;
    }
  };
  using Fingerprints = std::vector<std::optional<Fingerprint>>;

  // The files to watch under `config`: path_ (if any), then the tokens file.
  std::vector<std::string> FilesOf(const Config& config) const;
  // Where each file points now; nullopt while it cannot be stat()ed.
  static Fingerprints Stat(const std::vector<std::string>& files);
  void Watch();

  const std::string path_;
  const Loader load_;
  Server& server_;
  const Clock& clock_;
  const absl::Duration interval_;

  absl::Mutex reload_mu_;  // one reload at a time
  std::vector<std::string> files_ ABSL_GUARDED_BY(reload_mu_);
  // What the last reload (or the start) read.
  Fingerprints loaded_ ABSL_GUARDED_BY(reload_mu_);

  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread watcher_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_CONFIG_RELOADER_H_
