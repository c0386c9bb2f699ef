package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/deploytokens/deploytokens/tokens"
)

// decoyKeys answers the keys of the decoy records (tokens.DecoyDeployToken
// and its project, tokens.DecoyPAT and its user): "decoy:" keys of their
// own, never under the "d:", "p:", "t:" or "u:" record namespaces, and in
// no index, ID set or count, so no list, page, count, lookup by ID or
// open-time fill (which walk the ID sets, never a key pattern) can see
// them. Only the auth scripts read them, on a miss, for timing.
func (s *Store) decoyKeys() (token, project, pat, user string) {
	return s.key("decoy", "d"), s.key("decoy", "p"), s.key("decoy", "t"), s.key("decoy", "u")
}

// writeDecoy writes the decoy records when any is missing: once per
// database, a store written before they existed included. Replicas that
// open together write the same values.
func (s *Store) writeDecoy(ctx context.Context) error {
	const op = "write the decoy records"
	dk, pk, tk, uk := s.decoyKeys()
	switch n, err := s.c.Exists(ctx, dk, pk, tk, uk).Result(); {
	case err != nil:
		return wrap(op, err)
	case n == 4:
		return nil
	}
	d, p, t, u := tokens.DecoyDeployToken(), tokens.DecoyProject(), tokens.DecoyPAT(), tokens.DecoyUser()
	df, err1 := encodeDeployToken(&d)
	pf, err2 := encodeProject(&p)
	tf, err3 := encodePAT(&t)
	uf, err4 := encodeUser(&u)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			return wrap(op, err)
		}
	}
	_, err := s.c.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, r := range []struct {
			key string
			f   fields
		}{{dk, df}, {pk, pf}, {tk, tf}, {uk, uf}} {
			pipe.Del(ctx, r.key)
			pipe.HSet(ctx, r.key, r.f...)
		}
		return nil
	})
	return wrap(op, err)
}

// decoyReply answers the decoy's fields from a reply of the auth scripts
// on a miss ({value, nil, token fields, nil, owner fields}), for the
// caller to decode and discard: the decoding is the work a found token's
// reply costs (see tokens.DecoyDeployToken). Not ok is ignored: the
// answer is "not found" whatever the decoy holds.
func decoyReply(v []any) (tm, om map[string]string, ok bool) {
	tm, err1 := pairs(v[2])
	om, err2 := pairs(v[4])
	return tm, om, err1 == nil && err2 == nil
}
