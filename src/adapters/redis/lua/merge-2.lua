--[[
  merge-2: fold Postgres's numbers into a product's gate that already holds state (a rebuild
  after an outage found the gate loaded: another process loaded it first after a Redis restart,
  or Redis kept its state through a partition). Unlike load-3's overwrite, it never raises what
  the gate may admit and never forgets an admission: the snapshot was read from Postgres before
  this runs, and Postgres never holds the attempts the gate admitted and not yet stored, nor
  those admitted after the snapshot was read.

  KEYS[1]  gate hash    {p}:gate
  KEYS[2]  users hash   {p}:users
  ARGV[1]  '1': merge the gate's fields too (the last call for a product); '0': only the pairs
           (a sale's many holders go in several calls of USERS_PER_COMMAND pairs each)
  ARGV[2]  stock   ARGV[3] sequence   ARGV[4] startsAt ms   ARGV[5] endsAt ms (-1 = none)
  ARGV[6]  per-user limit
  ARGV[7..] pairs: userId, units held or bought

  - stock: the lower of the gate's and Postgres's (lowered at once; a gate left below Postgres
    is raised by reconciliation once it has stood still, reconcile-3);
  - sequence: the higher (never backwards; the caller has raised it above the fallback's);
  - each shopper's count: the higher (a count kept low would let Postgres, not the gate, refuse);
  - window: the earlier start and the earlier end (-1 = none). A sale's window only ever moves
    earlier (endSale); a stale snapshot then cannot reopen a sale an operator just ended.
  - per-user limit: Postgres's (it never changes after creation).
  - healedStock: when Postgres's stock is the lower, the gate's sequence before the merge (the
    admissions up to it that Postgres never stored are counted as available again; see
    takeover-3). Counts merged upwards heal nothing for sure, so healedHeld stays.

  Returns the gate's stock after the merge (ARGV[1] '1'), 0 after a pairs-only call, -1 when
  the gate is not loaded (nothing written: the caller loads it instead).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local i = 7
while i < #ARGV do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if cur == false or tonumber(ARGV[i + 1]) > tonumber(cur) then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
if ARGV[1] ~= '1' then
  return 0
end
local g = redis.call('HMGET', KEYS[1], 'stock', 'seq', 'startsAt', 'endsAt')
-- The strings themselves are written back, never a number formatted by Lua.
local function lower(a, b)
  if tonumber(b) < tonumber(a) then return b end
  return a
end
local function higher(a, b)
  if tonumber(b) > tonumber(a) then return b end
  return a
end
local function earlierEnd(a, b)
  if tonumber(a) < 0 then return b end
  if tonumber(b) < 0 then return a end
  return lower(a, b)
end
local stock = lower(g[1], ARGV[2])
if tonumber(ARGV[2]) < tonumber(g[1]) then
  redis.call('HSET', KEYS[1], 'healedStock', g[2])
end
redis.call('HSET', KEYS[1], 'stock', stock, 'seq', higher(g[2], ARGV[3]), 'startsAt', lower(g[3], ARGV[4]),
  'endsAt', earlierEnd(g[4], ARGV[5]), 'limit', ARGV[6])
return tonumber(stock)
