package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// The active deploy tokens of a list (tokens.ActiveTokenPages) are three
// keys per list: pdl:ID, gdl:ID or dl, the sorted set (scores: the IDs) of
// the tokens not revoked and not expired at the watermark; pde:ID, gde:ID
// or de, the sorted set of the expiries (Unix milliseconds) of the tokens
// not revoked; pdw:ID, gdw:ID or dw, the watermark (Unix milliseconds;
// absent: never read, the list then holds every token not revoked).
// createDeployTokenScript, revokeDeployTokenScript and the project and
// group deletions keep them with the tokens.

// activeKeys answers the live set, the expiries and the watermark of l.
func (s *Store) activeKeys(l tokens.DeployTokenList) (live, expiries, mark string) {
	switch {
	case l.ProjectID != 0:
		return s.idKey("pdl", l.ProjectID), s.idKey("pde", l.ProjectID), s.idKey("pdw", l.ProjectID)
	case l.GroupID != 0:
		return s.idKey("gdl", l.GroupID), s.idKey("gde", l.GroupID), s.idKey("gdw", l.GroupID)
	}
	return s.key("dl"), s.key("de"), s.key("dw")
}

// activeKeysOf answers the (live, expiries, watermark) triples of the two
// lists t is in: its owner's, then every token's.
func (s *Store) activeKeysOf(t *tokens.DeployToken) []string {
	l, e, w := s.activeKeys(tokens.DeployTokenList{ProjectID: t.ProjectID, GroupID: t.GroupID})
	al, ae, aw := s.activeKeys(tokens.DeployTokenList{})
	return []string{l, e, w, al, ae, aw}
}

// expiryArg answers t's expiry as the scripts take it: Unix milliseconds,
// "" for none.
func expiryArg(t *tokens.DeployToken) string {
	if t.ExpiresAt == nil {
		return ""
	}
	return strconv.FormatInt(t.ExpiresAt.UnixMilli(), 10)
}

// createDeployTokenScript is createTokenScript for a deploy token, which
// also enters the lists of active tokens: KEYS = owner, digest index,
// token, owner's set, ARGV[2] sorted sets by ID, then (live, expiries,
// watermark) triples; ARGV = ID, the number of sorted sets, the expiry
// ("" none), the fields. The token is live unless its expiry is at or
// before the list's watermark.
var createDeployTokenScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 4))
redis.call('SADD', KEYS[4], ARGV[1])
local n = tonumber(ARGV[2])
for i = 5, 4 + n do redis.call('ZADD', KEYS[i], ARGV[1], ARGV[1]) end
local exp = tonumber(ARGV[3])
for i = 5 + n, #KEYS, 3 do
  if exp then redis.call('ZADD', KEYS[i + 1], exp, ARGV[1]) end
  local w = tonumber(redis.call('GET', KEYS[i + 2]))
  if not exp or not w or exp > w then redis.call('ZADD', KEYS[i], ARGV[1], ARGV[1]) end
end
return 1
`)

// revokeDeployTokenScript marks the token KEYS[1] revoked when its owner
// field ARGV[3] is ARGV[4], sets the generation KEYS[2] to ARGV[5] and
// takes ID ARGV[6] out of the sorted sets KEYS[3..] (live and expiries of
// its lists). ARGV[1], ARGV[2]: the revoked field and its value. -1: no
// such token of the owner.
var revokeDeployTokenScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[1], ARGV[3]) ~= ARGV[4] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[5])
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], ARGV[6]) end
return 1
`)

// revokeDeployToken runs revokeDeployTokenScript for token id of the
// owner ownerField = owner in list l.
func (s *Store) revokeDeployToken(ctx context.Context, l tokens.DeployTokenList, ownerField string, owner, id int64) (int64, error) {
	live, exp, _ := s.activeKeys(l)
	al, ae, _ := s.activeKeys(tokens.DeployTokenList{})
	return runStatus(ctx, s.c, revokeDeployTokenScript, []string{s.idKey("d", id), s.key("gen"), live, exp, al, ae},
		fRevoked, "1", ownerField, owner, newGeneration(), id)
}

// pageActiveScript moves the watermark KEYS[3] of the list KEYS[1] (its
// expiries: KEYS[2]) to ARGV[1] and answers the list's size and its
// members ranked ARGV[2] to ARGV[3]: tokens expiring after the old
// watermark and at or before the new one leave the list, and, should the
// new one be earlier, those between come back.
var pageActiveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local w = redis.call('GET', KEYS[3])
if not w then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do redis.call('ZREM', KEYS[1], id) end
elseif now > tonumber(w) then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. w, now)) do redis.call('ZREM', KEYS[1], id) end
elseif now < tonumber(w) then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, w)) do redis.call('ZADD', KEYS[1], id, id) end
end
if w ~= ARGV[1] then redis.call('SET', KEYS[3], ARGV[1]) end
return {redis.call('ZCARD', KEYS[1]), redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])}
`)

// PageActiveDeployTokens answers a page of the tokens of l active at now:
// one script (the watermark and the page's IDs), then the records in one
// pipeline.
func (s *Store) PageActiveDeployTokens(ctx context.Context, l tokens.DeployTokenList, now time.Time, p tokens.Page) ([]tokens.DeployToken, int, error) {
	const op = "list active deploy tokens"
	live, exp, mark := s.activeKeys(l)
	start, stop := int64(1), int64(0) // none: the total only
	if p.Limit > 0 {
		start, stop = int64(p.Offset), int64(p.Offset+p.Limit-1)
	}
	v, err := pageActiveScript.Run(ctx, s.c, []string{live, exp, mark}, now.UnixMilli(), start, stop).Slice()
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	if len(v) != 2 {
		return nil, 0, fmt.Errorf("%s: unexpected reply of %d elements", op, len(v))
	}
	total, _ := v[0].(int64)
	raw, _ := v[1].([]any)
	strs := make([]string, 0, len(raw))
	for _, x := range raw {
		str, _ := x.(string)
		strs = append(strs, str)
	}
	ids, err := parseIDs(live, strs)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	out, err := s.deployTokens(ctx, ids)
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, int(total), nil
}

// fillActiveTokens enters the deploy tokens written before the lists of
// active tokens existed, once per database (dl-filled marks it done),
// reading IDs 1 up to the token counter in pipelined batches as
// fillPageIndexes does. The watermarks stay unset, so each list's first
// read takes out the tokens expired by then. An older replica still
// writing afterwards leaves its tokens out: upgrade every replica.
func (s *Store) fillActiveTokens(ctx context.Context) error {
	const op = "fill the lists of active deploy tokens"
	marker := s.key("dl-filled")
	if done, err := s.filled(ctx, op, marker); done || err != nil {
		return err
	}
	last, err := s.lastID(ctx, "token")
	if err != nil {
		return wrap(op, err)
	}
	for from := int64(1); from <= last; from += batch {
		ids := make([]int64, 0, batch)
		for id := from; id < from+batch && id <= last; id++ {
			ids = append(ids, id)
		}
		ts, err := s.deployTokens(ctx, ids)
		if err != nil {
			return wrap(op, err)
		}
		fill := s.c.Pipeline()
		for i := range ts {
			t := &ts[i]
			if t.Revoked {
				continue
			}
			keys := s.activeKeysOf(t)
			z := redis.Z{Score: float64(t.ID), Member: t.ID}
			fill.ZAdd(ctx, keys[0], z)
			fill.ZAdd(ctx, keys[3], z)
			if t.ExpiresAt != nil {
				e := redis.Z{Score: float64(t.ExpiresAt.UnixMilli()), Member: t.ID}
				fill.ZAdd(ctx, keys[1], e)
				fill.ZAdd(ctx, keys[4], e)
			}
		}
		if _, err := fill.Exec(ctx); err != nil {
			return wrap(op, err)
		}
	}
	return wrap(op, s.c.Set(ctx, marker, 1, 0).Err())
}
