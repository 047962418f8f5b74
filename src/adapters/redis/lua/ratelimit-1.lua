--[[
  ratelimit-1: take from one GCRA bucket, atomically.
  Mirrors gcra() in src/security/ratelimit.ts line for line (whole microseconds).

  KEYS[1]  bucket key  <prefix>rl:<scope>:<id>   string: the theoretical arrival time (µs)
  ARGV[1]  now, epoch milliseconds
  ARGV[2]  rule count   (requests per period)
  ARGV[3]  rule period, milliseconds
  ARGV[4]  cost of this request (>= 1)

  Returns { allowed, retryAfterMs }
    allowed 1  taken; the key now holds the new arrival time and expires with it
    allowed 0  refused; nothing changed; retryAfterMs >= 1 until one more fits
]]
local now = math.floor(tonumber(ARGV[1]) * 1000)
local count = tonumber(ARGV[2])
local period = tonumber(ARGV[3]) * 1000
local cost = tonumber(ARGV[4])
local interval = math.floor(period / count)
local tat = tonumber(redis.call('GET', KEYS[1]))
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
  return { 0, wait }
end
local ttl = math.ceil((nxt - now) / 1000)
if ttl < 1 then
  ttl = 1
end
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', ttl)
return { 1, 0 }
