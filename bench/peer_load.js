// peer_load.js: the `peer` contender of `make bench` (bench/README.md):
// npm rate-limiter-flexible (RateLimiterRedis on ioredis) driven in process
// by the same closed loop as bench/loadgen: --concurrency async consumers,
// each awaiting one consume() and issuing the next, for --warmup-s then
// --duration-s measured seconds, keys "k<i>" picked uniformly from --keys.
//
//   node bench/peer_load.js --redis-url redis://127.0.0.1:PORT/0 --points P
//        --window-s S [--concurrency 64] [--duration-s 10] [--warmup-s 2]
//        [--keys 1000] [--cost 1] [--connections 2] [--label peer] [--json]
//
// Prints one JSON object with loadgen --json's fields (rps, p50_us, p99_us,
// p999_us, errors, refused, ...), plus allowed_all (every allowed answer of
// the whole run, warm-up and tail included) and elapsed_s (from the first
// call to the last answer), which the exactness check reads.
//
// Semantics: rate-limiter-flexible is a FIXED window: a key may take
// --points within --window-s counted from its first consume; the counter
// then expires and starts again. So a key admits at most
// points * (floor(elapsed / window) + 1) over a run of elapsed seconds
// (up to 2 * points across one window boundary), unlike CrossBridge's
// GCRA bucket (capacity + rate * elapsed).
// A refused consume (the library rejects with a RateLimiterRes) counts as
// refused; a rejection with an Error (Redis failure) counts as an error.
// The modules are resolved from NODE_PATH (run.sh installs them into the
// build directory).
'use strict';

const { RateLimiterRedis } = require('rate-limiter-flexible');
const Redis = require('ioredis');

function parseFlags(argv) {
  const f = {
    redisUrl: '', points: 1000000, windowS: 60, concurrency: 64, durationS: 10,
    warmupS: 2, keys: 1000, cost: 1, connections: 2, label: 'peer', json: false,
    operation: 'bench',
  };
  const num = { '--points': 'points', '--window-s': 'windowS', '--concurrency': 'concurrency',
                '--duration-s': 'durationS', '--warmup-s': 'warmupS', '--keys': 'keys',
                '--cost': 'cost', '--connections': 'connections' };
  for (let i = 2; i < argv.length; ++i) {
    const arg = argv[i];
    if (arg === '--json') { f.json = true; continue; }
    if (i + 1 >= argv.length) usage(`${arg}: missing value`);
    const value = argv[++i];
    if (arg === '--redis-url') f.redisUrl = value;
    else if (arg === '--label') f.label = value;
    else if (arg === '--operation') f.operation = value;
    else if (arg in num) {
      const v = Number(value);
      if (value === '' || !Number.isFinite(v) || v < 0) usage(`${arg}: expected a number >= 0, got "${value}"`);
      f[num[arg]] = v;
    } else usage(`unknown flag "${arg}"`);
  }
  if (!f.redisUrl) usage('--redis-url is required');
  if (f.concurrency < 1 || f.keys < 1 || f.connections < 1 || f.points < 1 || f.windowS < 1) {
    usage('--concurrency, --keys, --connections, --points and --window-s must be >= 1');
  }
  return f;
}

function usage(error) {
  process.stderr.write(`peer_load: ${error}\n`);
  process.exit(2);
}

function quantileUs(sortedNs, q) {
  if (sortedNs.length === 0) return 0;
  const i = Math.min(sortedNs.length - 1, Math.ceil(q * sortedNs.length) - 1);
  return sortedNs[Math.max(0, i)] / 1000;
}

async function main() {
  const f = parseFlags(process.argv);
  const clients = [];
  for (let i = 0; i < f.connections; ++i) {
    // No offline queue and one attempt per command: a Redis failure is an
    // error the run counts, not a silent wait.
    const c = new Redis(f.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 0,
                                      lazyConnect: true });
    await c.connect();
    clients.push(c);
  }
  const limiters = clients.map((c) => new RateLimiterRedis({
    storeClient: c, points: f.points, duration: f.windowS, keyPrefix: `peer:${f.operation}`,
  }));
  const keys = Array.from({ length: f.keys }, (_, i) => `k${i}`);

  const start = process.hrtime.bigint();
  const measureFrom = start + BigInt(Math.round(f.warmupS * 1e9));
  const measureTo = measureFrom + BigInt(Math.round(f.durationS * 1e9));
  const latencies = [];
  let errors = 0, refused = 0, allowedAll = 0, firstError = '', last = start;

  async function consumer(limiter) {
    for (;;) {
      const issued = process.hrtime.bigint();
      if (issued >= measureTo) return;
      const key = keys[Math.floor(Math.random() * keys.length)];
      let ok = true, wasRefused = false;
      try {
        await limiter.consume(key, f.cost);
        ++allowedAll;
      } catch (e) {
        if (e instanceof Error) {
          ok = false;
          if (!firstError) firstError = String(e.message);
        } else {
          wasRefused = true;
        }
      }
      const done = process.hrtime.bigint();
      if (done > last) last = done;
      if (done < measureFrom || done >= measureTo) continue;
      if (!ok) { ++errors; continue; }
      if (wasRefused) ++refused;
      latencies.push(Number(done - issued));
    }
  }
  const consumers = [];
  for (let i = 0; i < f.concurrency; ++i) consumers.push(consumer(limiters[i % limiters.length]));
  await Promise.all(consumers);
  for (const c of clients) c.disconnect();

  latencies.sort((a, b) => a - b);
  const r = {
    label: f.label, mode: 'peer', concurrency: f.concurrency, duration_s: f.durationS,
    keys: f.keys, cost: f.cost, requests: latencies.length,
    rps: Number((latencies.length / f.durationS).toFixed(1)),
    p50_us: Number(quantileUs(latencies, 0.50).toFixed(1)),
    p99_us: Number(quantileUs(latencies, 0.99).toFixed(1)),
    p999_us: Number(quantileUs(latencies, 0.999).toFixed(1)),
    max_us: Number(quantileUs(latencies, 1).toFixed(1)),
    errors, refused, skipped: 0, first_error: firstError,
    allowed_all: allowedAll, elapsed_s: Number(last - start) / 1e9,
  };
  if (f.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
  } else {
    process.stdout.write(`${r.label} ${r.rps.toFixed(0)} req/s  p50 ${r.p50_us} us  p99 ${r.p99_us} us  ` +
                         `p999 ${r.p999_us} us  errors ${errors}  refused ${refused}\n`);
  }
}

main().catch((e) => { process.stderr.write(`peer_load: ${e.stack || e}\n`); process.exit(1); });
