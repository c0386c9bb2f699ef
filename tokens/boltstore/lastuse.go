package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// RecordLastUses writes the batch in one transaction: one sync of the file
// for every use a minute brought, not one each.
func (s *Store) RecordLastUses(ctx context.Context, uses []tokens.LastUse) error {
	if len(uses) == 0 {
		return nil
	}
	return s.update("record last uses", func(tx *bolt.Tx) error {
		for i := range uses {
			u := &uses[i]
			if u.DeployToken {
				var t tokens.DeployToken
				if ok, err := get(tx, bTokens, itob(u.ID), &t); err != nil {
					return err
				} else if !ok {
					continue
				}
				tokens.ApplyLastUse(&t, u)
				if err := put(tx, bTokens, itob(u.ID), &t); err != nil {
					return err
				}
				continue
			}
			var t tokens.PersonalAccessToken
			if ok, err := get(tx, bPATs, itob(u.ID), &t); err != nil {
				return err
			} else if !ok {
				continue
			}
			tokens.ApplyPATLastUse(&t, u)
			if err := put(tx, bPATs, itob(u.ID), &t); err != nil {
				return err
			}
		}
		return nil
	})
}
