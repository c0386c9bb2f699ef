package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// The expiry scan reads a range of de, the sorted set of the expiries
// (Unix milliseconds) of every deploy token not revoked, which the active
// lists keep (activepages.go): created with a token that expires, left on
// its revocation or deletion, never on its expiry, and filled once for
// data written before it. A rotation keeps the token's expiry and so its
// place.

// DeployTokensExpiring answers the live tokens whose expiry lies in
// [from, to]: a range of de, read in batches, then their records.
func (s *Store) DeployTokensExpiring(ctx context.Context, from, to time.Time) ([]tokens.DeployToken, error) {
	const op = "deploy tokens expiring"
	lo := "-inf"
	if !from.IsZero() {
		lo = strconv.FormatInt(from.UnixMilli(), 10)
	}
	hi := strconv.FormatInt(to.UnixMilli(), 10)
	var ids []int64
	for offset := int64(0); ; offset += batch {
		page, err := s.c.ZRangeByScore(ctx, s.key("de"), &redis.ZRangeBy{Min: lo, Max: hi, Offset: offset, Count: batch}).Result()
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
