--[[
  ratelimit-many: the rate-limit checks of many requests, atomically, in the order given (gcra.lua
  is prepended). Each request takes from its buckets in turn, exactly as ratelimit-1 takes from one
  (gcra() in src/security/ratelimit.ts, whole microseconds); its first refusal ends it (the buckets
  taken before stay taken, as when they were separate calls), and every later request sees what
  the earlier ones took. The api sends the checks of one event-loop turn together
  (src/adapters/redis/ratelimit.ts), one script call where each bucket used to be one.

  The checks are one string of whole numbers, not an argument each: a reserve's three buckets were
  fourteen arguments, and writing and parsing a few thousand of them per call was most of what the
  call cost the api.

  KEYS      the buckets <prefix>rl:<scope>:<id> (each once; checks name them by index)
  ARGV[1]   base time, epoch µs (whole): the earliest check's
  ARGV[2]   number of rules r, then r pairs: rule count, rule period (ms)
  ARGV[3 + 2r]  the checks, whole numbers separated by spaces; per request:
            its time (µs after the base), its number of buckets b, then b times:
            index in KEYS, index of its rule (1..r), cost

  Returns two values per request, { allowed, retryAfterMs }:
    allowed 1  every bucket taken
    allowed 0  refused by a bucket (which changed nothing); retryAfterMs >= 1 until it fits one more
]]
local base = tonumber(ARGV[1])
local rules = tonumber(ARGV[2])
local counts, periods = {}, {}
for r = 1, rules do
  counts[r] = tonumber(ARGV[1 + 2 * r])
  periods[r] = tonumber(ARGV[2 + 2 * r])
end
local nums = string.gmatch(ARGV[3 + 2 * rules], '%d+')
local out = {}
for offset in nums do
  local now = base + tonumber(offset)
  local b = tonumber(nums())
  local allowed, wait = 1, 0
  for _ = 1, b do
    local k, r, cost = tonumber(nums()), tonumber(nums()), tonumber(nums())
    if allowed == 1 then
      allowed, wait = gcraTake(KEYS[k], now, counts[r], periods[r], cost)
    end
  end
  out[#out + 1] = allowed
  out[#out + 1] = wait
end
return out
