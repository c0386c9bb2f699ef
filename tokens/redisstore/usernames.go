package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// The deploy tokens of a username (without regard to case) are the sorted
// set du:<lowercase username> (scores: the IDs), added to by
// createTokenScript and taken from by the transaction and the script that
// delete a project's or a group's tokens. Revocation leaves a token in it:
// a username never changes, so the set only grows with the tokens ever
// named so, and the reader decides by the clock which are live. A token's
// default username (gitlab+deploy-token-ID) is not stored in its record
// but is indexed all the same, so that every token is found by the name
// it answers with.

// usernameKey answers the key of the sorted set of the deploy tokens named
// username.
func (s *Store) usernameKey(username string) string { return s.key("du", fold(username)) }

// DeployTokensByUsername answers the deploy tokens named username: one
// ZRANGE, then the records in one pipeline.
func (s *Store) DeployTokensByUsername(ctx context.Context, username string) ([]tokens.DeployToken, error) {
	const op = "deploy tokens by username"
	key := s.usernameKey(username)
	v, err := s.c.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	ids, err := parseIDs(key, v)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := s.deployTokens(ctx, ids)
	return out, wrap(op, err)
}

// fillTokenUsernames adds the deploy tokens written before du existed,
// once per database (du-filled marks it done: "du:filled" would be the
// set of a token named filled), reading IDs 1 up to the token counter in
// pipelined batches as fillPageIndexes does. An older replica still
// writing afterwards leaves its tokens out: upgrade every replica.
func (s *Store) fillTokenUsernames(ctx context.Context) error {
	const op = "fill the deploy token usernames"
	marker := s.key("du-filled")
	if done, err := s.filled(ctx, op, marker); done || err != nil {
		return err
	}
	last, err := s.lastID(ctx, "token")
	if err != nil {
		return wrap(op, err)
	}
	for from := int64(1); from <= last; from += batch {
		pipe := s.c.Pipeline()
		cmds := map[int64]*redis.SliceCmd{}
		for id := from; id < from+batch && id <= last; id++ {
			cmds[id] = pipe.HMGet(ctx, s.idKey("d", id), fDigest, fUsername)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return wrap(op, err)
		}
		fill := s.c.Pipeline()
		for id, cmd := range cmds {
			v := cmd.Val()
			if len(v) != 2 || v[0] == nil {
				continue // gone
			}
			name, ok := v[1].(string)
			if !ok { // the default one is not stored
				name = tokens.DefaultDeployTokenUsername(id)
			}
			fill.ZAdd(ctx, s.usernameKey(name), redis.Z{Score: float64(id), Member: id})
		}
		if _, err := fill.Exec(ctx); err != nil {
			return wrap(op, err)
		}
	}
	return wrap(op, s.c.Set(ctx, marker, 1, 0).Err())
}
