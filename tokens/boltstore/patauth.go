package boltstore

import (
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// PATForAuth reads the ban of q.Addr and the token of q.Digest with its
// user in one read transaction.
func (s *Store) PATForAuth(ctx context.Context, q tokens.PATAuthQuery) (tokens.PATAuth, error) {
	var a tokens.PATAuth
	err := s.view("personal access token for auth", func(tx *bolt.Tx) error {
		if q.Addr != "" {
			_, v, err := liveValue(tx.Bucket(bKV), tokens.BanKey(q.Addr), time.Now())
			switch {
			case err == nil:
				a.Banned, a.Ban = true, v
			case !errors.Is(err, tokens.ErrNotFound):
				return err
			}
		}
		err := byIndex(tx, bPATsByDigest, q.Digest, bPATs, &a.Token, "personal access token")
		var decoded int64 // records, counted for tests (opCounts)
		switch {
		case err == nil:
			err = mustGet(tx, bUsers, a.Token.UserID, &a.User, "user")
			decoded = 2
		case errors.Is(err, tokens.ErrNotFound):
			// An unknown digest costs what a found token does (timing).
			decoded = readDecoy(tx, decoyPATKey, decoyUserKey, &a.Token, &a.User)
		}
		s.ops.authRecords.Add(decoded)
		switch {
		case err == nil:
			a.Found = true
		case errors.Is(err, tokens.ErrNotFound):
			a.Token, a.User = tokens.PersonalAccessToken{}, tokens.User{}
		default:
			return err
		}
		return nil
	})
	if err != nil {
		return tokens.PATAuth{}, err
	}
	return a, nil
}
