--[[
  load-2: load a product's gate from Postgres's numbers.

  KEYS[1]  gate hash    {p}:gate
  KEYS[2]  users hash   {p}:users
  ARGV[1]  '1' to overwrite, '0' to write only when the gate is not loaded
  ARGV[2]  stock   ARGV[3] sequence   ARGV[4] startsAt ms   ARGV[5] endsAt ms (-1 = none)
  ARGV[6]  per-user limit
  ARGV[7..] pairs: userId, units held or bought

  The sequence never goes backwards: the larger of the stored and given one is kept.
  Returns 1 when it wrote, 0 when the gate was already loaded and ARGV[1] was '0'.
]]
local exists = redis.call('EXISTS', KEYS[1]) == 1
if exists and ARGV[1] ~= '1' then
  return 0
end
local seq = tonumber(ARGV[3])
if exists then
  local old = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
  if old > seq then
    seq = old
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'stock', ARGV[2], 'seq', seq, 'startsAt', ARGV[4], 'endsAt', ARGV[5], 'limit', ARGV[6])
local i = 7
while i < #ARGV do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
return 1
