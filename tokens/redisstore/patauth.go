package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// patAuthScript reads the KV value KEYS[2] (the ban; when given), then
// resolves the digest index KEYS[1] to the token under ARGV[1]..ID and its
// user under ARGV[2]..token[ARGV[3]]: {value} when the token or its user
// is gone, else {value, id, token fields, user id, user fields}. A missing
// value is a nil element.
//
// An unknown digest reads the decoy token ARGV[4] and its user ARGV[5]
// instead, as a found token would be read, and answers {value, nil, decoy
// token fields, nil, decoy user fields}: so that a miss costs Redis and
// the store what a hit costs (timing; see tokens.DecoyPAT).
//
// Every reply ends with its padding (padLua), so that it is as long as
// authScript's.
var patAuthScript = redis.NewScript(padLua + `
local v = false
if KEYS[2] then v = redis.call('GET', KEYS[2]) end
local id = redis.call('GET', KEYS[1])
local tk = ARGV[4]
if id then tk = ARGV[1] .. id end
local t = redis.call('HGETALL', tk)
if #t == 0 then return pad({v}, 0) end
local uid
for i = 1, #t, 2 do
  if t[i] == ARGV[3] then uid = t[i + 1] end
end
if not id then
  local u = redis.call('HGETALL', ARGV[5])
  return pad({v, false, t, false, u}, #t + #u)
end
if not uid then return pad({v}, 0) end
local u = redis.call('HGETALL', ARGV[2] .. uid)
if #u == 0 then return pad({v}, 0) end
return pad({v, id, t, uid, u}, #t + #u)
`)

// PATForAuth reads the ban of q.Addr and the token of q.Digest with its
// user in one round trip (one script).
func (s *Store) PATForAuth(ctx context.Context, q tokens.PATAuthQuery) (tokens.PATAuth, error) {
	const op = "personal access token for auth"
	keys := []string{s.key("th", string(q.Digest))}
	if q.Addr != "" {
		keys = append(keys, s.key("kv", tokens.BanKey(q.Addr)))
	}
	_, _, decoyPAT, decoyUser := s.decoyKeys()
	v, err := patAuthScript.Run(ctx, s.c, keys, s.key("t", ""), s.key("u", ""), fUser, decoyPAT, decoyUser).Slice()
	if err != nil {
		return tokens.PATAuth{}, wrap(op, err)
	}
	if v, err = unpad(v); err != nil {
		return tokens.PATAuth{}, fmt.Errorf("%s: %w", op, err)
	}
	var a tokens.PATAuth
	if v[0] != nil {
		str, ok := v[0].(string)
		if !ok {
			return tokens.PATAuth{}, fmt.Errorf("%s: unexpected ban value %T", op, v[0])
		}
		a.Banned, a.Ban = true, []byte(str)
	}
	switch {
	case len(v) == 1:
		return a, nil
	case len(v) == 5 && v[1] == nil:
		// The decoy: decoded as a found token is, then discarded.
		if tm, um, ok := decoyReply(v); ok {
			_, _ = decodePAT(0, tm)
			_, _ = decodeUser(0, um)
		}
		return a, nil
	}
	tid, tm, uid, um, err := byDigestReply(v[1:])
	if err == nil {
		a.Token, err = decodePAT(tid, tm)
	}
	if err == nil {
		a.User, err = decodeUser(uid, um)
	}
	if err != nil {
		return tokens.PATAuth{}, fmt.Errorf("%s: %w", op, err)
	}
	a.Found = true
	return a, nil
}
