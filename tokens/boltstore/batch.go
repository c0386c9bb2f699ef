package boltstore

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/deploytokens/deploytokens/tokens"
)

// ProjectsByPaths looks up every path in one read transaction.
func (s *Store) ProjectsByPaths(ctx context.Context, paths []string) (map[string]tokens.Project, error) {
	out := make(map[string]tokens.Project, len(paths))
	err := s.view("projects by paths", func(tx *bolt.Tx) error {
		index := tx.Bucket(bProjectsByPath)
		for _, path := range paths {
			id := index.Get(fold(path))
			if id == nil {
				continue
			}
			var p tokens.Project
			ok, err := get(tx, bProjects, id, &p)
			if err != nil {
				return err
			}
			if ok {
				out[path] = p
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
