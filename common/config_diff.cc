// RestartOnlyChanges (common/config_diff.h): compares the restart-only leaves
// of two Configs, one line per YAML key. A new field under server or storage,
// or a new sink setting under logging, must be added here (config_diff_test
// changes every such field and expects each to be reported).
#include "common/config_diff.h"

#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace crossbridge {
namespace {

// Appends `path` to *out if the values differ. Only the path, never a value.
template <typename T>
void Compare(std::string path, const T& running, const T& next,
             std::vector<std::string>* out) {
  if (!(running == next)) out->push_back(std::move(path));
}

// The keys storage.redis and storage.redis_cluster share, under `section`.
void CompareRedisConnection(const std::string& section,
                            const RedisStorageConfig& ra,
                            const RedisStorageConfig& rb,
                            std::vector<std::string>* out) {
  // From the URL or password_env's variable; the name only, never the value.
  Compare(section + ".password", ra.password, rb.password, out);
  Compare(section + ".password_env", ra.password_env, rb.password_env, out);
  Compare(section + ".connections", ra.connections, rb.connections, out);
  Compare(section + ".timeout_seconds", ra.timeout, rb.timeout, out);
  Compare(section + ".connect_timeout_seconds", ra.connect_timeout,
          rb.connect_timeout, out);
  Compare(section + ".reconnect_max_backoff_seconds", ra.reconnect_max_backoff,
          rb.reconnect_max_backoff, out);
}

std::vector<std::string> NodeList(const RedisClusterStorageConfig& c) {
  std::vector<std::string> nodes;
  for (const HostPort& node : c.nodes) nodes.push_back(FormatHostPort(node));
  return nodes;
}

}  // namespace

std::vector<std::string> RestartOnlyChanges(const Config& running,
                                            const Config& next) {
  std::vector<std::string> changed;
  auto* out = &changed;

  const ServerConfig& sa = running.server;
  const ServerConfig& sb = next.server;
  Compare("server.listen_address", sa.listen_address, sb.listen_address, out);
  Compare("server.metrics_listen_address", sa.metrics_listen_address,
          sb.metrics_listen_address, out);
  Compare("server.health_listen_address", sa.health_listen_address,
          sb.health_listen_address, out);
  // The files' contents are re-read as they change (certificate rotation);
  // which files, and how, is fixed at start.
  Compare("server.tls.cert_file", sa.tls.cert_file, sb.tls.cert_file, out);
  Compare("server.tls.key_file", sa.tls.key_file, sb.tls.key_file, out);
  Compare("server.tls.client_ca_file", sa.tls.client_ca_file,
          sb.tls.client_ca_file, out);
  Compare("server.tls.client_auth", sa.tls.client_auth, sb.tls.client_auth, out);
  Compare("server.tls.refresh_interval_seconds", sa.tls.refresh_interval,
          sb.tls.refresh_interval, out);
  Compare("server.drain_grace_seconds", sa.drain_grace, sb.drain_grace, out);
  Compare("server.shutdown_timeout_seconds", sa.shutdown_timeout,
          sb.shutdown_timeout, out);

  const StorageConfig& ta = running.storage;
  const StorageConfig& tb = next.storage;
  Compare("storage.backend", ta.backend, tb.backend, out);
  Compare("storage.memory.shards", ta.memory.shards, tb.memory.shards, out);
  Compare("storage.memory.max_buckets", ta.memory.max_buckets,
          tb.memory.max_buckets, out);
  const RedisStorageConfig& ra = ta.redis;
  const RedisStorageConfig& rb = tb.redis;
  // host, port and db are parts of url, reported as it.
  Compare("storage.redis.url", std::tie(ra.url, ra.host, ra.port, ra.db),
          std::tie(rb.url, rb.host, rb.port, rb.db), out);
  CompareRedisConnection("storage.redis", ra, rb, out);
  Compare("storage.redis_cluster.nodes", NodeList(ta.redis_cluster),
          NodeList(tb.redis_cluster), out);
  CompareRedisConnection("storage.redis_cluster", ta.redis_cluster.connection,
                         tb.redis_cluster.connection, out);

  // The log sinks; logging.level and logging.format are reloadable.
  const LoggingConfig& la = running.logging;
  const LoggingConfig& lb = next.logging;
  Compare("logging.console", la.console, lb.console, out);
  Compare("logging.file", la.file, lb.file, out);
  Compare("logging.max_file_mb", la.max_file_mb, lb.max_file_mb, out);
  Compare("logging.max_files", la.max_files, lb.max_files, out);
  return changed;
}

Config WithRestartOnlyKeysOf(const Config& running, const Config& next) {
  Config kept = next;
  kept.server = running.server;
  kept.storage = running.storage;
  kept.logging.console = running.logging.console;
  kept.logging.file = running.logging.file;
  kept.logging.max_file_mb = running.logging.max_file_mb;
  kept.logging.max_files = running.logging.max_files;
  return kept;
}

}  // namespace crossbridge
