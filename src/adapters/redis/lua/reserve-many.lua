--[[
  reserve-many: admit or refuse a batch of reserve attempts of one product, atomically, in the
  order given. Each attempt is decided as decide() in src/domain/gate/port.ts decides it, row for
  row, seeing every attempt before it in the batch (stock taken, shoppers' counts, keys stored).
  The api sends the attempts of one event-loop turn together (src/adapters/redis/gate.ts), one
  script call where each attempt used to be one.

  KEYS[1]   gate hash    {p}:gate   fields stock, seq, startsAt, endsAt (-1 = none), limit
  KEYS[2]   users hash   {p}:users  userId -> units held or bought
  KEYS[3..] the idempotency keys {p}:idem:<user>:<key> of the keyed attempts
  ARGV      six values per attempt:
            userId, quantity (> 0), now (epoch ms), reservation id to remember with the key,
            idempotency TTL in seconds, index in KEYS of its idempotency key (0: no key)

  Returns three values per attempt, { code, n, text }:
    code  1  admitted            n = sequence number
    code  2  repeated key        text = '<reservationId>:<sequence>'
    code  0  unknown product     (gate not loaded: load it from Postgres and retry)
    code -1  sale not started
    code -2  sale ended
    code -3  per-user limit      n = limit
    code -4  sold out            n = units left
]]
local out = {}
local count = #ARGV / 6
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 1, count do
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = ''
  end
  return out
end
local g = redis.call('HMGET', KEYS[1], 'stock', 'seq', 'startsAt', 'endsAt', 'limit')
local stock = tonumber(g[1])
local seq = tonumber(g[2])
local startsAt = tonumber(g[3])
local endsAt = tonumber(g[4])
local limit = tonumber(g[5])
local held = {}
local taken = 0
local admitted = 0
for i = 0, count - 1 do
  local b = i * 6
  local user = ARGV[b + 1]
  local qty = tonumber(ARGV[b + 2])
  local now = tonumber(ARGV[b + 3])
  local k = tonumber(ARGV[b + 6])
  local code, n, text = 1, 0, ''
  local prev = false
  if k > 0 then
    prev = redis.call('GET', KEYS[k])
  end
  if prev then
    code, text = 2, prev
  elseif now < startsAt then
    code = -1
  elseif endsAt >= 0 and now >= endsAt then
    code = -2
  else
    local h = held[user]
    if h == nil then
      h = tonumber(redis.call('HGET', KEYS[2], user) or '0')
    end
    if h + qty > limit then
      code, n = -3, limit
      held[user] = h
    elseif stock < qty then
      code, n = -4, stock
      held[user] = h
    else
      stock = stock - qty
      taken = taken + qty
      seq = seq + 1
      admitted = admitted + 1
      n = seq
      held[user] = h + qty
      redis.call('HINCRBY', KEYS[2], user, qty)
      if k > 0 then
        redis.call('SET', KEYS[k], ARGV[b + 4] .. ':' .. seq, 'EX', tonumber(ARGV[b + 5]))
      end
    end
  end
  out[#out + 1] = code
  out[#out + 1] = n
  out[#out + 1] = text
end
if admitted > 0 then
  -- Deltas, not the new values: a Lua number past 1e14 would be written as 1e+14.
  redis.call('HINCRBY', KEYS[1], 'stock', -taken)
  redis.call('HINCRBY', KEYS[1], 'seq', admitted)
end
return out
