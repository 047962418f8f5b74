-- gcra: prepended to ratelimit-1 and ratelimit-many (a script cannot call another).
-- Takes `cost` from the GCRA bucket `key` (its value: the theoretical arrival time, µs), as gcra() in
-- src/security/ratelimit.ts does, line for line, in whole microseconds. `now` is epoch µs, whole
-- (the callers floor epoch ms × 1000, as gcra() does).
-- Returns 1, 0 when taken (the key then holds the new arrival time and expires with it), or
-- 0, retryAfterMs (>= 1) when refused (nothing changed).
local function gcraTake(key, now, count, periodMs, cost)
  local period = periodMs * 1000
  local interval = math.floor(period / count)
  local tat = tonumber(redis.call('GET', key))
  local base = now
  if tat and tat > now then
    base = tat
  end
  local nxt = base + cost * interval
  local allowAt = nxt - period
  if allowAt > now then
    local wait = math.ceil((allowAt - now) / 1000)
    if wait < 1 then
      wait = 1
    end
    return 0, wait
  end
  local ttl = math.ceil((nxt - now) / 1000)
  if ttl < 1 then
    ttl = 1
  end
  redis.call('SET', key, string.format('%d', nxt), 'PX', ttl)
  return 1, 0
end
