// What a hot reload cannot apply: the difference between the running Config
// and a newly loaded one, restricted to the keys that are read only at
// start.
//
// Restart-only: everything under server.* and storage.* (listeners, the store
// and its connections are built once), and the log sinks: logging.console,
// logging.file, logging.max_file_mb, logging.max_files (InitLogging builds the
// sinks on its first call only; see common/logging.h).
// Reloadable, never listed: runtime.*, logging.level, logging.format.
//
// A reload applies the reloadable part and reports the rest, e.g.
//   for (const std::string& key : RestartOnlyChanges(*running, *next))
//     log->warn("{} changed; it takes effect after a restart", key);
#ifndef CROSSBRIDGE_COMMON_CONFIG_DIFF_H_
#define CROSSBRIDGE_COMMON_CONFIG_DIFF_H_

#include <string>
#include <vector>

#include "common/config.h"

namespace crossbridge {

// The dotted YAML key paths ("server.listen_address", "storage.backend",
// "storage.redis.url", "storage.memory.shards", "logging.file", ...) of the
// restart-only keys whose values differ between `running` and `next`, in the
// order crossbridge.yml lists them; empty when a reload can apply everything.
// Only key names, never values: a changed Redis password (from the URL or
// password_env's variable) is reported as "storage.redis.password". host,
// port and db are parts of storage.redis.url and are reported as that key.
std::vector<std::string> RestartOnlyChanges(const Config& running,
                                            const Config& next);

// `next` with every key RestartOnlyChanges covers taken from `running`: the
// config a reload leaves in force.
Config WithRestartOnlyKeysOf(const Config& running, const Config& next);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_CONFIG_DIFF_H_
