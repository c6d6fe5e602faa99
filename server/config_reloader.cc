#include "server/config_reloader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/mutex.h"

namespace crossbridge {

ConfigReloader::ConfigReloader(std::string path, Loader load, Server& server,
                               const Clock& clock, absl::Duration interval)
    : path_(std::move(path)),
      load_(std::move(load)),
      server_(server),
      clock_(clock),
      interval_(interval) {
  if (path_.empty()) return;
  {
    // The file as the server loaded it just before (a change in between is
    // at worst one reload too many).
    MutexLock lock(&reload_mu_);
    loaded_ = Stat();
  }
  Logger("config")->info("watching {} for changes (every {}); SIGHUP reloads too",
                         path_, absl::FormatDuration(interval_));
  watcher_ = std::thread([this] { Watch(); });
}

ConfigReloader::~ConfigReloader() {
  {
    MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (watcher_.joinable()) watcher_.join();
}

std::optional<ConfigReloader::Fingerprint> ConfigReloader::Stat() const {
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return std::nullopt;
  Fingerprint f;
  f.device = st.st_dev;
  f.inode = st.st_ino;
  f.size = st.st_size;
  f.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  return f;
}

absl::Status ConfigReloader::ReloadNow(const std::string& why) {
  if (path_.empty()) {
    absl::Status s = absl::FailedPreconditionError(
        "running on the embedded default configuration: no file to reload "
        "(start with --config PATH or CROSSBRIDGE_CONFIG)");
    Logger("config")->warn("{}: {}", why, std::string(s.message()));
    return s;
  }
  MutexLock lock(&reload_mu_);
  Logger("config")->info("{}: reloading {}", why, path_);
  loaded_ = Stat();
  return server_.Reload(load_());
}

void ConfigReloader::Watch() {
  for (;;) {
    {
      MutexLock lock(&stop_mu_);
      if (clock_.AwaitFor(
              lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_; },
              interval_)) {
        return;
      }
    }
    std::optional<Fingerprint> now = Stat();
    if (!now.has_value()) continue;  // missing for now: wait for it
    {
      MutexLock lock(&reload_mu_);
      if (loaded_ == now) continue;
    }
    // Logged and counted by the server; the watch goes on either way.
    ReloadNow("the file changed").IgnoreError();
  }
}

}  // namespace crossbridge
