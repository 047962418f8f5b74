--[[
  release-2: give a shopper's units back to the gate.

  KEYS[1]  gate hash    {p}:gate
  KEYS[2]  users hash   {p}:users
  ARGV[1]  userId
  ARGV[2]  quantity (> 0)
  ARGV[3]  '1' to put the units back into stock, '0' to only lower the shopper's count
           (used when Postgres refused an admission: the gate had counted stock Postgres lacked)
  ARGV[4]  optional: the sequence of an admission Postgres never stored, handed back. What the
           gate has had set from Postgres's numbers since (healedStock / healedHeld at or above
           it, see takeover-3) already counts it as not taken, and is left alone.

  Returns the gate's stock after the release, or -1 when the gate is not loaded.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local qty = tonumber(ARGV[2])
local seq = tonumber(ARGV[4] or '')
local healed = { false, false }
if seq then
  healed = redis.call('HMGET', KEYS[1], 'healedStock', 'healedHeld')
end
local stock
if ARGV[3] == '1' and not (healed[1] and seq <= tonumber(healed[1])) then
  stock = redis.call('HINCRBY', KEYS[1], 'stock', qty)
else
  stock = tonumber(redis.call('HGET', KEYS[1], 'stock'))
end
if not (healed[2] and seq <= tonumber(healed[2])) then
  local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -qty)
  if left <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[1])
  end
end
return stock
