package boltstore

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// NoSync reports whether the open DB skips fsync after each commit.
func (s *Store) NoSync() bool { return s.db.NoSync }

// Ops answers, since the store was opened, the read transactions begun,
// the records the paged reads read and the index keys they stepped over.
func (s *Store) Ops() (txs, records, keys int64) {
	return s.ops.txs.Load(), s.ops.records.Load(), s.ops.keys.Load()
}

// AuthRecords answers the records DeployTokenForAuth and PATForAuth have
// decoded since the store was opened, the decoy's included.
func (s *Store) AuthRecords() int64 { return s.ops.authRecords.Load() }

// BulkProjects creates projects as CreateProject does, owned by owner,
// 1,000 to a transaction (one fsync each, not one per project), for
// tests of large stores.
func (s *Store) BulkProjects(owner tokens.User, ps []tokens.Project) error {
	for start := 0; start < len(ps); start += 1000 {
		err := s.update("bulk projects", func(tx *bolt.Tx) error {
			for i := start; i < min(start+1000, len(ps)); i++ {
				if err := insertProject(tx, &ps[i], tokens.Member{UserID: owner.ID, AccessLevel: tokens.Owner}); err != nil {
					return fmt.Errorf("project %q: %w", ps[i].PathWithNamespace, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// BulkDeployTokens creates deploy tokens as CreateDeployToken does,
// 1,000 to a transaction.
func (s *Store) BulkDeployTokens(ts []tokens.DeployToken) error {
	for start := 0; start < len(ts); start += 1000 {
		err := s.update("bulk deploy tokens", func(tx *bolt.Tx) error {
			for i := start; i < min(start+1000, len(ts)); i++ {
				if err := insertDeployToken(tx, &ts[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
