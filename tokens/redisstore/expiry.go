package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// dx is the sorted set of the deploy tokens that expire and are not
// revoked, scored by expiry (Unix milliseconds: exact in a float64 for
// many centuries), so the expiry scan reads a range of it instead of every
// token. The scripts that create, revoke and delete tokens keep it; a
// rotation keeps the token's expiry and so its place.

// createDeployTokenScript is createTokenScript for a deploy token, which
// also enters the expiry set: KEYS = owner, digest index, token, owner's
// set, expiry set, then the sorted sets (score: the ID) that page the
// lists it is in; ARGV = ID, expiry score ("" for none), token fields...
var createDeployTokenScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX') then return 0 end
redis.call('HSET', KEYS[3], unpack(ARGV, 3))
redis.call('SADD', KEYS[4], ARGV[1])
if ARGV[2] ~= '' then redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1]) end
for i = 6, #KEYS do redis.call('ZADD', KEYS[i], ARGV[1], ARGV[1]) end
return 1
`)

// expiryScore answers t's score in dx, or "" when it has none there.
func expiryScore(t *tokens.DeployToken) string {
	if t.ExpiresAt == nil || t.Revoked {
		return ""
	}
	return strconv.FormatInt(t.ExpiresAt.UnixMilli(), 10)
}

// DeployTokensExpiring answers the live tokens whose expiry lies in
// [from, to]: a range of dx, read in batches, then their records.
func (s *Store) DeployTokensExpiring(ctx context.Context, from, to time.Time) ([]tokens.DeployToken, error) {
	const op = "deploy tokens expiring"
	lo := "-inf"
	if !from.IsZero() {
		lo = strconv.FormatInt(from.UnixMilli(), 10)
	}
	hi := strconv.FormatInt(to.UnixMilli(), 10)
	var ids []int64
	for offset := int64(0); ; offset += batch {
		page, err := s.c.ZRangeByScore(ctx, s.key("dx"), &redis.ZRangeBy{Min: lo, Max: hi, Offset: offset, Count: batch}).Result()
		if err != nil {
			return nil, wrap(op, err)
		}
		for _, v := range page {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			ids = append(ids, id)
		}
		if len(page) < batch {
			break
		}
	}
	ts, err := s.deployTokens(ctx, ids)
	if err != nil {
		return nil, wrap(op, err)
	}
	out := ts[:0]
	for _, t := range ts {
		// A token revoked or deleted since the range was read.
		if !t.Revoked && t.ExpiresAt != nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// fillExpiryIndex adds the tokens written before dx existed to it, once
// per database (dx:filled marks it done). As fillPageIndexes, it reads
// IDs 1 up to the token counter in pipelined batches, and an older
// replica still writing afterwards leaves its tokens out of the scan:
// upgrade every replica.
func (s *Store) fillExpiryIndex(ctx context.Context) error {
	const op = "fill the expiry index"
	marker := s.key("dx", "filled")
	switch n, err := s.c.Exists(ctx, marker).Result(); {
	case err != nil:
		return wrap(op, err)
	case n == 1:
		return nil
	}
	last, err := s.c.Get(ctx, s.key("n", "token")).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return wrap(op, err)
	}
	for from := int64(1); from <= last; from += batch {
		pipe := s.c.Pipeline()
		cmds := map[int64]*redis.SliceCmd{}
		for id := from; id < from+batch && id <= last; id++ {
			cmds[id] = pipe.HMGet(ctx, s.idKey("d", id), fDigest, fExpires, fRevoked)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return wrap(op, err)
		}
		var zs []redis.Z
		for id, cmd := range cmds {
			v := cmd.Val()
			if len(v) != 3 || v[0] == nil || v[1] == nil || v[2] == "1" {
				continue // gone, never expires, or revoked
			}
			raw, _ := v[1].(string)
			var at time.Time
			if err := at.UnmarshalBinary([]byte(raw)); err != nil {
				return fmt.Errorf("%s: token %d: %w", op, id, err)
			}
			zs = append(zs, redis.Z{Score: float64(at.UnixMilli()), Member: id})
		}
		if len(zs) > 0 {
			if err := s.c.ZAdd(ctx, s.key("dx"), zs...).Err(); err != nil {
				return wrap(op, err)
			}
		}
	}
	return wrap(op, s.c.Set(ctx, marker, 1, 0).Err())
}
