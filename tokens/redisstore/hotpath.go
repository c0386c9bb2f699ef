package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// authScript reads the KV value KEYS[2] (the ban; when given), then
// resolves the digest index KEYS[1] as byDigestScript does, taking the
// owner ID from the token's own fields: the project's (ARGV[3], under
// ARGV[2]) or, for a group token, the group's (ARGV[4], under ARGV[5]):
// {value} when the token or its owner is gone, else {value, id, token
// fields, owner id, owner fields}, with a sixth element 1 when the owner
// is a group. A missing value is a nil element.
//
// An unknown digest reads the decoy token ARGV[6] and its project ARGV[7]
// instead, as a found token would be read, and answers {value, nil, decoy
// token fields, nil, decoy project fields}: so that a miss costs Redis
// and the store what a hit costs (timing; see tokens.DecoyDeployToken).
//
// Every reply ends with its padding (padLua), so that it is as long as
// patAuthScript's.
var authScript = redis.NewScript(padLua + `
local v = false
if KEYS[2] then v = redis.call('GET', KEYS[2]) end
local id = redis.call('GET', KEYS[1])
local tk = ARGV[6]
if id then tk = ARGV[1] .. id end
local t = redis.call('HGETALL', tk)
local oid, gid
for i = 1, #t, 2 do
  if t[i] == ARGV[3] then oid = t[i + 1] end
  if t[i] == ARGV[4] then gid = t[i + 1] end
end
if not id then
  local o = redis.call('HGETALL', ARGV[7])
  return pad({v, false, t, false, o}, #t + #o)
end
if gid then
  local g = redis.call('HGETALL', ARGV[5] .. gid)
  if #g == 0 then return pad({v}, 0) end
  return pad({v, id, t, gid, g, 1}, #t + #g)
end
if not oid then return pad({v}, 0) end
local o = redis.call('HGETALL', ARGV[2] .. oid)
if #o == 0 then return pad({v}, 0) end
return pad({v, id, t, oid, o}, #t + #o)
`)

// DeployTokenForAuth reads the ban of q.Addr and the deploy token of
// q.Digest with its project in one round trip (one script).
func (s *Store) DeployTokenForAuth(ctx context.Context, q tokens.DeployTokenQuery) (tokens.DeployTokenAuth, error) {
	const op = "deploy token for auth"
	keys := []string{s.key("dh", string(q.Digest))}
	if q.Addr != "" {
		keys = append(keys, s.key("kv", tokens.BanKey(q.Addr)))
	}
	decoyToken, decoyProject, _, _ := s.decoyKeys()
	v, err := authScript.Run(ctx, s.c, keys, s.key("d", ""), s.key("p", ""), fProject, fGroup, s.key("g", ""),
		decoyToken, decoyProject).Slice()
	if err != nil {
		return tokens.DeployTokenAuth{}, wrap(op, err)
	}
	if v, err = unpad(v); err != nil {
		return tokens.DeployTokenAuth{}, fmt.Errorf("%s: %w", op, err)
	}
	var a tokens.DeployTokenAuth
	if v[0] != nil {
		str, ok := v[0].(string)
		if !ok {
			return tokens.DeployTokenAuth{}, fmt.Errorf("%s: unexpected ban value %T", op, v[0])
		}
		a.Banned, a.Ban = true, []byte(str)
	}
	switch {
	case len(v) == 1:
		return a, nil
	case len(v) == 5 && v[1] == nil:
		// The decoy: decoded as a found token is, then discarded.
		if tm, om, ok := decoyReply(v); ok {
			_, _, _ = decodeDeployTokenOf(0, tm, 0, om)
		}
		return a, nil
	}
	if len(v) == 6 {
		a.Token, a.Group, err = decodeGroupTokenOf(v[1:5])
	} else {
		var (
			tid, pid int64
			tm, pm   map[string]string
		)
		tid, tm, pid, pm, err = byDigestReply(v[1:])
		if err == nil {
			a.Token, a.Project, err = decodeDeployTokenOf(tid, tm, pid, pm)
		}
	}
	if err != nil {
		return tokens.DeployTokenAuth{}, fmt.Errorf("%s: %w", op, err)
	}
	a.Found = true
	return a, nil
}
