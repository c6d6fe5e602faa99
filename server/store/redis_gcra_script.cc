#include "server/store/redis_gcra_script.h"

namespace crossbridge {

// Keep in step with GcraAcquire and GcraReturn in common/gcra.cc; tests/server/
// redis_store_test.cc checks both give the same answers.
const char kRedisGcraScript[] = R"lua(
local t = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local mode = ARGV[4]  -- '0' all or nothing, '1' up to cost, 'r' return cost
local burst = t * capacity
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function ceil_ms(us) return math.floor((us + 999) / 1000) end
-- A stored TAT is a decimal integer of microseconds. Anything else (another
-- type, text, 1e309, a TAT more than a day beyond any legitimate one) is
-- corrupt: the bucket is reset to empty, never to full, and the call fails
-- so that its operation's on_store_failure decides.
local stored = redis.pcall('GET', KEYS[1])
local tat = now
local why = nil
if type(stored) == 'table' then
  why = stored.err or 'unreadable value'
elseif stored then
  if string.len(stored) > 17 or not string.match(stored, '^%d+$') then
    why = 'value is not an integer TAT'
  else
    tat = tonumber(stored)
    if tat > now + burst + 86400000000 then why = 'TAT too far in the future' end
  end
end
if why then
  redis.call('SET', KEYS[1], string.format('%.0f', now + burst),
             'PX', string.format('%.0f', ceil_ms(burst)))
  return redis.error_reply('CROSSBRIDGE corrupt bucket (' .. why ..
                           '); reset to an empty bucket')
end
-- As in GcraAcquire: a TAT beyond now + burst (Redis's clock went back)
-- counts as an empty bucket.
if tat > now + burst then tat = now + burst end
local base = math.max(tat, now)
local debt = base - now
local function remaining_for(d)
  if d >= burst then return 0 end
  return math.floor((burst - d) / t)
end
local allowed, remaining, retry_after, new_tat, granted = 0, 0, 0, tat, 0
if mode == 'r' then
  -- GcraReturn: the TAT moves back by cost intervals, never below now.
  allowed = 1
  new_tat = math.max(now, tat - cost * t)
  remaining = remaining_for(new_tat - now)
  if new_tat > now then
    redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
               'PX', string.format('%.0f', ceil_ms(new_tat - now)))
  else
    redis.call('DEL', KEYS[1])  -- full again: the same as no bucket
  end
elseif cost == 0 then
  if debt + t <= burst then allowed = 1 else retry_after = ceil_ms(debt + t - burst) end
  remaining = remaining_for(debt)
else
  if mode == '1' then cost = math.max(1, math.min(cost, remaining_for(debt))) end
  local new_debt = debt + cost * t
  if new_debt <= burst then
    allowed = 1
    granted = cost
    new_tat = now + new_debt
    remaining = remaining_for(new_debt)
    redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
               'PX', string.format('%.0f', ceil_ms(new_debt)))
  else
    remaining = remaining_for(debt)
    retry_after = math.max(1, ceil_ms(new_debt - burst))
  end
end
return {allowed, remaining, retry_after, ceil_ms(math.max(new_tat, now) - now), granted}
)lua";

}  // namespace crossbridge
