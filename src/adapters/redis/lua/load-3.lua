--[[
  load-3: load a product's gate from Postgres's numbers (users.lua is prepended).

  KEYS[1]  gate hash    {p}:gate
  KEYS[2]  users hash   {p}:users
  KEYS[3]  staged users hash {p}:users:staged:<id>, filled beforehand in chunks when the
           holders are too many for one command (a sale's million holders after a Redis restart)
  ARGV[1]  '1' to overwrite, '0' to write only when the gate is not loaded
  ARGV[2]  stock   ARGV[3] sequence   ARGV[4] startsAt ms   ARGV[5] endsAt ms (-1 = none)
  ARGV[6]  per-user limit
  ARGV[7]  'inline': the pairs follow; 'staged': the users are KEYS[3]
  ARGV[8..] pairs (inline): userId, units held or bought

  The gate and its users change together, in this one script: admissions never see one
  without the other. The sequence never goes backwards: the larger of the stored and given one
  is kept. The gate's stock and counts are then Postgres's: `healedStock` and `healedHeld` (see
  takeover-3) are set to the sequence. Returns 1 when it wrote, 0 when the gate was already loaded and ARGV[1] was '0'
  (the staged hash is dropped either way).
]]
local exists = redis.call('EXISTS', KEYS[1]) == 1
if exists and ARGV[1] ~= '1' then
  redis.call('DEL', KEYS[3])
  return 0
end
local seq = tonumber(ARGV[3])
if exists then
  local old = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
  if old > seq then
    seq = old
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'stock', ARGV[2], 'seq', seq, 'startsAt', ARGV[4], 'endsAt', ARGV[5], 'limit', ARGV[6],
  'healedStock', seq, 'healedHeld', seq)
replaceUsers(ARGV[7], 8)
return 1
