--[[
  reserve-3: admit or refuse one reserve attempt, atomically.
  Mirrors decide() in src/domain/gate/port.ts row for row.

  KEYS[1]  gate hash    {p}:gate   fields stock, seq, startsAt, endsAt (-1 = none), limit
  KEYS[2]  users hash   {p}:users  userId -> units held or bought
  KEYS[3]  idem key     {p}:idem:<user>:<key>  (ignored when ARGV[5] is '0')
  ARGV[1]  userId
  ARGV[2]  quantity (> 0)
  ARGV[3]  now, epoch milliseconds
  ARGV[4]  reservation id to remember with the idempotency key
  ARGV[5]  idempotency TTL in seconds, or '0' when the attempt has no key

  Returns { code, n, text }
    code  1  admitted            n = sequence number
    code  2  repeated key        text = '<reservationId>:<sequence>'
    code  0  unknown product     (gate not loaded: load it from Postgres and retry)
    code -1  sale not started
    code -2  sale ended
    code -3  per-user limit      n = limit
    code -4  sold out            n = units left
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 0, 0, '' }
end
local keyed = ARGV[5] ~= '0'
if keyed then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    return { 2, 0, prev }
  end
end
local g = redis.call('HMGET', KEYS[1], 'stock', 'seq', 'startsAt', 'endsAt', 'limit')
local stock = tonumber(g[1])
local startsAt = tonumber(g[3])
local endsAt = tonumber(g[4])
local limit = tonumber(g[5])
local qty = tonumber(ARGV[2])
local now = tonumber(ARGV[3])

if now < startsAt then
  return { -1, 0, '' }
end
if endsAt >= 0 and now >= endsAt then
  return { -2, 0, '' }
end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held + qty > limit then
  return { -3, limit, '' }
end
if stock < qty then
  return { -4, stock, '' }
end
redis.call('HINCRBY', KEYS[1], 'stock', -qty)
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
if keyed then
  redis.call('SET', KEYS[3], ARGV[4] .. ':' .. seq, 'EX', tonumber(ARGV[5]))
end
return { 1, seq, '' }
