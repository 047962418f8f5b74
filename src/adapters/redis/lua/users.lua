-- users: prepended to load-3 and reconcile-3 (a script cannot call another).
-- Replaces the users hash KEYS[2] with the staged hash KEYS[3] ('staged', written beforehand in
-- chunks: see stageUsers in gate.ts) or with the pairs userId, units in ARGV from index `from`
-- ('inline'). The staged hash's expiry, set in case its writer died, is not carried over.
local function replaceUsers(mode, from)
  redis.call('DEL', KEYS[2])
  if mode == 'staged' then
    if redis.call('EXISTS', KEYS[3]) == 1 then
      redis.call('RENAME', KEYS[3], KEYS[2])
      redis.call('PERSIST', KEYS[2])
    end
  else
    local i = from
    while i < #ARGV do
      redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
      i = i + 2
    end
  end
end
