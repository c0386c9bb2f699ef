package boltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// RotateDeployToken rotates the token in one transaction: both digests are
// keys of tokens_by_digest while the previous one is kept, so
// DeployTokenForAuth finds the token by either in the same single read.
func (s *Store) RotateDeployToken(ctx context.Context, r tokens.DeployTokenRotation) (tokens.DeployToken, error) {
	if len(r.Digest) == 0 {
		return tokens.DeployToken{}, errors.New("rotate deploy token: empty digest")
	}
	var t tokens.DeployToken
	err := s.update("rotate deploy token", func(tx *bolt.Tx) error {
		var err error
		if r.GroupID != 0 {
			err = groupDeployToken(tx, r.GroupID, r.ID, &t)
		} else {
			err = deployToken(tx, r.ProjectID, r.ID, &t)
		}
		if err != nil {
			return err
		}
		if t.Revoked {
			return fmt.Errorf("deploy token %d is revoked: %w", r.ID, tokens.ErrConflict)
		}
		if err := claim(tx, bTokensByDigest, r.Digest, r.ID); err != nil {
			return err
		}
		if err := dropTokenDigest(tx, t.PrevDigest); err != nil {
			return err
		}
		if r.PrevUntil == nil {
			if err := dropTokenDigest(tx, t.Digest); err != nil {
				return err
			}
		}
		tokens.RotateDeployTokenRecord(&t, r)
		return put(tx, bTokens, itob(r.ID), &t)
	})
	return t, err
}

// dropTokenDigest removes digest (when there is one) from the deploy
// token index.
func dropTokenDigest(tx *bolt.Tx, digest []byte) error {
	if len(digest) == 0 {
		return nil
	}
	return tx.Bucket(bTokensByDigest).Delete(digest)
}

// RotatePATWithGrace is RotatePAT keeping the old token until oldUntil,
// in one transaction.
func (s *Store) RotatePATWithGrace(ctx context.Context, oldID int64, t *tokens.PersonalAccessToken, oldUntil time.Time) error {
	if len(t.Digest) == 0 {
		return fmt.Errorf("rotate personal access token: empty digest")
	}
	rec := *t
	err := s.update("rotate personal access token", func(tx *bolt.Tx) error {
		var old tokens.PersonalAccessToken
		if err := mustGet(tx, bPATs, oldID, &old, "personal access token"); err != nil {
			return err
		}
		if old.UserID != t.UserID || !exists(tx, bUsers, t.UserID) {
			return notFound("personal access token", oldID)
		}
		if old.Revoked || old.ReplacedBy != 0 {
			return fmt.Errorf("personal access token %d is revoked or replaced: %w", oldID, tokens.ErrConflict)
		}
		if old.PreviousID != 0 {
			var prev tokens.PersonalAccessToken
			if ok, err := get(tx, bPATs, itob(old.PreviousID), &prev); err != nil {
				return err
			} else if ok && !prev.Revoked {
				prev.Revoked = true
				if err := put(tx, bPATs, itob(prev.ID), &prev); err != nil {
					return err
				}
			}
			old.PreviousID = 0
		}
		if oldUntil.IsZero() {
			old.Revoked = true
		} else if old.ExpiresAt == nil || oldUntil.Before(*old.ExpiresAt) {
			old.ExpiresAt = &oldUntil
		}
		if err := insertPAT(tx, &rec); err != nil {
			return err
		}
		if !oldUntil.IsZero() {
			old.ReplacedBy = rec.ID
		}
		return put(tx, bPATs, itob(oldID), &old)
	})
	if err == nil {
		*t = rec
	}
	return err
}
