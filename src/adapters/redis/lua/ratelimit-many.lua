--[[
  ratelimit-many: the rate-limit checks of many requests, atomically, in the order given (gcra.lua
  is prepended). Each
  request takes from its buckets in turn, exactly as ratelimit-1 takes from one (gcra() in
  src/security/ratelimit.ts, whole microseconds); its first refusal ends it (the buckets taken
  before stay taken, as when they were separate calls), and every later request sees what the
  earlier ones took. The api sends the checks of one event-loop turn together
  (src/adapters/redis/ratelimit.ts), one script call where each bucket used to be one.

  KEYS      the buckets <prefix>rl:<scope>:<id> (each once; requests name them by index)
  ARGV      per request: now (epoch ms), its number of buckets b, then b times:
            index in KEYS, rule count, rule period (ms), cost (>= 1)

  Returns two values per request, { allowed, retryAfterMs }:
    allowed 1  every bucket taken
    allowed 0  refused by a bucket (which changed nothing); retryAfterMs >= 1 until it fits one more
]]
local out = {}
local i = 1
while i <= #ARGV do
  local nowMs = tonumber(ARGV[i])
  local b = tonumber(ARGV[i + 1])
  i = i + 2
  local allowed, wait = 1, 0
  for j = 1, b do
    if allowed == 1 then
      allowed, wait = gcraTake(KEYS[tonumber(ARGV[i])], nowMs, tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]))
    end
    i = i + 4
  end
  out[#out + 1] = allowed
  out[#out + 1] = wait
end
return out
