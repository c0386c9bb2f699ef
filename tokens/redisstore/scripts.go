package redisstore

import "github.com/redis/go-redis/v9"

// Scripts change several keys atomically or answer a lookup in one round
// trip. Every key they touch shares the hash tag of the declared keys; keys
// that depend on a value read inside the script are built from a template
// that Store.key made (ARGV). Status replies: 1 done, 0 conflict, -1 a
// record the write depends on is missing.

// lookupScript resolves an index key to an ID and the record under
// ARGV[1]..ID: {id, fields}.
var lookupScript = redis.NewScript(`
local id = redis.call('GET', KEYS[1])
if not id then return false end
local r = redis.call('HGETALL', ARGV[1] .. id)
if #r == 0 then return false end
return {id, r}
`)

// byDigestScript resolves a digest index (KEYS[1]) to the token under
// ARGV[1]..ID and the owner record under ARGV[2]..token[ARGV[3]]:
// {id, token fields, owner id, owner fields}.
var byDigestScript = redis.NewScript(`
local id = redis.call('GET', KEYS[1])
if not id then return false end
local t = redis.call('HGETALL', ARGV[1] .. id)
if #t == 0 then return false end
local oid = redis.call('HGET', ARGV[1] .. id, ARGV[3])
if not oid then return false end
local o = redis.call('HGETALL', ARGV[2] .. oid)
if #o == 0 then return false end
return {id, t, oid, o}
`)

// createUserScript claims the username index KEYS[1] for ID ARGV[1],
// writes the user KEYS[2] from ARGV[2..] and adds the ID to the sorted set
// of users KEYS[3], unless a group has the path KEYS[4].
var createUserScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[1])
return 1
`)

// createTokenScript writes a token (PAT or deploy token) KEYS[3] from
// ARGV[2..] with its digest index KEYS[2] when its owner KEYS[1] exists,
// and adds ID ARGV[1] to the owner's set KEYS[4] when given, and to the
// sorted sets KEYS[5..] (score: the ID) that page the lists it is in.
var createTokenScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 2))
if KEYS[4] then redis.call('SADD', KEYS[4], ARGV[1]) end
for i = 5, #KEYS do redis.call('ZADD', KEYS[i], ARGV[1], ARGV[1]) end
return 1
`)

// createProjectScript: KEYS = path index, project, project set, members,
// owner's memberships, owner user, the sorted set of project paths, the
// sorted set of group paths, the group path index of the path, that of
// its namespace, the namespace group's projects, the sorted set of
// reserved paths, the three project indexes (all, internal, public), the
// sorted set of member IDs, then the path index of every namespace above
// the path; ARGV = project ID,
// owner ID, owner's member value, lowercase path, prefix of path index
// keys, namespace group ID ("0": none), how many of the project indexes
// hold the project (the first ones), project fields... -3: the path sits inside
// another project's or holds one, or holds a group; 0: a project or a
// group has it; -1: the owner, or the namespace group at the namespace,
// is missing; -4: a deleted project's reservation covers the path. A path
// in the set whose project is gone (deleted by a replica
// of an older version, or between fillPaths' read and its write) is
// removed when it is met, not believed.
var createProjectScript = redis.NewScript(reservedLua + `
if redis.call('EXISTS', KEYS[6]) == 0 then return -1 end
if reservedAt(KEYS[12], ARGV[4]) then return -4 end
if redis.call('EXISTS', KEYS[9]) == 1 then return 0 end
if #redis.call('ZRANGEBYLEX', KEYS[8], '[' .. ARGV[4] .. '/', '(' .. ARGV[4] .. '0', 'LIMIT', 0, 1) > 0 then return -3 end
if ARGV[6] ~= '0' and redis.call('GET', KEYS[10]) ~= ARGV[6] then return -1 end
for i = 17, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return -3 end
end
while true do
  local under = redis.call('ZRANGEBYLEX', KEYS[7], '[' .. ARGV[4] .. '/', '(' .. ARGV[4] .. '0', 'LIMIT', 0, 16)
  if #under == 0 then break end
  for _, p in ipairs(under) do
    if redis.call('EXISTS', ARGV[5] .. p) == 1 then return -3 end
    redis.call('ZREM', KEYS[7], p)
  end
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[7], 0, ARGV[4])
redis.call('HSET', KEYS[2], unpack(ARGV, 8))
redis.call('SADD', KEYS[3], ARGV[1])
for i = 13, 12 + tonumber(ARGV[7]) do redis.call('ZADD', KEYS[i], ARGV[1], ARGV[1]) end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[16], ARGV[2], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[1])
if ARGV[6] ~= '0' then redis.call('ZADD', KEYS[11], ARGV[1], ARGV[1]) end
return 1
`)

// lastOwnerLua defines lastOwner(members, user, ownerPrefix): whether user
// is the only member whose value starts with ownerPrefix (the owner level
// and ":"), so demoting or removing it would leave the project ownerless.
const lastOwnerLua = `
local function lastOwner(members, user, prefix)
  local cur = redis.call('HGET', members, user)
  if not cur or string.sub(cur, 1, #prefix) ~= prefix then return false end
  local all = redis.call('HGETALL', members)
  for i = 1, #all, 2 do
    if all[i] ~= user and string.sub(all[i+1], 1, #prefix) == prefix then return false end
  end
  return true
end
`

// putMemberScript: KEYS = project, user, members, user's memberships,
// and the sorted set of the project's or group's member IDs; ARGV = user ID, project ID, member value, owner prefix. -2: it would
// demote the only owner.
var putMemberScript = redis.NewScript(lastOwnerLua + `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if string.sub(ARGV[3], 1, #ARGV[4]) ~= ARGV[4] and lastOwner(KEYS[3], ARGV[1], ARGV[4]) then return -2 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[2])
if KEYS[5] then redis.call('ZADD', KEYS[5], ARGV[1], ARGV[1]) end
return 1
`)

// deleteMemberScript: KEYS = members, user's memberships, and the sorted
// set of the project's or group's member IDs; ARGV = user ID,
// project ID, owner prefix. -2: it is the only owner.
var deleteMemberScript = redis.NewScript(lastOwnerLua + `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
if lastOwner(KEYS[1], ARGV[1], ARGV[3]) then return -2 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[1]) end
return 1
`)

// setFieldScript sets field ARGV[1] of the record KEYS[1] to ARGV[2] when
// the record exists and, if ARGV[3] is given, its field ARGV[3] equals
// ARGV[4]; then sets the generation KEYS[2], when given, to ARGV[5]. It
// never creates a record that a concurrent delete removed.
var setFieldScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[3] and redis.call('HGET', KEYS[1], ARGV[3]) ~= ARGV[4] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[5]) end
return 1
`)

// casScript replaces KEYS[1] with ARGV[3] (no expiry) when it holds ARGV[2],
// or, when ARGV[1] is "0", when it is absent; then sets the generation
// KEYS[2], when given, to ARGV[4].
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[4]) end
return 1
`)

// createKVScript sets KEYS[1] to ARGV[1] when absent, expiring after
// ARGV[2] milliseconds unless that is "0", and sets the generation KEYS[2]
// to ARGV[3]: Create for a cached KV key.
var createKVScript = redis.NewScript(`
if ARGV[2] == '0' then
  if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
elseif not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
redis.call('SET', KEYS[2], ARGV[3])
return 1
`)

// deleteKVScript deletes KEYS[1] and, when it existed, sets the generation
// KEYS[2] to ARGV[1]: Delete for a cached KV key. It answers whether it
// deleted.
var deleteKVScript = redis.NewScript(`
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
`)

// takeKVScript answers KEYS[1] and deletes it and, when it existed and
// KEYS[2] is given (a cached KV key), sets the generation KEYS[2] to
// ARGV[1]: Take.
var takeKVScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
redis.call('DEL', KEYS[1])
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[1]) end
return v
`)

// renewKVScript answers KEYS[1] and, when it has less than ARGV[2]
// milliseconds left, lets it live ARGV[1] milliseconds; when it did and
// KEYS[2] is given (a cached KV key), it sets the generation KEYS[2] to
// ARGV[3]: Renew.
var renewKVScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then return false end
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  if KEYS[2] then redis.call('SET', KEYS[2], ARGV[3]) end
end
return v
`)

// incrScript adds one to KEYS[1] and, when this created it and ARGV[1] is
// not "0", lets it expire after ARGV[1] milliseconds.
var incrScript = redis.NewScript(`
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local n = redis.call('INCR', KEYS[1])
if fresh and ARGV[1] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`)

// strikeScript is Strike: it adds one to the counter KEYS[1] (letting one
// it creates expire after ARGV[1] milliseconds unless that is "0") and,
// when the count reaches ARGV[2] and the ban KEYS[2] is absent, sets it to
// ARGV[3] for ARGV[4] milliseconds (no expiry for "0") and the generation
// KEYS[3] to ARGV[5], as Create of a cached key does. It answers the
// count, the ban as it was ("" when absent, with 0), and whether it set it.
var strikeScript = redis.NewScript(`
local fresh = redis.call('EXISTS', KEYS[1]) == 0
local n = redis.call('INCR', KEYS[1])
if fresh and ARGV[1] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ban = redis.call('GET', KEYS[2])
if ban then return {n, 1, ban, 0} end
if n < tonumber(ARGV[2]) then return {n, 0, '', 0} end
if ARGV[4] == '0' then
  redis.call('SET', KEYS[2], ARGV[3])
else
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
end
redis.call('SET', KEYS[3], ARGV[5])
return {n, 0, '', 1}
`)
