--[[
  reconcile-3 (users.lua is prepended): correct a product's gate to Postgres's numbers, only if the gate has not
  moved since it was looked at (compare-and-set, so an admission or release that ran in
  between is never overwritten).

  KEYS[1]  gate hash    {p}:gate
  KEYS[2]  users hash   {p}:users
  KEYS[3]  staged users hash (see load-3), used with ARGV[4] = 'staged'
  ARGV[1]  expected sequence   ARGV[2] expected stock
  ARGV[3]  new stock
  ARGV[4]  'keep': keep the users hash; 'inline': replace it with the pairs that follow;
           'staged': replace it with KEYS[3]
  ARGV[5..] pairs (inline): userId, units held or bought

  The stock written is Postgres's, which counts as available every admission up to the current
  sequence that Postgres never stored: `healedStock` is set to that sequence, and `healedHeld` too
  when the counts are replaced (see takeover-3).

  A stock change under way (`adjusting`, set by setStock before its commit and cleared by its
  adjustment) counts as a move: Postgres may already hold the change the gate is about to get, and
  writing Postgres's stock now would have the adjustment count it twice. A mark past `adjustUntil`
  (its process died) is dropped and the pass goes on.

  Returns 1 when it wrote, 0 when the gate moved (nothing written), -1 when not loaded; the
  staged hash is dropped whenever it is not used.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[3])
  return -1
end
local a = redis.call('HMGET', KEYS[1], 'adjusting', 'adjustUntil')
if (tonumber(a[1]) or 0) > 0 then
  local t = redis.call('TIME')
  if (tonumber(a[2]) or 0) > tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) then
    redis.call('DEL', KEYS[3])
    return 0
  end
  redis.call('HDEL', KEYS[1], 'adjusting', 'adjustUntil')
end
local g = redis.call('HMGET', KEYS[1], 'stock', 'seq')
if tonumber(g[1]) ~= tonumber(ARGV[2]) or tonumber(g[2]) ~= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[3])
  return 0
end
redis.call('HSET', KEYS[1], 'stock', ARGV[3], 'healedStock', g[2])
if ARGV[4] ~= 'keep' then
  replaceUsers(ARGV[4], 5)
  redis.call('HSET', KEYS[1], 'healedHeld', g[2])
end
return 1
