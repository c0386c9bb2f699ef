package boltstore

import (
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// DeployTokenForAuth reads the ban of q.Addr and the deploy token of
// q.Digest with its project in one read transaction, so the three agree
// with one moment of the file.
func (s *Store) DeployTokenForAuth(ctx context.Context, q tokens.DeployTokenQuery) (tokens.DeployTokenAuth, error) {
	var a tokens.DeployTokenAuth
	err := s.view("deploy token for auth", func(tx *bolt.Tx) error {
		if q.Addr != "" {
			_, v, err := liveValue(tx.Bucket(bKV), tokens.BanKey(q.Addr), time.Now())
			switch {
			case err == nil:
				a.Banned, a.Ban = true, v
			case !errors.Is(err, tokens.ErrNotFound):
				return err
			}
		}
		var decoded int64 // records, counted for tests (opCounts)
		err := byIndex(tx, bTokensByDigest, q.Digest, bTokens, &a.Token, "deploy token")
		switch {
		case errors.Is(err, tokens.ErrNotFound):
			// An unknown digest costs what a found token does (timing).
			decoded = readDecoy(tx, decoyTokenKey, decoyProjectKey, &a.Token, &a.Project)
		case err != nil:
		case a.Token.GroupID != 0:
			err = mustGet(tx, bGroups, a.Token.GroupID, &a.Group, "group")
			decoded = 2
		default:
			err = mustGet(tx, bProjects, a.Token.ProjectID, &a.Project, "project")
			decoded = 2
		}
		s.ops.authRecords.Add(decoded)
		switch {
		case err == nil:
			a.Found = true
		case errors.Is(err, tokens.ErrNotFound):
			a.Token, a.Project, a.Group = tokens.DeployToken{}, tokens.Project{}, tokens.Group{}
		default:
			return err
		}
		return nil
	})
	if err != nil {
		return tokens.DeployTokenAuth{}, err
	}
	return a, nil
}
