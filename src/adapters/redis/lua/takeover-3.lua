--[[
  takeover-3: a retry takes over an idempotency key whose admission was never stored (the process
  that admitted it died before Postgres kept it): the key is forgotten only while it still names
  that admission, and the admission's units are given back to the gate, unless the gate has been
  set from Postgres's numbers since (a load, a reconciliation, a merge that took Postgres's stock),
  which already counted them as not taken.

  KEYS[1]  the idempotency key   {p}:idem:<user>:<key>, value '<reservationId>:<sequence>'
  KEYS[2]  gate hash    {p}:gate   healedStock / healedHeld: the sequence up to which the stock /
           the shoppers' counts were last set from Postgres (absent: never since this version)
  KEYS[3]  users hash   {p}:users
  ARGV[1]  '<reservationId>:'   ARGV[2] userId   ARGV[3] quantity (> 0)

  Returns 1 when the key was taken over, 0 when it names another admission or is gone.
]]
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 1
end
local seq = tonumber(string.sub(v, #ARGV[1] + 1))
local qty = tonumber(ARGV[3])
local h = redis.call('HMGET', KEYS[2], 'healedStock', 'healedHeld')
if not h[1] or seq > tonumber(h[1]) then
  redis.call('HINCRBY', KEYS[2], 'stock', qty)
end
if not h[2] or seq > tonumber(h[2]) then
  if redis.call('HINCRBY', KEYS[3], ARGV[2], -qty) <= 0 then
    redis.call('HDEL', KEYS[3], ARGV[2])
  end
end
return 1
