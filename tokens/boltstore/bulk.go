package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// bulkBatch is how many records one transaction of a bulk load writes: each
// transaction is one sync to disk, so large batches make a million records
// a matter of seconds.
var bulkBatch = 10000

// BulkCreateProjects stores ps as CreateProject does, each with owner as its
// owner member, assigning their IDs in order; the records, indexes and
// sequences are the same as CreateProject's, written in one transaction per
// batch. It is for loading many records at once (benchmarks, imports): a
// failure (path taken, owner missing) undoes its own batch only, and the
// error names the record. On return ps[i].ID is set for every stored
// project. After a bulk load, Close drops the file from the page cache, so
// the loaded records do not crowd the next process's resident set.
func (s *Store) BulkCreateProjects(ctx context.Context, ps []tokens.Project, owner tokens.Member) error {
	s.bulkLoaded.Store(true)
	for start := 0; start < len(ps); start += bulkBatch {
		chunk := ps[start:min(start+bulkBatch, len(ps))]
		ids := make([]int64, len(chunk))
		err := s.update("bulk create projects", func(tx *bolt.Tx) error {
			if !exists(tx, bUsers, owner.UserID) {
				return notFound("user", owner.UserID)
			}
			for i := range chunk {
				rec := chunk[i]
				if err := insertProject(tx, &rec, owner); err != nil {
					return fmt.Errorf("project %d (%s): %w", start+i, rec.PathWithNamespace, err)
				}
				ids[i] = rec.ID
			}
			return nil
		})
		if err != nil {
			return err
		}
		for i := range chunk {
			chunk[i].ID = ids[i]
		}
	}
	return nil
}

// BulkCreateDeployTokens stores ts as CreateDeployToken does: each gets its
// ID (in order), its default username when it has none, its digest index
// and its place in its project's list, in one transaction per batch. It is
// for loading many tokens at once (benchmarks, imports): a failure (project
// missing, digest taken) undoes its own batch only, and the error names the
// token. On return ts[i] holds the stored record for every stored token.
// After a bulk load, Close drops the file from the page cache (see
// BulkCreateProjects).
func (s *Store) BulkCreateDeployTokens(ctx context.Context, ts []tokens.DeployToken) error {
	s.bulkLoaded.Store(true)
	for i := range ts {
		if len(ts[i].Digest) == 0 {
			return fmt.Errorf("bulk create deploy tokens: token %d: empty digest", i)
		}
	}
	for start := 0; start < len(ts); start += bulkBatch {
		chunk := ts[start:min(start+bulkBatch, len(ts))]
		recs := make([]tokens.DeployToken, len(chunk))
		err := s.update("bulk create deploy tokens", func(tx *bolt.Tx) error {
			for i := range chunk {
				rec := chunk[i]
				if err := insertDeployToken(tx, &rec); err != nil {
					return fmt.Errorf("token %d: %w", start+i, err)
				}
				recs[i] = rec
			}
			return nil
		})
		if err != nil {
			return err
		}
		copy(chunk, recs)
	}
	return nil
}
