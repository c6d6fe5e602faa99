#include "server/metrics/process_collector.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/metrics/metrics.h"

namespace crossbridge {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Stat {
  double cpu_seconds = 0;
  double start_ticks = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

// /proc/self/stat: the fields after "(comm)" (which may hold spaces).
std::optional<Stat> ReadStat() {
  std::optional<std::string> text = ReadFile("/proc/self/stat");
  if (!text) return std::nullopt;
  const size_t paren = text->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::vector<std::string> f =
      absl::StrSplit(text->substr(paren + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state): utime is field 14, stime 15, starttime 22,
  // vsize 23, rss 24.
  if (f.size() < 22) return std::nullopt;
  double utime, stime, start, vsize, rss;
  if (!absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime) ||
      !absl::SimpleAtod(f[19], &start) || !absl::SimpleAtod(f[20], &vsize) ||
      !absl::SimpleAtod(f[21], &rss)) {
    return std::nullopt;
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  Stat s;
  s.cpu_seconds = (utime + stime) / ticks;
  s.start_ticks = start;
  s.virtual_bytes = vsize;
  s.resident_bytes = rss * static_cast<double>(sysconf(_SC_PAGESIZE));
  return s;
}

// Boot time (seconds since the epoch), from /proc/stat's btime line.
std::optional<double> BootTime() {
  std::optional<std::string> text = ReadFile("/proc/stat");
  if (!text) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, "btime ")) {
      double btime;
      if (absl::SimpleAtod(line, &btime)) return btime;
    }
  }
  return std::nullopt;
}

std::optional<double> OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  double n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory's own descriptor
}

void AddGauge(std::vector<MetricFamily>& out, const char* name,
              const char* help, MetricType type, double value) {
  MetricFamily f = MakeFamily(name, help, type);
  AddSample(f, {}, value);
  out.push_back(std::move(f));
}

}  // namespace

std::vector<MetricFamily> ProcessCollector::Collect() const {
  std::vector<MetricFamily> out;
  if (std::optional<Stat> s = ReadStat()) {
    AddGauge(out, "process_cpu_seconds_total",
             "Total user and system CPU time spent in seconds.",
             MetricType::Counter, s->cpu_seconds);
    AddGauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
             MetricType::Gauge, s->resident_bytes);
    AddGauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
             MetricType::Gauge, s->virtual_bytes);
    if (std::optional<double> boot = BootTime()) {
      AddGauge(out, "process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.",
               MetricType::Gauge,
               *boot + s->start_ticks / static_cast<double>(sysconf(_SC_CLK_TCK)));
    }
  }
  if (std::optional<double> fds = OpenFds()) {
    AddGauge(out, "process_open_fds", "Number of open file descriptors.",
             MetricType::Gauge, *fds);
  }
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    AddGauge(out, "process_max_fds", "Maximum number of open file descriptors.",
             MetricType::Gauge, static_cast<double>(limit.rlim_cur));
  }
  return out;
}

}  // namespace crossbridge
