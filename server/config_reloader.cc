#include "server/config_reloader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/mutex.h"

namespace crossbridge {

ConfigReloader::ConfigReloader(std::string path, Loader load, Server& server,
                               const Config& running, const Clock& clock,
                               absl::Duration interval)
    : path_(std::move(path)),
      load_(std::move(load)),
      server_(server),
      clock_(clock),
      interval_(interval) {
  {
    // The files as the server loaded them just before (a change in between
    // is at worst one reload too many).
    MutexLock lock(&reload_mu_);
    files_ = FilesOf(running);
    if (files_.empty()) return;
    loaded_ = Stat(files_);
    Logger("config")->info("watching {} for changes (every {}); SIGHUP reloads too",
                           absl::StrJoin(files_, ", "),
                           absl::FormatDuration(interval_));
  }
  watcher_ = std::thread([this] { Watch(); });
}

ConfigReloader::~ConfigReloader() {
  {
    MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (watcher_.joinable()) watcher_.join();
}

std::vector<std::string> ConfigReloader::FilesOf(const Config& config) const {
  std::vector<std::string> files;
  if (!path_.empty()) files.push_back(path_);
  if (config.auth.enabled && !config.auth.tokens_file.empty()) {
    files.push_back(config.auth.tokens_file);
  }
  return files;
}

ConfigReloader::Fingerprints ConfigReloader::Stat(
    const std::vector<std::string>& files) {
  Fingerprints out;
  for (const std::string& file : files) {
    struct stat st;
    if (stat(file.c_str(), &st) != 0) {
      out.push_back(std::nullopt);
      continue;
    }
    Fingerprint f;
    f.device = st.st_dev;
    f.inode = st.st_ino;
    f.size = st.st_size;
    f.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    out.push_back(f);
  }
  return out;
}

absl::Status ConfigReloader::ReloadNow(const std::string& why) {
  MutexLock lock(&reload_mu_);
  if (files_.empty()) {
    absl::Status s = absl::FailedPreconditionError(
        "running on the embedded default configuration: no file to reload "
        "(start with --config PATH or CROSSBRIDGE_CONFIG)");
    Logger("config")->warn("{}: {}", why, std::string(s.message()));
    return s;
  }
  Logger("config")->info("{}: reloading {}", why,
                         path_.empty() ? "the tokens file" : path_);
  loaded_ = Stat(files_);
  absl::StatusOr<Config> next = load_();
  absl::Status result = server_.Reload(next);
  if (result.ok() && FilesOf(*next) != files_) {
    // The new config names another tokens file: watch that one.
    files_ = FilesOf(*next);
    loaded_ = Stat(files_);
  }
  return result;
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
    bool changed = false;
    {
      MutexLock lock(&reload_mu_);
      const Fingerprints now = Stat(files_);
      for (size_t i = 0; i < now.size(); ++i) {
        // A missing file is waited for, not reported.
        if (now[i].has_value() && !(now[i] == loaded_[i])) changed = true;
      }
    }
    // Logged and counted by the server; the watch goes on either way.
    if (changed) ReloadNow("the file changed").IgnoreError();
  }
}

}  // namespace crossbridge
