// loadgen: closed-loop load generator for `make bench` (bench/README.md).
//
//   loadgen --mode grpc  --target HOST:PORT [flags]
//   loadgen --mode redis --redis-url redis://127.0.0.1:PORT/0 [flags]
//   loadgen --mode sdk   --target HOST:PORT [flags]
//
// Closed loop (default): keeps exactly --concurrency requests in flight,
// every completion issues the next request. Paced (grpc, --rate R): issues
// R requests a second, at most --concurrency in flight; a request that finds
// every slot busy is not sent and is counted as "skipped" (the server fell
// behind the rate). Keys "k<i>" are picked uniformly from --keys. Latency is
// measured per request from issue to completion; requests completing inside
// the measured window (after --warmup-s, for --duration-s) count. Errors are
// counted separately and never as throughput; a refused permit
// (allowed=false) is a normal answer and counts (it is reported as refused).
//
// grpc:  callback-API async unary calls (stub->async()->AcquirePermit) over
//        --channels channels, each its own HTTP/2 connection.
// redis: the server's own Lua script (crossbridge::kRedisGcraScript): SCRIPT
//        LOAD once, then EVALSHA <sha> 1 cb:v2:bucket:{<operation>:k<i>}
//        <emission interval µs> <capacity> <cost> 0 (all or nothing), pipelined over
//        --redis-connections blocking hiredis connections, one thread each,
//        each keeping concurrency/connections commands in flight.
// sdk:   the C++ SDK (client/client.h): one crossbridge::Client per
//        --channels, Client::AcquirePermitAsync with --concurrency consumer
//        loops, as an application would call it, over --transport (stream:
//        one StreamPermits stream per Client; unary: one RPC per call) and,
//        with --lease-max-permits, leases on the operation. A call a lease
//        grants inline is followed by the consumer's next one in a loop on
//        the same thread, not by recursion.
//
// --json also prints allowed_all (every allowed answer of the whole run,
// warm-up and calls finishing after the window included) and elapsed_s
// (from the start to the last answer): the exactness check of run.sh
// compares them with the rule's bound.
#include <grpcpp/grpcpp.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "histogram.h"
#include "server/redis/keyspace.h"
#include "server/store/redis_gcra_script.h"

namespace crossbridge::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kUsage[] =
    "usage: loadgen [--mode grpc|redis|sdk] [flags]\n"
    "  --target HOST:PORT        grpc, sdk: the RateLimiter server\n"
    "  --redis-url URL           redis: redis://HOST:PORT/DB\n"
    "  --concurrency N           requests in flight (64)\n"
    "  --duration-s S            measured seconds (10)\n"
    "  --warmup-s S              unmeasured seconds first (2)\n"
    "  --keys K                  distinct keys k0..k<K-1> (1000)\n"
    "  --cost C                  permits per request (1)\n"
    "  --operation OP            operation name (bench)\n"
    "  --capacity N              redis: bucket capacity (1000000)\n"
    "  --window-s S              redis: bucket window seconds (60)\n"
    "  --channels N              grpc: channels/connections; sdk: Clients (2)\n"
    "  --deadline-ms MS          grpc: per-call deadline, 0 = none (1000)\n"
    "  --rate R                  grpc: paced at R requests/s (0 = closed loop)\n"
    "  --tls-ca PATH             grpc: TLS, verifying the server with this CA (PEM)\n"
    "  --token T                 grpc: send `authorization: Bearer T` on every call\n"
    "  --redis-connections N     redis: pipelined connections (2)\n"
    "  --transport T             sdk: stream or unary (stream)\n"
    "  --lease-max-permits N     sdk: lease the operation, at most N permits (0 = no lease)\n"
    "  --lease-ttl-ms MS         sdk: the lease's ttl (1000)\n"
    "  --label NAME              name printed with the result\n"
    "  --json                    print the result as one JSON object\n";

struct Flags {
  std::string mode = "grpc";
  std::string target;
  std::string redis_url;
  int concurrency = 64;
  double duration_s = 10;
  double warmup_s = 2;
  int keys = 1000;
  uint32_t cost = 1;
  std::string operation = "bench";
  int64_t capacity = 1000000;
  double window_s = 60;
  int channels = 2;
  int deadline_ms = 1000;
  double rate = 0;
  std::string tls_ca;  // "" = plaintext
  std::string token;   // "" = none
  int redis_connections = 2;
  std::string transport = "stream";
  uint32_t lease_max_permits = 0;
  int lease_ttl_ms = 1000;
  std::string label;
  bool json = false;
};

[[noreturn]] void Usage(const std::string& error) {
  std::cerr << "loadgen: " << error << "\n\n" << kUsage;
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--json") {
      f.json = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else {
      if (i + 1 >= argc) Usage(arg + ": missing value");
      value = argv[++i];
    }
    auto num = [&](double lo) {
      char* end = nullptr;
      double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(v >= lo)) {
        Usage(arg + ": expected a number >= " + std::to_string(lo) + ", got \"" +
              value + "\"");
      }
      return v;
    };
    if (arg == "--mode") {
      f.mode = value;
    } else if (arg == "--target") {
      f.target = value;
    } else if (arg == "--redis-url") {
      f.redis_url = value;
    } else if (arg == "--concurrency") {
      f.concurrency = static_cast<int>(num(1));
    } else if (arg == "--duration-s") {
      f.duration_s = num(0.001);
    } else if (arg == "--warmup-s") {
      f.warmup_s = num(0);
    } else if (arg == "--keys") {
      f.keys = static_cast<int>(num(1));
    } else if (arg == "--cost") {
      f.cost = static_cast<uint32_t>(num(0));
    } else if (arg == "--operation") {
      f.operation = value;
    } else if (arg == "--capacity") {
      f.capacity = static_cast<int64_t>(num(1));
    } else if (arg == "--window-s") {
      f.window_s = num(0.000001);
    } else if (arg == "--channels") {
      f.channels = static_cast<int>(num(1));
    } else if (arg == "--deadline-ms") {
      f.deadline_ms = static_cast<int>(num(0));
    } else if (arg == "--rate") {
      f.rate = num(0);
    } else if (arg == "--tls-ca") {
      f.tls_ca = value;
    } else if (arg == "--token") {
      f.token = value;
    } else if (arg == "--redis-connections") {
      f.redis_connections = static_cast<int>(num(1));
    } else if (arg == "--transport") {
      if (value != "stream" && value != "unary") Usage("--transport: stream or unary");
      f.transport = value;
    } else if (arg == "--lease-max-permits") {
      f.lease_max_permits = static_cast<uint32_t>(num(0));
    } else if (arg == "--lease-ttl-ms") {
      f.lease_ttl_ms = static_cast<int>(num(10));
    } else if (arg == "--label") {
      f.label = value;
    } else {
      Usage("unknown flag \"" + arg + "\"");
    }
  }
  if (f.mode != "grpc" && f.mode != "redis" && f.mode != "sdk") {
    Usage("--mode: grpc, redis or sdk");
  }
  if (f.mode != "redis" && f.target.empty()) Usage("--mode " + f.mode + " needs --target");
  if (f.mode == "redis" && f.redis_url.empty()) Usage("--mode redis needs --redis-url");
  if (f.label.empty()) f.label = f.mode;
  return f;
}

// What every mode shares: the measured window, the histogram, the counters.
class Run {
 public:
  explicit Run(const Flags& flags) : flags_(flags) {
    for (int i = 0; i < flags.keys; ++i) keys_.push_back("k" + std::to_string(i));
  }

  // Starts the clock: warm-up, then the measured window.
  void Begin() {
    start_ = Clock::now();
    measure_from_ = start_ + ToDuration(flags_.warmup_s);
    measure_to_ = measure_from_ + ToDuration(flags_.duration_s);
  }
  Clock::time_point measure_to() const { return measure_to_; }

  // Whether a completion at `now` may issue another request.
  bool Running(Clock::time_point now) const { return now < measure_to_; }

  // A uniformly random key index; thread-safe.
  int PickKey() {
    thread_local std::mt19937_64 rng(std::random_device{}() ^
                                     std::hash<std::thread::id>{}(std::this_thread::get_id()));
    return static_cast<int>(rng() % static_cast<uint64_t>(flags_.keys));
  }
  const std::string& Key(int i) const { return keys_[i]; }

  // Records one completion issued at `issued` and finished at `done`.
  void Complete(Clock::time_point issued, Clock::time_point done, bool ok,
                bool refused, const std::string* error) {
    if (ok && !refused) allowed_all_.fetch_add(1, std::memory_order_relaxed);
    const int64_t done_ns = SinceStartNs(done);
    int64_t last = last_done_ns_.load(std::memory_order_relaxed);
    while (done_ns > last &&
           !last_done_ns_.compare_exchange_weak(last, done_ns, std::memory_order_relaxed)) {
    }
    if (done < measure_from_ || done >= measure_to_) return;
    if (!ok) {
      if (errors_.fetch_add(1, std::memory_order_relaxed) == 0 && error != nullptr) {
        std::lock_guard<std::mutex> lock(error_mu_);
        if (first_error_.empty()) first_error_ = *error;
      }
      return;
    }
    if (refused) refused_.fetch_add(1, std::memory_order_relaxed);
    hist_.Record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(done - issued).count()));
  }

  // A paced request that found no free slot.
  void Skip() { skipped_.fetch_add(1, std::memory_order_relaxed); }

  void Report(const std::string& mode) const {
    const uint64_t ok = hist_.Count();
    const double rps = static_cast<double>(ok) / flags_.duration_s;
    const double p50 = hist_.Quantile(0.50) / 1000.0;
    const double p99 = hist_.Quantile(0.99) / 1000.0;
    const double p999 = hist_.Quantile(0.999) / 1000.0;
    const double max = hist_.Max() / 1000.0;
    const uint64_t errors = errors_.load();
    std::string first_error;
    {
      std::lock_guard<std::mutex> lock(error_mu_);
      first_error = first_error_;
    }
    if (flags_.json) {
      std::printf(
          "{\"label\":\"%s\",\"mode\":\"%s\",\"concurrency\":%d,\"duration_s\":%g,"
          "\"keys\":%d,\"cost\":%u,\"requests\":%llu,\"rps\":%.1f,\"p50_us\":%.1f,"
          "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"errors\":%llu,"
          "\"refused\":%llu,\"skipped\":%llu,\"first_error\":\"%s\","
          "\"allowed_all\":%llu,\"elapsed_s\":%.6f}\n",
          JsonEscape(flags_.label).c_str(), mode.c_str(), flags_.concurrency,
          flags_.duration_s, flags_.keys, flags_.cost,
          static_cast<unsigned long long>(ok), rps, p50, p99, p999, max,
          static_cast<unsigned long long>(errors),
          static_cast<unsigned long long>(refused_.load()),
          static_cast<unsigned long long>(skipped_.load()),
          JsonEscape(first_error).c_str(),
          static_cast<unsigned long long>(allowed_all_.load()),
          static_cast<double>(last_done_ns_.load()) / 1e9);
    } else {
      std::printf(
          "%-16s %10.0f req/s  p50 %8.1f us  p99 %8.1f us  p999 %8.1f us  "
          "errors %llu  skipped %llu%s%s\n",
          flags_.label.c_str(), rps, p50, p99, p999,
          static_cast<unsigned long long>(errors),
          static_cast<unsigned long long>(skipped_.load()),
          first_error.empty() ? "" : "  first: ", first_error.c_str());
    }
    std::fflush(stdout);
  }

 private:
  int64_t SinceStartNs(Clock::time_point t) const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t - start_).count();
  }
  static Clock::duration ToDuration(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }
  static std::string JsonEscape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += c;
      }
    }
    return out;
  }

  const Flags& flags_;
  std::vector<std::string> keys_;
  Clock::time_point start_, measure_from_, measure_to_;
  Histogram hist_;
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<uint64_t> allowed_all_{0};
  std::atomic<int64_t> last_done_ns_{0};
  mutable std::mutex error_mu_;
  std::string first_error_;
};

// ---- grpc ------------------------------------------------------------------

class GrpcLoad {
 public:
  GrpcLoad(const Flags& flags, Run& run)
      : flags_(flags),
        run_(run),
        bearer_(flags.token.empty() ? "" : "Bearer " + flags.token) {}

  int Execute() {
    for (int c = 0; c < flags_.channels; ++c) {
      grpc::ChannelArguments args;
      // Separate subchannel pools and a distinct argument: one TCP
      // connection per channel instead of one shared.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("crossbridge.bench.channel", c);
      std::shared_ptr<grpc::ChannelCredentials> credentials =
          grpc::InsecureChannelCredentials();
      if (!flags_.tls_ca.empty()) {
        std::ifstream in(flags_.tls_ca);
        std::stringstream pem;
        pem << in.rdbuf();
        if (!in.is_open() || pem.str().empty()) {
          std::cerr << "loadgen: cannot read --tls-ca " << flags_.tls_ca << "\n";
          return 1;
        }
        grpc::SslCredentialsOptions ssl;
        ssl.pem_root_certs = pem.str();
        credentials = grpc::SslCredentials(ssl);
      }
      auto channel = grpc::CreateCustomChannel(flags_.target, credentials, args);
      if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
        std::cerr << "loadgen: cannot connect to " << flags_.target << "\n";
        return 1;
      }
      stubs_.push_back(v1::RateLimiter::NewStub(channel));
      channels_.push_back(std::move(channel));
    }
    slots_.resize(flags_.concurrency);
    for (int i = 0; i < flags_.concurrency; ++i) {
      slots_[i].stub = stubs_[i % stubs_.size()].get();
      slots_[i].request.set_operation(flags_.operation);
      slots_[i].request.set_cost(flags_.cost);
    }
    run_.Begin();
    if (flags_.rate > 0) {
      Pace();
    } else {
      {
        std::lock_guard<std::mutex> lock(mu_);
        outstanding_ = flags_.concurrency;
      }
      for (Slot& slot : slots_) Issue(slot);
    }
    std::unique_lock<std::mutex> lock(mu_);
    // Calls end by the deadline at the latest; leave generous slack.
    const auto limit = run_.measure_to() + std::chrono::milliseconds(flags_.deadline_ms) +
                       std::chrono::seconds(10);
    if (!done_cv_.wait_until(lock, limit, [&] { return outstanding_ == 0; })) {
      std::cerr << "loadgen: " << outstanding_ << " calls never completed\n";
      run_.Report("grpc");
      std::_Exit(1);
    }
    run_.Report("grpc");
    return 0;
  }

 private:
  struct Slot {
    v1::RateLimiter::Stub* stub = nullptr;
    std::unique_ptr<grpc::ClientContext> context;
    v1::AcquirePermitRequest request;
    v1::AcquirePermitResponse response;
    Clock::time_point issued;
  };

  void Issue(Slot& slot) {
    slot.context = std::make_unique<grpc::ClientContext>();
    if (!bearer_.empty()) slot.context->AddMetadata("authorization", bearer_);
    if (flags_.deadline_ms > 0) {
      slot.context->set_deadline(std::chrono::system_clock::now() +
                                 std::chrono::milliseconds(flags_.deadline_ms));
    }
    slot.request.set_key(run_.Key(run_.PickKey()));
    slot.response.Clear();
    slot.issued = Clock::now();
    slot.stub->async()->AcquirePermit(
        slot.context.get(), &slot.request, &slot.response,
        [this, &slot](grpc::Status status) { OnDone(slot, status); });
  }

  void OnDone(Slot& slot, const grpc::Status& status) {
    const Clock::time_point now = Clock::now();
    if (status.ok()) {
      run_.Complete(slot.issued, now, true, !slot.response.allowed(), nullptr);
    } else {
      std::string error = std::to_string(status.error_code()) + ": " + status.error_message();
      run_.Complete(slot.issued, now, false, false, &error);
    }
    if (flags_.rate <= 0 && run_.Running(now)) {
      Issue(slot);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (flags_.rate > 0) free_.push_back(&slot);
    if (--outstanding_ == 0) done_cv_.notify_all();
  }

  // Paced: every millisecond, sends what the rate says is due on free slots.
  void Pace() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Slot& slot : slots_) free_.push_back(&slot);
    }
    const Clock::time_point start = Clock::now();
    uint64_t sent = 0;
    for (Clock::time_point now = start; run_.Running(now); now = Clock::now()) {
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const uint64_t due = static_cast<uint64_t>(elapsed * flags_.rate);
      for (; sent < due; ++sent) {
        Slot* slot = nullptr;
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!free_.empty()) {
            slot = free_.back();
            free_.pop_back();
            ++outstanding_;
          }
        }
        if (slot == nullptr) {
          run_.Skip();
        } else {
          Issue(*slot);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  const Flags& flags_;
  Run& run_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  const std::string bearer_;
  std::vector<std::unique_ptr<v1::RateLimiter::Stub>> stubs_;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  int outstanding_ = 0;
  std::vector<Slot*> free_;  // paced: slots without a call in flight
};

// ---- redis -----------------------------------------------------------------

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
};

bool ParseRedisUrl(const std::string& url, RedisAddress& out, std::string& error) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) {
    error = "--redis-url: expected redis://HOST:PORT/DB, got \"" + url + "\"";
    return false;
  }
  std::string rest = url.substr(scheme.size());
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    std::string db = rest.substr(slash + 1);
    if (!db.empty()) out.db = std::atoi(db.c_str());
    rest = rest.substr(0, slash);
  }
  if (size_t colon = rest.rfind(':'); colon != std::string::npos) {
    out.port = std::atoi(rest.substr(colon + 1).c_str());
    rest = rest.substr(0, colon);
  }
  if (!rest.empty()) out.host = rest;
  return true;
}

redisContext* ConnectRedis(const RedisAddress& addr, std::string& error) {
  timeval timeout{5, 0};
  redisContext* c = redisConnectWithTimeout(addr.host.c_str(), addr.port, timeout);
  if (c == nullptr || c->err) {
    error = c ? c->errstr : "cannot allocate a redis context";
    if (c) redisFree(c);
    return nullptr;
  }
  redisEnableKeepAlive(c);
  redisSetTimeout(c, timeout);  // a stuck read fails instead of hanging
  if (addr.db != 0) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "SELECT %d", addr.db));
    bool ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    if (!ok) {
      error = "SELECT failed";
      redisFree(c);
      return nullptr;
    }
  }
  return c;
}

class RedisLoad {
 public:
  RedisLoad(const Flags& flags, Run& run) : flags_(flags), run_(run) {}

  int Execute() {
    std::string error;
    if (!ParseRedisUrl(flags_.redis_url, addr_, error)) Usage(error);
    redisContext* c = ConnectRedis(addr_, error);
    if (c == nullptr) {
      std::cerr << "loadgen: redis " << flags_.redis_url << ": " << error << "\n";
      return 1;
    }
    auto* r = static_cast<redisReply*>(redisCommand(c, "SCRIPT LOAD %s", kRedisGcraScript));
    if (r == nullptr || r->type != REDIS_REPLY_STRING) {
      std::cerr << "loadgen: SCRIPT LOAD failed: "
                << (r ? std::string(r->str, r->len) : std::string(c->errstr)) << "\n";
      return 1;
    }
    sha_.assign(r->str, r->len);
    freeReplyObject(r);
    redisFree(c);

    // The server's emission interval: window / capacity, truncated to µs.
    emission_us_ = std::to_string(static_cast<int64_t>(flags_.window_s * 1e6) / flags_.capacity);
    capacity_ = std::to_string(flags_.capacity);
    cost_ = std::to_string(flags_.cost);
    for (int i = 0; i < flags_.keys; ++i) {
      bucket_keys_.push_back(BucketKey(flags_.operation, run_.Key(i)));
    }

    const int conns = std::min(flags_.redis_connections, flags_.concurrency);
    std::vector<redisContext*> contexts;
    for (int i = 0; i < conns; ++i) {
      redisContext* ctx = ConnectRedis(addr_, error);
      if (ctx == nullptr) {
        std::cerr << "loadgen: redis " << flags_.redis_url << ": " << error << "\n";
        return 1;
      }
      contexts.push_back(ctx);
    }
    run_.Begin();
    std::vector<std::thread> threads;
    std::atomic<bool> failed{false};
    for (int i = 0; i < conns; ++i) {
      int window = flags_.concurrency / conns + (i < flags_.concurrency % conns ? 1 : 0);
      threads.emplace_back([this, ctx = contexts[i], window, &failed] {
        if (!Pipeline(ctx, window)) failed = true;
        redisFree(ctx);
      });
    }
    for (auto& t : threads) t.join();
    run_.Report("redis");
    return failed ? 1 : 0;
  }

 private:
  void Append(redisContext* c, std::deque<Clock::time_point>& issued) {
    const std::string& key = bucket_keys_[run_.PickKey()];
    // The server's arguments exactly: mode "0" is all or nothing.
    const char* argv[] = {"EVALSHA", sha_.c_str(), "1", key.c_str(),
                          emission_us_.c_str(), capacity_.c_str(), cost_.c_str(), "0"};
    const size_t lens[] = {7, sha_.size(), 1, key.size(), emission_us_.size(),
                           capacity_.size(), cost_.size(), 1};
    issued.push_back(Clock::now());
    redisAppendCommandArgv(c, 8, argv, lens);
  }

  // Keeps `window` EVALSHAs in flight on one blocking connection: each reply
  // appends the next command; hiredis flushes the appended commands when it
  // has no buffered reply left, so writes batch naturally.
  bool Pipeline(redisContext* c, int window) {
    std::deque<Clock::time_point> issued;
    for (int i = 0; i < window; ++i) Append(c, issued);
    while (!issued.empty()) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK) {
        std::cerr << "loadgen: redis connection failed: " << c->errstr << "\n";
        return false;
      }
      auto* r = static_cast<redisReply*>(raw);
      const Clock::time_point now = Clock::now();
      const Clock::time_point at = issued.front();
      issued.pop_front();
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 5 &&
          r->element[0]->type == REDIS_REPLY_INTEGER) {
        run_.Complete(at, now, true, r->element[0]->integer == 0, nullptr);
      } else {
        std::string error = r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len)
                                                         : "unexpected reply type";
        run_.Complete(at, now, false, false, &error);
      }
      freeReplyObject(r);
      if (run_.Running(now)) Append(c, issued);
    }
    return true;
  }

  const Flags& flags_;
  Run& run_;
  RedisAddress addr_;
  std::string sha_, emission_us_, capacity_, cost_;
  std::vector<std::string> bucket_keys_;
};

// ---- sdk -------------------------------------------------------------------

class SdkLoad {
 public:
  SdkLoad(const Flags& flags, Run& run) : flags_(flags), run_(run) {}

  int Execute() {
    for (int c = 0; c < flags_.channels; ++c) {
      ClientOptions options;
      options.target = flags_.target;
      options.default_deadline =
          flags_.deadline_ms > 0 ? absl::Milliseconds(flags_.deadline_ms) : absl::Hours(1);
      options.token = flags_.token;
      options.permit_transport = flags_.transport == "unary"
                                     ? ClientOptions::PermitTransport::kUnary
                                     : ClientOptions::PermitTransport::kStream;
      if (flags_.lease_max_permits > 0) {
        options.leases[flags_.operation] = ClientOptions::Lease{
            flags_.lease_max_permits, absl::Milliseconds(flags_.lease_ttl_ms)};
      }
      if (!flags_.tls_ca.empty()) {
        options.tls = ClientOptions::Tls{.ca_file = flags_.tls_ca};
      }
      absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(std::move(options));
      if (!client.ok()) {
        std::cerr << "loadgen: sdk: " << client.status() << "\n";
        return 1;
      }
      // Connect before the clock starts (the SDK connects lazily).
      if (absl::StatusOr<Permit> p = (*client)->AcquirePermit(flags_.operation, "warm",
                                                              AcquireOptions{.cost = 0});
          !p.ok()) {
        std::cerr << "loadgen: sdk: cannot reach " << flags_.target << ": " << p.status() << "\n";
        return 1;
      }
      clients_.push_back(*std::move(client));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      outstanding_ = flags_.concurrency;
    }
    run_.Begin();
    for (int i = 0; i < flags_.concurrency; ++i) Issue(*clients_[i % clients_.size()]);
    std::unique_lock<std::mutex> lock(mu_);
    const auto limit = run_.measure_to() + std::chrono::milliseconds(flags_.deadline_ms) +
                       std::chrono::seconds(10);
    if (!done_cv_.wait_until(lock, limit, [&] { return outstanding_ == 0; })) {
      std::cerr << "loadgen: " << outstanding_ << " calls never completed\n";
      run_.Report("sdk");
      std::_Exit(1);
    }
    lock.unlock();
    run_.Report("sdk");
    return 0;
  }

 private:
  // A consumer: one call at a time on the same Client until the window
  // ends (as an application's worker would). A call answered asynchronously
  // issues the next from its callback; one answered inline (a lease grant,
  // an immediate failure) is noticed through `current_frame_` and followed
  // by the next in this loop. An inline failure ends the consumer instead
  // of spinning.
  struct Frame {
    uint64_t call = 0;
    bool again = false;
  };
  void Issue(Client& client) {
    for (;;) {
      Frame frame{next_call_.fetch_add(1, std::memory_order_relaxed)};
      Frame* const outer = current_frame_;
      current_frame_ = &frame;
      const Clock::time_point issued = Clock::now();
      client.AcquirePermitAsync(
          flags_.operation, run_.Key(run_.PickKey()), AcquireOptions{.cost = flags_.cost},
          [this, &client, issued, call = frame.call](absl::StatusOr<Permit> permit) {
            const Clock::time_point now = Clock::now();
            if (permit.ok()) {
              run_.Complete(issued, now, true, !permit->allowed, nullptr);
            } else {
              std::string error = permit.status().ToString();
              run_.Complete(issued, now, false, false, &error);
            }
            const bool next = run_.Running(now);
            if (current_frame_ != nullptr && current_frame_->call == call) {
              current_frame_->again = next && permit.ok();
              if (!current_frame_->again) EndConsumer();
              return;
            }
            if (next) return Issue(client);
            EndConsumer();
          });
      current_frame_ = outer;
      if (!frame.again) return;
    }
  }

  void EndConsumer() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--outstanding_ == 0) done_cv_.notify_all();
  }

  // The Issue call this thread is inside, if any.
  static thread_local Frame* current_frame_;
  std::atomic<uint64_t> next_call_{1};

  const Flags& flags_;
  Run& run_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::mutex mu_;
  std::condition_variable done_cv_;
  int outstanding_ = 0;
};

thread_local SdkLoad::Frame* SdkLoad::current_frame_ = nullptr;

}  // namespace
}  // namespace crossbridge::bench

int main(int argc, char** argv) {
  using namespace crossbridge::bench;
  Flags flags = ParseFlags(argc, argv);
  Run run(flags);
  if (flags.mode == "grpc") return GrpcLoad(flags, run).Execute();
  if (flags.mode == "sdk") return SdkLoad(flags, run).Execute();
  return RedisLoad(flags, run).Execute();
}
