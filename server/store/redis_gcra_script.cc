#include "server/store/redis_gcra_script.h"

namespace crossbridge {

// Keep in step with GcraAcquire in common/gcra.cc; tests/server/
// redis_store_test.cc checks both give the same answers.
const char kRedisGcraScript[] = R"lua(
local t = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local burst = t * capacity
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local base = math.max(tat, now)
local debt = base - now
local function remaining_for(d)
  if d >= burst then return 0 end
  return math.floor((burst - d) / t)
end
local function ceil_ms(us) return math.floor((us + 999) / 1000) end
local allowed, remaining, retry_after, new_tat = 0, 0, 0, tat
if cost == 0 then
  if debt + t <= burst then allowed = 1 else retry_after = ceil_ms(debt + t - burst) end
  remaining = remaining_for(debt)
else
  local new_debt = debt + cost * t
  if new_debt <= burst then
    allowed = 1
    new_tat = now + new_debt
    remaining = remaining_for(new_debt)
    redis.call('SET', KEYS[1], string.format('%.0f', new_tat),
               'PX', string.format('%.0f', ceil_ms(new_debt)))
  else
    remaining = remaining_for(debt)
    retry_after = math.max(1, ceil_ms(new_debt - burst))
  end
end
return {allowed, remaining, retry_after, ceil_ms(math.max(new_tat, now) - now)}
)lua";

}  // namespace crossbridge
