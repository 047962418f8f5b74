--[[
  ratelimit-1: take from one GCRA bucket, atomically (gcra.lua is prepended).
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
local allowed, wait = gcraTake(KEYS[1], math.floor(tonumber(ARGV[1]) * 1000), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
return { allowed, wait }
